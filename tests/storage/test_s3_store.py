"""The archive in an S3 bucket (DICOM_STORAGE=s3): same contract as the file store, against
a real S3 API (moto's server on loopback), through the ingest door and the DICOMweb views."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import time

import numpy as np
import pydicom
import pytest

from studies import quarantine
from studies.dicomweb import image_facts
from studies.ingest import DUPLICATE, REJECTED, STORED, ingest_bytes
from studies.models import Instance, Patient, QuarantinedFile, Series, Study
from studies.rendering import get_renderer
from studies.storage import dicom_store, key_digest
from studies.storage_s3 import S3Store
from tests.dicom_files import make_ct, to_bytes
from tests.test_dicomweb_wado import parts, url


def ingest(data: bytes) -> Instance:
    result = ingest_bytes(data, Instance.Source.IMPORT)
    assert result.status == STORED, result.reason
    return Instance.objects.select_related("series__study").get(pk=result.instance_id)


def cached_files(bucket) -> list[str]:
    return sorted(p.name for p in bucket.cache_dir.rglob("*") if p.is_file())


@pytest.mark.django_db
def test_ingested_file_lands_in_the_bucket_under_its_hashed_key_and_is_indexed(
    s3_archive, settings
):
    ds = make_ct(patient_id="../../etc", sop_uid="1.2.826.0.1.3680043.9.7433.99.1")
    instance = ingest(to_bytes(ds))

    assert isinstance(dicom_store(), S3Store)
    digest = key_digest(ds.SOPInstanceUID)
    assert instance.file_path == f"{digest[:2]}/{digest[2:4]}/{digest}.dcm"
    assert s3_archive.keys() == [s3_archive.key(instance.file_path)]
    stored = s3_archive.read(instance.file_path)
    assert hashlib.sha256(stored).hexdigest() == instance.sha256
    assert pydicom.dcmread(io.BytesIO(stored)).SOPInstanceUID == ds.SOPInstanceUID
    # Nothing was written to the local store directory, and reading has not begun.
    assert not os.path.exists(settings.DICOM_STORE_DIR)
    assert cached_files(s3_archive) == []


@pytest.mark.django_db
def test_rendered_and_retrieved_instance_is_fetched_again_after_the_cache_is_emptied(
    s3_archive, clinician_client
):
    instance = ingest(to_bytes(make_ct(rows=64, columns=64)))
    stored = s3_archive.read(instance.file_path)

    for attempt in range(2):
        shutil.rmtree(s3_archive.cache_dir, ignore_errors=True)
        image_facts.forget_all()
        rendered = clinician_client.get(url(instance, "/rendered"))
        assert rendered.status_code == 200, attempt
        assert rendered["Content-Type"] == "image/jpeg" and rendered.content[:2] == b"\xff\xd8"

        shutil.rmtree(s3_archive.cache_dir)
        retrieved = clinician_client.get(url(instance))
        assert retrieved.status_code == 200
        [(_, content)] = parts(retrieved)
        assert content == stored
        assert cached_files(s3_archive) == [instance.file_path.rpartition("/")[2]]


@pytest.mark.django_db
def test_same_instance_again_is_a_duplicate_and_nothing_is_written_twice(s3_archive):
    data = to_bytes(make_ct())
    first = ingest(data)
    key = s3_archive.key(first.file_path)
    modified = s3_archive.client.head_object(Bucket=s3_archive.name, Key=key)["LastModified"]

    again = ingest_bytes(data, Instance.Source.CSTORE)

    assert again.status == DUPLICATE and again.instance_id == first.pk
    assert Instance.objects.count() == 1
    head = s3_archive.client.head_object(Bucket=s3_archive.name, Key=key)
    assert head["LastModified"] == modified


def test_store_put_same_bytes_is_kept_and_other_bytes_replace_object_and_cached_copy(
    s3_archive,
):
    store = dicom_store()
    key = key_digest("1.2.3.4")
    data, other = os.urandom(50_000), os.urandom(40_000)

    first = store.put(key, data)
    same = store.put(key, data)
    cached = store.absolute_path(first.relative_path)
    assert cached.read_bytes() == data
    replaced = store.put(key, other)

    assert first.created and not same.created
    # Not "created": the caller must not delete it if its indexing fails.
    assert not replaced.created and replaced.relative_path == first.relative_path
    assert s3_archive.read(first.relative_path) == other
    assert store.absolute_path(first.relative_path).read_bytes() == other


def test_store_refuses_paths_it_did_not_make(s3_archive):
    store = dicom_store()
    for bad in ("../secret.dcm", "ab/cd/../../x.dcm", "/etc/passwd", "ab/cd/" + "g" * 64 + ".dcm"):
        with pytest.raises(ValueError):
            store.absolute_path(bad)
    with pytest.raises(ValueError):
        store.put("A" * 64, b"data")


@pytest.mark.django_db
def test_deleting_an_instance_removes_the_object_and_the_cached_copy(
    s3_archive, django_capture_on_commit_callbacks
):
    instance = ingest(to_bytes(make_ct()))
    kept = ingest(to_bytes(make_ct()))
    cached = dicom_store().absolute_path(instance.file_path)
    assert cached.is_file()

    with django_capture_on_commit_callbacks(execute=True):
        Instance.objects.filter(pk=instance.pk).delete()

    assert s3_archive.keys() == [s3_archive.key(kept.file_path)]
    assert not cached.exists()
    assert not dicom_store().absolute_path(instance.file_path).exists()


def test_cache_stays_within_its_byte_bound_evicting_the_least_recently_used(s3_archive, settings):
    size = 100_000
    settings.DICOM_S3_CACHE_BYTES = 3 * size + size // 2  # room for three
    store = dicom_store()
    paths = [store.put(key_digest(f"1.2.{n}"), os.urandom(size)).relative_path for n in range(6)]
    a, b, c, d, e, f = paths

    for relative in (a, b, c):
        store.absolute_path(relative)
    # Make the order unambiguous whatever the clock's resolution: a was read last.
    past = time.time_ns() - 60 * 10**9
    for age, relative in enumerate((a, b, c)):
        os.utime(store.cache.path_for(relative), ns=(past + age, past))
    store.absolute_path(a)  # a hit: a is now the most recently used, b the least

    def cached() -> set[str]:
        return {p.name for p in s3_archive.cache_dir.rglob("*.dcm")}

    def names(*relatives: str) -> set[str]:
        return {relative.rpartition("/")[2] for relative in relatives}

    store.absolute_path(d)
    assert cached() == names(a, c, d)
    for relative in (e, f):
        assert store.absolute_path(relative).read_bytes() == s3_archive.read(relative)
        assert store.cache.used_bytes() <= settings.DICOM_S3_CACHE_BYTES
    assert names(e, f) <= cached()
    # An evicted file is fetched again on its next read.
    assert store.absolute_path(b).read_bytes() == s3_archive.read(b)
    assert store.cache.used_bytes() <= settings.DICOM_S3_CACHE_BYTES


@pytest.mark.django_db
def test_unreachable_bucket_quarantines_with_storage_error_and_ingest_recovers(
    s3_archive, moto_server
):
    data = to_bytes(make_ct())
    moto_server.stop()
    try:
        started = time.monotonic()
        result = ingest_bytes(data, Instance.Source.CSTORE)
        elapsed = time.monotonic() - started
        # A read of a file not cached yet meets a missing file, not an exception.
        assert not dicom_store().absolute_path(dicom_store().relative_path_for("a" * 64)).exists()
    finally:
        moto_server.start()

    assert result.status == REJECTED and result.reason_code == "storage_error"
    assert elapsed < 5
    # Nothing half indexed; the bytes kept in the (local) quarantine for a retry.
    assert (Instance.objects.count(), Series.objects.count(), Study.objects.count()) == (0, 0, 0)
    assert Patient.objects.count() == 0
    entry = QuarantinedFile.objects.get(pk=result.quarantine_id)
    assert entry.reason_code == "storage_error" and entry.file_path

    outcome = quarantine.retry([entry])

    assert outcome.accepted == 1 and not QuarantinedFile.objects.exists()
    instance = Instance.objects.get()
    assert s3_archive.keys() == [s3_archive.key(instance.file_path)]
    assert (
        s3_archive.read(instance.file_path)
        == dicom_store().absolute_path(instance.file_path).read_bytes()
    )


@pytest.mark.django_db
def test_local_copy_downloads_only_when_read_and_again_after_eviction(s3_archive):
    # A viewer's study outline takes the path of every instance at once and keeps it.
    instances = [ingest(to_bytes(make_ct(rows=32, columns=32))) for _ in range(3)]
    store = dicom_store()
    held = [store.local(instance.file_path) for instance in instances]
    assert cached_files(s3_archive) == []

    first = get_renderer().render_pixels(held[0])
    assert len(cached_files(s3_archive)) == 1
    shutil.rmtree(s3_archive.cache_dir)  # evicted while still held

    assert pydicom.dcmread(held[0]).SOPInstanceUID == instances[0].sop_instance_uid
    np.testing.assert_array_equal(get_renderer().render_pixels(held[0]), first)
    assert held[1].read_bytes() == s3_archive.read(instances[1].file_path)
    assert len(cached_files(s3_archive)) == 2
    with pytest.raises(ValueError):
        store.local("../../etc/passwd")
