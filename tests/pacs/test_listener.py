"""The DICOM listener against real clients: DCMTK's echoscu and storescu, and pynetdicom for
the hand-made bad instances DCMTK would refuse to send."""

from __future__ import annotations

import socket

import pynetdicom
import pytest
from pydicom.uid import MRImageStorage, generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage, Verification

from studies.models import Instance, KnownSender, PacsNode, QuarantinedFile
from studies.pacs import statuses
from studies.pacs.listener import Listener
from studies.storage import dicom_store
from tests.dicom_files import make_ct, sample_path, to_bytes
from tests.pacs.conftest import dcmtk

AET = "DICOMVIEWER"


def store_files(listener: Listener, *paths, calling: str = "STORESCU", options=()):
    return dcmtk(
        "storescu", "-aet", calling, "-aec", AET, *options, "127.0.0.1", listener.port, *paths
    )


def pynetdicom_store(listener: Listener, payload, calling: str = "STORESCU") -> int:
    """Send one data set (or Part 10 file path) with pynetdicom; the C-STORE status."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=AET)
    assert assoc.is_established
    try:
        status = assoc.send_c_store(payload)
        return int(status.Status)
    finally:
        assoc.release()


def test_echoscu_from_a_known_sender_is_answered(listener, known_sender):
    result = dcmtk("echoscu", "-aet", "STORESCU", "-aec", AET, "127.0.0.1", listener.port)
    assert result.returncode == 0, result.stderr


def test_unknown_calling_ae_is_rejected_at_association_and_nothing_is_stored(
    listener, known_sender
):
    result = store_files(listener, sample_path("CT_small.dcm"), calling="INTRUDER")
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stderr
    assert Instance.objects.count() == 0
    assert QuarantinedFile.objects.count() == 0


def test_request_for_another_called_ae_title_is_rejected(listener, known_sender):
    result = dcmtk("echoscu", "-aet", "STORESCU", "-aec", "SOMEONEELSE", "127.0.0.1", listener.port)
    assert result.returncode != 0
    assert "Called AE Title Not Recognized" in result.stderr


def test_storescu_from_a_known_sender_is_stored_indexed_and_attributed(listener, known_sender):
    path = sample_path("CT_small.dcm")
    result = store_files(listener, path)
    assert result.returncode == 0, result.stderr

    instance = Instance.objects.get()
    assert instance.source == Instance.Source.CSTORE
    assert instance.source_detail == "STORESCU from 127.0.0.1"
    assert instance.sop_instance_uid == "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
    assert dicom_store().absolute_path(instance.file_path).is_file()


def test_a_whole_folder_over_one_association_is_stored(listener, known_sender, tmp_path):
    study = generate_uid()
    folder = tmp_path / "send"
    folder.mkdir()
    for number in range(1, 6):
        (folder / f"{number}.dcm").write_bytes(
            to_bytes(make_ct(study_uid=study, series_uid="1.2.3.4", instance_number=number))
        )
    result = store_files(listener, "+sd", folder)
    assert result.returncode == 0, result.stderr
    assert Instance.objects.filter(series__study__study_instance_uid=study).count() == 5


@pytest.mark.parametrize(
    ("name", "proposal", "syntax"),
    [
        ("SC_rgb_jpeg_dcmtk.dcm", "-xy", "1.2.840.10008.1.2.4.50"),
        ("JPEG-LL.dcm", "-xs", "1.2.840.10008.1.2.4.70"),
        ("JPEG2000.dcm", "-xw", "1.2.840.10008.1.2.4.91"),
        ("MR_small_RLE.dcm", "-xr", "1.2.840.10008.1.2.5"),
        ("CT_small.dcm", "-xd", "1.2.840.10008.1.2.1.99"),
    ],
)
def test_compressed_and_deflated_transfer_syntaxes_are_stored_as_sent(
    listener, known_sender, name, proposal, syntax
):
    result = store_files(listener, sample_path(name), options=[proposal])
    assert result.returncode == 0, result.stderr
    assert Instance.objects.get().transfer_syntax_uid == syntax


def test_sender_pinned_to_another_address_is_rejected(listener):
    KnownSender.objects.create(ae_title="STORESCU", host="127.0.0.2")
    result = store_files(listener, sample_path("CT_small.dcm"))
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stderr
    assert Instance.objects.count() == 0


def test_sender_pinned_to_its_host_name_is_accepted(listener):
    KnownSender.objects.create(ae_title="STORESCU", host="localhost")
    result = store_files(listener, sample_path("CT_small.dcm"))
    assert result.returncode == 0, result.stderr
    assert Instance.objects.count() == 1


def test_disabled_sender_is_rejected(listener):
    KnownSender.objects.create(ae_title="STORESCU", enabled=False)
    result = dcmtk("echoscu", "-aet", "STORESCU", "-aec", AET, "127.0.0.1", listener.port)
    assert result.returncode != 0


def test_pacs_node_stores_from_its_host_unless_storing_is_turned_off(listener):
    node = PacsNode.objects.create(name="pacs", ae_title="PACSAE", host="127.0.0.1", port=104)
    assert store_files(listener, sample_path("CT_small.dcm"), calling="PACSAE").returncode == 0
    node.may_store = False
    node.save()
    refused = store_files(listener, sample_path("MR_small.dcm"), calling="PACSAE")
    assert refused.returncode != 0
    assert Instance.objects.count() == 1


def test_success_is_answered_only_once_the_instance_is_durable_and_indexed(listener, known_sender):
    ds = make_ct()
    assert pynetdicom_store(listener, ds) == statuses.SUCCESS
    # The C-STORE response is in: the row and the file must already be there.
    instance = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert dicom_store().absolute_path(instance.file_path).stat().st_size == instance.file_size


def test_with_ingest_processes_success_still_means_durable_and_indexed(
    ingest_processes, listener, known_sender, tmp_path, settings
):
    # Set after the ingest processes forked: the listener's own process would refuse these
    # files, so their success shows they were ingested in the ingest processes.
    settings.INGEST_MAX_FILE_BYTES = 1024
    paths = []
    for number in range(1, 4):
        paths.append(tmp_path / f"ct{number}.dcm")
        paths[-1].write_bytes(to_bytes(make_ct(instance_number=number)))
    result = store_files(listener, *paths)
    assert result.returncode == 0, result.stderr
    # storescu has every response: each instance must be indexed with its file in place.
    instances = Instance.objects.all()
    assert len(instances) == 3
    for instance in instances:
        path = dicom_store().absolute_path(instance.file_path)
        assert path.stat().st_size == instance.file_size
        assert instance.source_detail.startswith("STORESCU from 127.0.0.1")


def test_same_instance_sent_twice_is_success_and_stored_once(listener, known_sender):
    ds = make_ct()
    assert pynetdicom_store(listener, ds) == statuses.SUCCESS
    assert pynetdicom_store(listener, ds) == statuses.SUCCESS
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).count() == 1


def test_data_set_of_another_sop_class_than_announced_is_refused_with_a900(
    listener, known_sender, tmp_path, monkeypatch
):
    # The file meta announces CT; pynetdicom in chunked mode sends the request as the meta
    # says and the data set bytes untouched, which are MR.
    monkeypatch.setattr(pynetdicom._config, "STORE_SEND_CHUNKED_DATASET", True)
    ds = make_ct()
    ds.SOPClassUID = MRImageStorage
    data = to_bytes(ds)
    # Same length UIDs: rewrite only the first one, the file meta's (PS3.10 7.1).
    assert len(MRImageStorage) == len(CTImageStorage)
    data = data.replace(MRImageStorage.encode(), CTImageStorage.encode(), 1)
    path = tmp_path / "mismatch.dcm"
    path.write_bytes(data)
    assert pynetdicom_store(listener, str(path)) == statuses.DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    assert Instance.objects.count() == 0
    # Kept, with the reason, like any refused file.
    assert QuarantinedFile.objects.get().reason_code == "not_as_announced"


def test_instance_with_short_pixel_data_is_refused_with_a900_and_quarantined(
    listener, known_sender
):
    ds = make_ct()
    ds.PixelData = b"\x00" * 10
    assert pynetdicom_store(listener, ds) == statuses.DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    entry = QuarantinedFile.objects.get()
    assert entry.reason_code == "pixel_data_length"
    assert entry.source_detail == "STORESCU from 127.0.0.1"


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_instance_with_an_invalid_uid_is_refused_with_c000(listener, known_sender):
    ds = make_ct(series_uid="not.a.uid")
    assert pynetdicom_store(listener, ds) == statuses.CANNOT_UNDERSTAND
    assert QuarantinedFile.objects.get().reason_code == "invalid_uid"


def test_instance_over_the_size_limit_is_refused_with_a700(listener, known_sender, settings):
    settings.INGEST_MAX_FILE_BYTES = 2048
    assert pynetdicom_store(listener, make_ct(rows=64, columns=64)) == statuses.OUT_OF_RESOURCES
    assert Instance.objects.count() == 0


def test_archive_that_cannot_write_answers_a700(listener, known_sender, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store directory should be")
    settings.DICOM_STORE_DIR = blocker
    assert pynetdicom_store(listener, make_ct()) == statuses.OUT_OF_RESOURCES
    assert Instance.objects.count() == 0


def test_accepted_connections_have_nagle_turned_off(listener, known_sender):
    seen: list[int] = []

    def record(event) -> None:
        sock = event.assoc.dul.socket.socket
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    listener.server.bind(evt.EVT_CONN_OPEN, record)
    result = dcmtk("echoscu", "-aet", "STORESCU", "-aec", AET, "127.0.0.1", listener.port)
    assert result.returncode == 0, result.stderr
    assert seen and all(value != 0 for value in seen)


def test_associations_beyond_the_limit_are_rejected_as_local_limit_exceeded(
    transactional_db, known_sender, settings
):
    settings.DICOM_MAX_ASSOCIATIONS = 1
    with Listener(host="127.0.0.1", port=0) as limited:
        ae = AE(ae_title="STORESCU")
        ae.acse_timeout = ae.network_timeout = 30
        ae.add_requested_context(Verification)
        first = ae.associate("127.0.0.1", limited.port, ae_title=AET)
        assert first.is_established
        try:
            second = ae.associate("127.0.0.1", limited.port, ae_title=AET)
            assert second.is_rejected
            assert second.acceptor.primitive.diagnostic == 0x02  # local-limit-exceeded
        finally:
            first.release()


def test_verification_only_peer_cannot_sneak_a_store_in(listener, known_sender):
    # Storage needs a storage presentation context; a Verification-only association has none.
    ae = AE(ae_title="STORESCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=AET)
    try:
        with pytest.raises(ValueError, match="No presentation context"):
            assoc.send_c_store(make_ct())
    finally:
        assoc.release()
