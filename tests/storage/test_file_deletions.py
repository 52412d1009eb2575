"""A file whose delete fails after its rows are gone (bucket down) is kept on record and
retried, never orphaned and never a 500 for the admin who deleted the study."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from studies.file_deletions import Store, retry_pending
from studies.ingest import STORED, ingest_bytes
from studies.models import Instance, PendingFileDeletion, Study
from studies.storage import dicom_store
from tests.dicom_files import make_ct, to_bytes


def ingest(data: bytes) -> Instance:
    result = ingest_bytes(data, Instance.Source.IMPORT)
    assert result.status == STORED, result.reason
    return Instance.objects.get(pk=result.instance_id)


@pytest.mark.django_db
def test_a_delete_while_the_bucket_is_down_is_recorded_and_done_by_the_retry(
    s3_archive, moto_server, django_capture_on_commit_callbacks
):
    instance = ingest(to_bytes(make_ct()))
    moto_server.stop()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            Instance.objects.filter(pk=instance.pk).delete()
        with pytest.raises(CommandError, match="1 still failing"):
            call_command("retry_file_deletions")
    finally:
        moto_server.start()

    pending = PendingFileDeletion.objects.get()
    assert (pending.store, pending.relative_path) == (Store.DICOM, instance.file_path)
    assert pending.attempts == 2 and pending.error
    assert s3_archive.keys() == [s3_archive.key(instance.file_path)]  # not yet gone

    outcome = retry_pending()

    assert (outcome.deleted, outcome.still_failing) == (1, 0)
    assert s3_archive.keys() == []
    assert not PendingFileDeletion.objects.exists()


@pytest.mark.django_db
def test_a_file_stored_again_since_the_failure_is_kept(settings):
    instance = ingest(to_bytes(make_ct()))
    # As if its earlier row's delete had failed and the same bytes had come in again.
    PendingFileDeletion.objects.create(
        store=Store.DICOM, relative_path=instance.file_path, error="bucket down"
    )

    outcome = retry_pending()

    assert (outcome.in_use_again, outcome.deleted) == (1, 0)
    assert dicom_store().absolute_path(instance.file_path).is_file()
    assert not PendingFileDeletion.objects.exists()


@pytest.mark.django_db
def test_admin_deleting_a_study_while_the_bucket_is_down_succeeds_and_can_retry(
    s3_archive, moto_server, admin_user, client, django_capture_on_commit_callbacks
):
    instance = ingest(to_bytes(make_ct()))
    study = Study.objects.get()
    client.force_login(admin_user)
    moto_server.stop()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("admin:studies_study_delete", args=[study.pk]), {"post": "yes"}
            )
    finally:
        moto_server.start()

    assert response.status_code == 302
    assert not Study.objects.exists()
    pending = PendingFileDeletion.objects.get()
    response = client.post(
        reverse("admin:studies_pendingfiledeletion_changelist"),
        {"action": "retry_delete", "_selected_action": [pending.pk]},
        follow=True,
    )
    assert "1 deleted" in response.content.decode()
    assert s3_archive.keys() == [] and not PendingFileDeletion.objects.exists()
    assert instance.file_path  # the path was the one recorded
