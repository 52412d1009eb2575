"""The PDU guard (studies.pacs.pdu_guard) on both sides of our DICOM traffic: header checks and
the data set cap as pure functions, the pynetdicom internals it relies on, and real
associations (our listener against a pynetdicom sender; our SCU against a pynetdicom C-GET SCP
and a raw-socket peer that answers with an absurd PDU)."""

from __future__ import annotations

import inspect
import socket
import struct
import threading
import time

import pynetdicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, build_context, evt
from pynetdicom.dul import DULServiceProvider
from pynetdicom.sop_class import (
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)
from pynetdicom.transport import AssociationSocket, RequestHandler

from studies.models import Instance, PacsNode
from studies.pacs import scu
from studies.pacs.dul_wait import WakeableSocket
from studies.pacs.listener import Listener
from studies.pacs.pdu_guard import (
    INVALID_PDU_PARAMETER_VALUE,
    MAX_ASSOCIATE_BYTES,
    UNRECOGNIZED_PDU,
    DataSetMeter,
    GuardedSocket,
    header_problem,
)
from tests.dicom_files import make_ct
from tests.pacs.conftest import wait_for

AET = "DICOMVIEWER"
CAP = 32 * 1024
BIG = 256  # rows and columns of a CT whose 128 KiB of pixels pass CAP


def pdv(data: bytes, *, command: bool = False, last: bool = False, context_id: int = 1) -> bytes:
    """One PDV item (PS3.8 9.3.5.1) with its message control header (Annex E.2)."""
    control = (0x01 if command else 0) | (0x02 if last else 0)
    return struct.pack(">LBB", len(data) + 2, context_id, control) + data


# --- header checks and the meter ------------------------------------------------------------


@pytest.mark.parametrize("pdu_type", [0x00, 0x08, 0x10, 0x99, 0xFF])
def test_a_pdu_type_outside_01_to_07_is_an_unrecognized_pdu(pdu_type):
    assert header_problem(pdu_type, 4, 16384)[0] == UNRECOGNIZED_PDU


@pytest.mark.parametrize(
    ("pdu_type", "longest"),
    [(0x01, MAX_ASSOCIATE_BYTES), (0x02, MAX_ASSOCIATE_BYTES), (0x03, 4), (0x04, 16384)]
    + [(0x05, 4), (0x06, 4), (0x07, 4)],
)
def test_each_pdu_type_is_read_up_to_its_limit_and_refused_beyond(pdu_type, longest):
    assert header_problem(pdu_type, longest, 16384) is None
    assert header_problem(pdu_type, longest + 1, 16384)[0] == INVALID_PDU_PARAMETER_VALUE


def test_p_data_tf_is_bounded_by_the_maximum_length_we_advertised():
    assert header_problem(0x04, 4 * 1024**2, 4 * 1024**2) is None
    assert header_problem(0x04, 4 * 1024**2 + 1, 4 * 1024**2) is not None
    assert header_problem(0x04, 0xFFFFFFF0, 0) is not None  # "unlimited" is still bounded


def test_meter_counts_data_set_fragments_and_starts_again_after_the_last():
    meter = DataSetMeter(cap=100)
    assert meter.add(pdv(b"c" * 500, command=True, last=True))  # commands are not counted
    assert meter.add(pdv(b"d" * 60))
    assert meter.received == 60
    assert meter.add(pdv(b"d" * 40, last=True))  # exactly the cap: allowed, then reset
    assert meter.received == 0
    assert meter.add(pdv(b"d" * 60) + pdv(b"d" * 30))
    assert not meter.add(pdv(b"d" * 11))


# --- the pynetdicom internals the guard relies on --------------------------------------------


def test_pynetdicom_still_reads_each_pdu_as_the_guard_expects():
    """If this fails, pynetdicom changed how its DUL reads PDUs or when EVT_CONN_OPEN fires:
    re-check studies/pacs/pdu_guard.py against the new version before relaxing this test."""
    assert pynetdicom.__version__.startswith("3."), pynetdicom.__version__
    read = inspect.getsource(DULServiceProvider._read_pdu_data)
    assert read.index("self.socket.recv(6)") < read.index("self.socket.recv(pdu_length)")
    handle = inspect.getsource(RequestHandler.handle)
    assert handle.index("evt.EVT_CONN_OPEN") < handle.index("assoc.start()")
    connect = inspect.getsource(AssociationSocket.connect)
    assert "evt.EVT_CONN_OPEN" in connect
    assert "recv" not in connect
    # guard() re-classes a socket pynetdicom built: GuardedSocket may add methods, not state
    # that a constructor would have to set up.
    assert not {"__init__", "__slots__"} & set(vars(GuardedSocket))


@pytest.fixture
def small_listener(transactional_db, known_sender, settings):
    settings.DICOM_MAX_PDU_BYTES = 4096  # the smallest we allow: many PDUs per data set
    settings.DICOM_MAX_DATASET_BYTES = CAP
    settings.DICOM_NETWORK_TIMEOUT = 5
    with Listener(host="127.0.0.1", port=0) as running:
        yield running


def test_listener_and_scu_associations_both_read_through_the_guard(small_listener):
    seen: list[str] = []
    small_listener.server.bind(
        evt.EVT_REQUESTED, lambda event: seen.append(type(event.assoc.dul.socket).__name__)
    )
    node = PacsNode.objects.create(
        name="self", ae_title=AET, host="127.0.0.1", port=small_listener.port,
        local_ae_title="STORESCU",
    )  # fmt: skip
    with scu.associate(node, [build_context(Verification)]) as assoc:
        ours = type(assoc.dul.socket).__name__
        assert assoc.send_c_echo().Status == 0x0000
    # WakeableSocket (studies.pacs.dul_wait) is the guarded socket re-classed once more.
    assert (ours, seen) == ("WakeableSocket", ["WakeableSocket"])
    assert issubclass(WakeableSocket, GuardedSocket)


# --- the data set cap, listener side ---------------------------------------------------------


def sender() -> AE:
    ae = AE(ae_title="STORESCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(CTImageStorage)
    return ae


def test_data_set_under_the_cap_is_stored(small_listener):
    assoc = sender().associate("127.0.0.1", small_listener.port, ae_title=AET)
    assert assoc.is_established
    try:
        assert assoc.send_c_store(make_ct(rows=64, columns=64)).Status == 0x0000  # 8 KiB
    finally:
        assoc.release()
    assert Instance.objects.count() == 1


def test_data_set_over_the_cap_aborts_its_association_before_it_is_all_read(small_listener, caplog):
    received: list[int] = []  # P-DATA-TF PDUs the listener's DUL was handed
    small_listener.server.bind(
        evt.EVT_DATA_RECV, lambda event: event.data[0] == 0x04 and received.append(len(event.data))
    )
    assoc = sender().associate("127.0.0.1", small_listener.port, ae_title=AET)
    assert assoc.is_established
    status = assoc.send_c_store(make_ct(rows=BIG, columns=BIG))
    assert "Status" not in status  # no response: the association was aborted
    wait_for(lambda: assoc.is_aborted, timeout=10, what="the sender to see the abort")
    assert Instance.objects.count() == 0
    assert "larger than DICOM_MAX_DATASET_BYTES" in caplog.text
    # Buffered: at most the cap and the PDU that carried the command, not 128 KiB.
    assert CAP < BIG * BIG * 2
    assert sum(received) <= CAP + 2 * 4096
    # The listener serves the next association as before.
    again = sender().associate("127.0.0.1", small_listener.port, ae_title=AET)
    try:
        assert again.send_c_store(make_ct(rows=64, columns=64)).Status == 0x0000
    finally:
        again.release()


# --- our SCU side ----------------------------------------------------------------------------


@pytest.fixture
def get_scp():
    """A pynetdicom C-GET SCP that answers every C-GET with one 128 KiB CT."""
    ae = AE(ae_title="GETSCP")
    ae.network_timeout = ae.dimse_timeout = 10
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_supported_context(CTImageStorage, scu_role=True, scp_role=True)

    def handle_get(event):
        yield 1
        yield 0xFF00, make_ct(rows=BIG, columns=BIG)

    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_GET, handle_get)]
    )
    yield server
    server.shutdown()


def test_c_get_data_set_over_the_cap_aborts_and_stores_nothing(transactional_db, settings, get_scp):
    settings.DICOM_NETWORK_TIMEOUT = settings.DICOM_DIMSE_TIMEOUT = 10
    node = PacsNode.objects.create(
        name="getscp", ae_title="GETSCP", host="127.0.0.1", port=get_scp.server_address[1]
    )
    stored: list[object] = []
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = "1.2.3"

    def get():
        return scu.get(node, identifier, on_store=lambda event: stored.append(event) or 0x0000,
                       sop_classes=[CTImageStorage])  # fmt: skip

    settings.DICOM_MAX_DATASET_BYTES = 1024**2
    assert get().completed == 1 and len(stored) == 1  # the same C-GET under a larger cap
    settings.DICOM_MAX_DATASET_BYTES = CAP
    started = time.monotonic()
    with pytest.raises(scu.PacsError):
        get()
    assert len(stored) == 1
    assert time.monotonic() - started < 10


def test_scu_aborts_a_peer_that_answers_with_an_absurd_pdu_length(transactional_db, settings):
    """A peer answering our A-ASSOCIATE-RQ with a header announcing 4 GiB, then silence."""
    settings.DICOM_ACSE_TIMEOUT = settings.DICOM_NETWORK_TIMEOUT = 2
    server = socket.create_server(("127.0.0.1", 0))
    answer: list[bytes] = []

    def peer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(10)
            conn.recv(65536)  # the A-ASSOCIATE-RQ
            conn.sendall(struct.pack(">BBL", 0x02, 0, 0xFFFFFFF0) + b"\0\x01")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            answer.append(b"".join(chunks))

    thread = threading.Thread(target=peer, daemon=True)
    thread.start()
    node = PacsNode.objects.create(
        name="absurd", ae_title="ABSURD", host="127.0.0.1", port=server.getsockname()[1]
    )
    try:
        started = time.monotonic()
        result = scu.echo(node)
        assert not result.ok
        assert time.monotonic() - started < 5
        thread.join(timeout=10)
        # A-ABORT from the service provider: invalid PDU parameter value (PS3.8 9.3.8).
        abort = struct.pack(">BBL", 0x07, 0, 4) + bytes([0, 0, 2, INVALID_PDU_PARAMETER_VALUE])
        assert answer == [abort]
    finally:
        server.close()
