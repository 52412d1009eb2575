"""The archive in the Django admin."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from pydicom.uid import generate_uid

from studies.ingest import ingest_bytes
from studies.models import Instance, QuarantinedFile, Series, Study
from tests.dicom_files import make_ct, sample_path, to_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def archive():
    study_uid = generate_uid()
    for number in range(2):
        ds = make_ct(
            study_uid=study_uid,
            instance_number=number,
            patient_name="Smith^Ann",
            patient_id="P-77",
            AccessionNumber="ACC77",
        )
        ingest_bytes(to_bytes(ds), Instance.Source.IMPORT)
    ingest_bytes(to_bytes(make_ct(patient_name="Other^Bob", patient_id="P-88")), "import")
    ingest_bytes(
        sample_path("MR_truncated.dcm").read_bytes(), "upload", "nurse", name="MR_truncated.dcm"
    )
    return study_uid


@pytest.mark.parametrize("model", ["patient", "study", "series", "instance", "quarantinedfile"])
def test_every_archive_list_opens_for_an_admin(admin_client, archive, model):
    response = admin_client.get(reverse(f"admin:studies_{model}_changelist"))
    assert response.status_code == 200


def test_study_search_by_patient_name_id_and_accession(admin_client, archive):
    url = reverse("admin:studies_study_changelist")
    for term in ["Smith", "P-77", "ACC77"]:
        response = admin_client.get(url, {"q": term})
        assert response.context["cl"].result_count == 1, term
    assert admin_client.get(url, {"q": "nobody"}).context["cl"].result_count == 0


def test_study_detail_is_read_only_with_series(admin_client, archive):
    study = Study.objects.get(study_instance_uid=archive)
    response = admin_client.get(reverse("admin:studies_study_change", args=[study.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="accession_number"' not in content  # shown, not editable
    assert "ACC77" in content
    assert "AXIAL" in content  # the series inline


def test_quarantine_shows_reason_and_serves_the_file_as_an_attachment(admin_client, archive):
    response = admin_client.get(reverse("admin:studies_quarantinedfile_changelist"))
    content = response.content.decode()
    assert "MR_truncated.dcm" in content and "pixel_data_length" in content
    entry = QuarantinedFile.objects.get()
    download = admin_client.get(reverse("admin:studies_quarantinedfile_download", args=[entry.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content) == sample_path("MR_truncated.dcm").read_bytes()


def test_clinician_cannot_open_the_admin(client, clinician, archive):
    client.force_login(clinician)
    response = client.get(reverse("admin:studies_study_changelist"))
    assert response.status_code == 302


def test_deleting_a_study_in_the_admin_removes_its_files(
    admin_client, archive, settings, django_capture_on_commit_callbacks
):
    study = Study.objects.get(study_instance_uid=archive)
    paths = [
        Path(settings.DICOM_STORE_DIR) / i.file_path
        for i in Instance.objects.filter(series__study=study)
    ]
    assert len(paths) == 2 and all(p.exists() for p in paths)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:studies_study_delete", args=[study.pk]), {"post": "yes"}
        )
    assert response.status_code == 302
    assert not Study.objects.filter(pk=study.pk).exists()
    assert not any(p.exists() for p in paths)
    assert Instance.objects.count() == 1  # the other patient's study is untouched


def test_retry_action_imports_a_quarantined_file_once_the_limit_allows(admin_client, settings):
    settings.INGEST_MAX_IMAGE_BYTES = 100
    ingest_bytes(to_bytes(make_ct()), "upload", name="large.dcm")
    entry = QuarantinedFile.objects.get()
    settings.INGEST_MAX_IMAGE_BYTES = 10**9
    response = admin_client.post(
        reverse("admin:studies_quarantinedfile_changelist"),
        {"action": "retry_ingest", "_selected_action": [entry.pk]},
        follow=True,
    )
    assert "1 imported, 0 still rejected" in response.content.decode()
    assert Instance.objects.count() == 1


def test_deleting_one_series_recounts_its_study(admin_client, settings):
    study_uid = generate_uid()
    series_uids = [generate_uid(), generate_uid()]
    for index, (series_uid, modality) in enumerate(zip(series_uids, ["CT", "PT"], strict=True)):
        for number in range(2):
            ds = make_ct(
                study_uid=study_uid,
                series_uid=series_uid,
                instance_number=number,
                Modality=modality,
                SeriesNumber=index,
            )
            ingest_bytes(to_bytes(ds), "import")

    series = Series.objects.get(series_instance_uid=series_uids[1])
    response = admin_client.post(
        reverse("admin:studies_series_delete", args=[series.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    study = Study.objects.get()
    assert (study.number_of_series, study.number_of_instances) == (1, 2)
    assert study.modalities_in_study == "CT"


def test_deleting_the_last_instance_removes_the_empty_series_and_study(admin_client):
    ingest_bytes(to_bytes(make_ct()), "import")
    instance = Instance.objects.get()
    admin_client.post(reverse("admin:studies_instance_delete", args=[instance.pk]), {"post": "yes"})
    assert not Study.objects.exists()
