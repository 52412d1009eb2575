"""A run of instances of one series (a retrieve, a modality sending a scan) is indexed against
the series rows remembered from the run's first committed instance, without looking them up
again; rows that went away since, or a series claimed for another study, are noticed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydicom.uid import generate_uid

from studies.ingest import REJECTED, STORED, ingest_bytes
from studies.models import Instance, Series, Study
from tests.dicom_files import make_ct, to_bytes

pytestmark = pytest.mark.django_db


def _ingest(django_capture_on_commit_callbacks, **attributes):
    # The test's transaction never commits: run what ingest asked to run on commit.
    with django_capture_on_commit_callbacks(execute=True):
        return ingest_bytes(to_bytes(make_ct(**attributes)), Instance.Source.CSTORE)


def _series_lookups(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith("SELECT") and "studies_series" in q["sql"])


def test_instances_after_the_first_of_a_series_skip_the_series_lookup(
    django_capture_on_commit_callbacks,
):
    study, series = generate_uid(), generate_uid()
    first = _ingest(django_capture_on_commit_callbacks, study_uid=study, series_uid=series)
    assert first.status == STORED
    with CaptureQueriesContext(connection) as queries:
        for number in (2, 3):
            result = _ingest(
                django_capture_on_commit_callbacks,
                study_uid=study,
                series_uid=series,
                instance_number=number,
            )
            assert result.status == STORED
    assert _series_lookups(queries.captured_queries) == 0
    row = Series.objects.get(series_instance_uid=series)
    assert row.number_of_instances == 3
    assert row.study.number_of_instances == 3
    assert row.study.number_of_series == 1
    assert sorted(row.instances.values_list("instance_number", flat=True)) == [1, 2, 3]


def test_a_series_deleted_since_is_created_again(django_capture_on_commit_callbacks):
    study, series = generate_uid(), generate_uid()
    assert _ingest(django_capture_on_commit_callbacks, study_uid=study, series_uid=series).ok
    Study.objects.all().delete()  # the study and its series go; the thread remembers them
    again = _ingest(django_capture_on_commit_callbacks, study_uid=study, series_uid=series)
    assert again.status == STORED
    row = Series.objects.get(series_instance_uid=series)
    assert row.number_of_instances == 1
    assert (row.study.number_of_instances, row.study.number_of_series) == (1, 1)
    assert Instance.objects.get().series == row


def test_a_remembered_series_claimed_by_another_study_is_refused(
    django_capture_on_commit_callbacks,
):
    series = generate_uid()
    assert _ingest(django_capture_on_commit_callbacks, series_uid=series).ok
    other = _ingest(django_capture_on_commit_callbacks, series_uid=series)
    assert other.status == REJECTED
    assert other.reason_code == "conflicting_uids"
    assert Series.objects.get(series_instance_uid=series).number_of_instances == 1


def test_nothing_is_remembered_from_a_transaction_that_did_not_commit():
    # Without on-commit callbacks run, every instance looks its series up, as before.
    study, series = generate_uid(), generate_uid()
    assert ingest_bytes(to_bytes(make_ct(study_uid=study, series_uid=series)), "import").ok
    with CaptureQueriesContext(connection) as queries:
        data = to_bytes(make_ct(study_uid=study, series_uid=series, instance_number=2))
        assert ingest_bytes(data, "import").status == STORED
    assert _series_lookups(queries.captured_queries) == 1
    assert Series.objects.get(series_instance_uid=series).number_of_instances == 2


def test_other_rows_under_the_remembered_keys_are_not_taken_for_the_series(
    django_capture_on_commit_callbacks,
):
    # A database flushed or restored under a running listener: the same pks, other rows.
    study, series = generate_uid(), generate_uid()
    assert _ingest(django_capture_on_commit_callbacks, study_uid=study, series_uid=series).ok
    old_series = Series.objects.get()
    old_study = old_series.study
    Study.objects.all().delete()
    stranger = Study.objects.create(
        pk=old_study.pk, study_instance_uid=generate_uid(), patient=old_study.patient
    )
    Series.objects.create(pk=old_series.pk, series_instance_uid=generate_uid(), study=stranger)
    result = _ingest(django_capture_on_commit_callbacks, study_uid=study, series_uid=series)
    assert result.status == STORED
    row = Series.objects.get(series_instance_uid=series)
    assert row.pk != old_series.pk
    assert row.study.study_instance_uid == study
    assert (row.number_of_instances, row.study.number_of_instances) == (1, 1)
    assert Study.objects.get(pk=stranger.pk).number_of_instances == 0
    assert Series.objects.get(pk=old_series.pk).number_of_instances == 0
