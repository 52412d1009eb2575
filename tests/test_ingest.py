"""The ingest service: the one door into the archive."""

from __future__ import annotations

import threading
from pathlib import Path

import pydicom
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import close_old_connections
from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid

from studies import events
from studies.ingest import DUPLICATE, REJECTED, STORED, ingest_bytes
from studies.models import Instance, Patient, QuarantinedFile, Series, Study
from studies.quarantine import retry
from studies.storage import dicom_store, key_digest, quarantine_store
from tests.dicom_files import make_ct, sample_path, to_bytes

pytestmark = pytest.mark.django_db


def stored_files(settings) -> list[Path]:
    root = Path(settings.DICOM_STORE_DIR)
    return [p for p in root.rglob("*.dcm")] if root.exists() else []


def test_real_ct_file_is_stored_indexed_and_readable(settings):
    data = sample_path("CT_small.dcm").read_bytes()
    result = ingest_bytes(data, Instance.Source.IMPORT)
    assert result.status == STORED
    instance = Instance.objects.select_related("series__study__patient").get()
    original = pydicom.dcmread(sample_path("CT_small.dcm"))
    assert instance.sop_instance_uid == original.SOPInstanceUID
    assert instance.series.modality == "CT"
    assert instance.series.study.patient.patient_id == original.PatientID
    assert (instance.rows, instance.columns, instance.number_of_frames) == (128, 128, 1)
    assert instance.transfer_syntax_uid == original.file_meta.TransferSyntaxUID
    assert instance.dicom_json["00100020"]["Value"] == [original.PatientID]
    assert "7FE00010" not in instance.dicom_json  # bulk data stays in the file
    study = instance.series.study
    assert (study.number_of_series, study.number_of_instances) == (1, 1)
    assert study.modalities_in_study == "CT"
    with dicom_store().open(instance.file_path) as handle:
        assert pydicom.dcmread(handle).SOPInstanceUID == original.SOPInstanceUID


def test_preamble_is_zeroed_and_rest_of_file_kept_byte_for_byte():
    data = bytearray(to_bytes(make_ct()))
    data[:128] = b"MZ" + b"\x90" * 126  # an executable header hiding in the preamble
    ingest_bytes(bytes(data), Instance.Source.UPLOAD)
    instance = Instance.objects.get()
    with dicom_store().open(instance.file_path) as handle:
        stored = handle.read()
    assert stored[:128] == bytes(128)
    assert stored[128:] == bytes(data[128:])


def test_truncated_file_is_quarantined_with_reason():
    data = sample_path("MR_truncated.dcm").read_bytes()
    result = ingest_bytes(data, Instance.Source.IMPORT, name="MR_truncated.dcm")
    assert result.status == REJECTED
    assert result.reason_code == "pixel_data_length"
    assert "8,130" in result.reason and "8,192" in result.reason
    entry = QuarantinedFile.objects.get()
    assert entry.original_name == "MR_truncated.dcm"
    assert entry.reason_code == "pixel_data_length"
    with quarantine_store().open(entry.file_path) as handle:
        assert handle.read() == data  # nothing is lost
    assert not Instance.objects.exists()


def test_non_dicom_file_is_rejected_as_not_dicom():
    result = ingest_bytes(b"%PDF-1.4 this is a report, not an image\n" * 20, "upload")
    assert result.status == REJECTED
    assert result.reason_code == "not_dicom"
    assert "DICM" in result.reason


def test_missing_sop_instance_uid_is_rejected():
    ds = make_ct()
    del ds.SOPInstanceUID
    result = ingest_bytes(to_bytes(ds), Instance.Source.IMPORT)
    assert result.status == REJECTED
    assert result.reason_code == "missing_attribute"
    assert "SOPInstanceUID" in result.reason


def test_dot_dot_slash_in_patient_id_is_stored_but_never_used_as_a_path(settings):
    ds = make_ct(patient_id="../../../../etc/passwd", patient_name="../..^evil")
    result = ingest_bytes(to_bytes(ds), Instance.Source.UPLOAD)
    assert result.status == STORED
    assert Patient.objects.get().patient_id == "../../../../etc/passwd"
    [path] = stored_files(settings)
    assert path.resolve().is_relative_to(Path(settings.DICOM_STORE_DIR).resolve())
    assert "passwd" not in str(path) and ".." not in Instance.objects.get().file_path


def test_dot_dot_slash_in_sop_instance_uid_is_rejected_as_invalid_uid(settings):
    ds = make_ct()
    ds.SOPInstanceUID = "../../../tmp/evil"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    result = ingest_bytes(to_bytes(ds), Instance.Source.UPLOAD)
    assert result.status == REJECTED
    assert result.reason_code == "invalid_uid"
    assert stored_files(settings) == []


def test_same_instance_twice_is_one_instance_and_one_file(settings):
    data = to_bytes(make_ct())
    assert ingest_bytes(data, Instance.Source.IMPORT).status == STORED
    second = ingest_bytes(data, Instance.Source.STOW)
    assert second.status == DUPLICATE
    assert second.instance_id == Instance.objects.get().pk
    assert len(stored_files(settings)) == 1
    assert Study.objects.get().number_of_instances == 1


def test_pixel_bomb_header_is_refused_before_any_allocation():
    ds = make_ct(rows=1, columns=1)
    ds.Rows = 65535
    ds.Columns = 65535
    ds.NumberOfFrames = 1000
    ds.PixelData = b"\x00\x00" * 8  # tiny: the header lies about the size
    result = ingest_bytes(to_bytes(ds), Instance.Source.STOW)
    assert result.status == REJECTED
    assert result.reason_code == "image_too_large"
    assert "65535×65535" in result.reason


def test_pixel_data_shorter_than_header_says_is_rejected():
    ds = make_ct(rows=16, columns=16)
    ds.PixelData = ds.PixelData[:100]
    result = ingest_bytes(to_bytes(ds), Instance.Source.STOW)
    assert result.reason_code == "pixel_data_length"


def test_image_cap_is_configurable(settings):
    settings.INGEST_MAX_IMAGE_BYTES = 100
    result = ingest_bytes(to_bytes(make_ct(rows=16, columns=16)), Instance.Source.STOW)
    assert result.reason_code == "image_too_large"


def test_file_size_cap_is_configurable_and_file_is_not_kept(settings):
    settings.INGEST_MAX_FILE_BYTES = 1024
    result = ingest_bytes(to_bytes(make_ct(rows=64, columns=64)), Instance.Source.STOW)
    assert result.reason_code == "too_large"


def test_deflate_bomb_is_refused(settings):
    settings.INGEST_MAX_INFLATED_BYTES = 1024 * 1024
    ds = make_ct()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.ImageComments = "A" * (8 * 1024 * 1024)  # inflates to 8 MiB, compresses to a few KiB
    data = to_bytes(ds)
    assert len(data) < 64 * 1024
    result = ingest_bytes(data, Instance.Source.STOW)
    assert result.reason_code == "inflated_too_large"


def test_deflated_file_under_the_cap_is_accepted():
    ds = make_ct()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    assert ingest_bytes(to_bytes(ds), Instance.Source.STOW).status == STORED
    assert Instance.objects.get().transfer_syntax_uid == DeflatedExplicitVRLittleEndian


def test_corrupt_deflate_stream_is_rejected_not_crashed():
    ds = make_ct()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    data = bytearray(to_bytes(ds))
    data[-200:] = b"\xff" * 200
    result = ingest_bytes(bytes(data), Instance.Source.STOW)
    assert result.status == REJECTED
    assert result.reason_code in {"malformed", "pixel_data_length"}


def test_bare_data_set_without_file_meta_is_stored_with_a_proper_header():
    result = ingest_bytes(sample_path("OT-PAL-8-face.dcm").read_bytes(), Instance.Source.IMPORT)
    assert result.status == STORED
    instance = Instance.objects.get()
    with dicom_store().open(instance.file_path) as handle:
        stored = pydicom.dcmread(handle)
    assert stored.file_meta.MediaStorageSOPInstanceUID == stored.SOPInstanceUID
    assert stored.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert stored.PhotometricInterpretation == "PALETTE COLOR"


def test_file_meta_contradicting_the_data_set_is_repaired_from_the_data_set():
    ds = make_ct()
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    result = ingest_bytes(to_bytes(ds), Instance.Source.IMPORT)
    assert result.status == STORED
    with dicom_store().open(Instance.objects.get().file_path) as handle:
        stored = pydicom.dcmread(handle)
    assert stored.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_hostile_text_is_clipped_and_cleaned_for_any_database():
    ds = make_ct(patient_name="A\x00B<script>alert(1)</script>", StudyDescription="x" * 500)
    assert ingest_bytes(to_bytes(ds), Instance.Source.UPLOAD).status == STORED
    study = Study.objects.select_related("patient").get()
    assert "\x00" not in study.patient.name
    assert study.patient.name.startswith("AB<script>")
    assert len(study.description) == 64
    assert "\\u0000" not in str(Instance.objects.get().dicom_json)


def test_series_uid_reused_by_another_study_is_rejected_and_leaves_no_orphan(settings):
    series_uid = generate_uid()
    assert ingest_bytes(to_bytes(make_ct(series_uid=series_uid)), "import").status == STORED
    result = ingest_bytes(to_bytes(make_ct(series_uid=series_uid)), "import")
    assert result.reason_code == "conflicting_uids"
    assert Instance.objects.count() == 1
    assert len(stored_files(settings)) == 1


def test_storage_failure_is_a_clear_rejection(settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store should be")
    settings.DICOM_STORE_DIR = blocker
    result = ingest_bytes(to_bytes(make_ct()), Instance.Source.STOW)
    assert result.reason_code == "storage_error"
    assert QuarantinedFile.objects.filter(reason_code="storage_error").exists()
    assert not Instance.objects.exists()


def test_counts_and_modalities_follow_new_series():
    study_uid = generate_uid()
    for series_index, modality in enumerate(["CT", "PT", "CT"]):
        series_uid = generate_uid()
        for number in range(2):
            ds = make_ct(
                study_uid=study_uid,
                series_uid=series_uid,
                instance_number=number,
                Modality=modality,
                SeriesNumber=series_index,
            )
            assert ingest_bytes(to_bytes(ds), "import").status == STORED
    study = Study.objects.get()
    assert (study.number_of_series, study.number_of_instances) == (3, 6)
    assert study.modalities_in_study == "CT\\PT"
    assert sorted(Series.objects.values_list("number_of_instances", flat=True)) == [2, 2, 2]


def test_stored_instance_is_announced_to_the_study_group(django_capture_on_commit_callbacks):
    ds = make_ct()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.study_group(ds.StudyInstanceUID), channel)
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest_bytes(to_bytes(ds), Instance.Source.UPLOAD)
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == events.INSTANCE_STORED
    assert message["sop_instance_uid"] == ds.SOPInstanceUID
    assert message["instance_id"] == result.instance_id


def test_events_from_many_threads_go_through_one_publishing_loop_in_order():
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("study.1.2.3", channel)
    loops = []

    def publish(number: int) -> None:
        loops.append(events._event_loop())
        events.send_to_group("study.1.2.3", {"type": "test.event", "number": number})

    for number in range(3):
        sender = threading.Thread(target=publish, args=(number,))
        sender.start()
        sender.join()
    # One loop for the process, not a thread and a loop per event (the in-memory layer of
    # the embedded default sends from the caller's loop instead: see events.send_to_group).
    assert len({id(loop) for loop in loops}) == 1 and loops[0].is_running()

    async def receive_three() -> list[int]:
        # One loop for all three: channels_redis buffers a process's channels per loop.
        return [(await layer.receive(channel))["number"] for _ in range(3)]

    assert async_to_sync(receive_three)() == [0, 1, 2]


def test_data_set_other_than_announced_is_quarantined_before_it_is_stored():
    ds = make_ct()
    result = ingest_bytes(
        to_bytes(ds), Instance.Source.CSTORE, expected_sop=(ds.SOPClassUID, generate_uid())
    )
    assert (result.status, result.reason_code) == (REJECTED, "not_as_announced")
    assert not Instance.objects.exists()
    assert not dicom_store().exists(key_digest(ds.SOPInstanceUID))


def test_quarantined_file_can_be_retried_after_raising_a_limit(settings):
    settings.INGEST_MAX_IMAGE_BYTES = 100
    ingest_bytes(to_bytes(make_ct()), Instance.Source.UPLOAD, name="big.dcm")
    assert QuarantinedFile.objects.count() == 1
    settings.INGEST_MAX_IMAGE_BYTES = 10**9
    outcome = retry(QuarantinedFile.objects.all())
    assert (outcome.accepted, outcome.still_rejected) == (1, 0)
    assert Instance.objects.count() == 1
    assert not QuarantinedFile.objects.exists()


def test_deleting_a_study_removes_its_files(settings, django_capture_on_commit_callbacks):
    study_uid = generate_uid()
    for number in range(3):
        ingest_bytes(to_bytes(make_ct(study_uid=study_uid, instance_number=number)), "import")
    assert len(stored_files(settings)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        Study.objects.get().delete()
    assert stored_files(settings) == []
    assert not Instance.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_senders_of_one_study_end_with_one_copy_each(settings):
    study_uid, series_uid = generate_uid(), generate_uid()
    files = [
        to_bytes(make_ct(study_uid=study_uid, series_uid=series_uid, instance_number=n))
        for n in range(5)
    ]
    results: list = []
    errors: list = []
    start = threading.Barrier(20)

    def sender() -> None:
        try:
            start.wait()
            for data in files:
                results.append(ingest_bytes(data, Instance.Source.STOW).status)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=sender) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert results.count(STORED) == 5
    assert results.count(DUPLICATE) == 95
    assert Instance.objects.count() == 5
    assert len(stored_files(settings)) == 5
    study = Study.objects.get()
    assert (study.number_of_series, study.number_of_instances) == (1, 5)
    assert Patient.objects.count() == 1


def test_an_indexed_instance_is_on_disk_before_ingest_returns(db):
    """A C-STORE success is sent after ingest returns: the index row must survive a power
    cut by then. SQLite in WAL mode with synchronous=NORMAL may lose the last commits."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL: synchronous_commit is the server's setting (on by default)")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        (level,) = cursor.fetchone()
    assert level >= 2  # FULL (2) or EXTRA (3)
