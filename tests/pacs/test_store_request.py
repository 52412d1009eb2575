"""C-STORE requests read from the P-DATA directly (studies.pacs.store_request) become the
primitive pynetdicom would have made of them, and every other message still goes to
pynetdicom as it came."""

from __future__ import annotations

import struct
from io import BytesIO

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage
from pynetdicom import AE, _config, evt
from pynetdicom.association import Association
from pynetdicom.dimse_messages import C_ECHO_RQ, C_FIND_RQ, C_STORE_RQ, DIMSEMessage
from pynetdicom.dimse_primitives import C_ECHO, C_FIND, C_STORE
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification

from studies.pacs import store_request
from tests.dicom_files import make_ct, to_bytes

_FIELDS = (
    "MessageID",
    "AffectedSOPClassUID",
    "AffectedSOPInstanceUID",
    "Priority",
    "MoveOriginatorApplicationEntityTitle",
    "MoveOriginatorMessageID",
    "MessageIDBeingRespondedTo",
    "Status",
)


@pytest.fixture(autouse=True)
def quiet_pynetdicom(monkeypatch):
    """As the listener runs it (store_response.quiet_standard_logging): pynetdicom binds no
    logging handlers, which would take every message back to its own decoding."""
    monkeypatch.setattr(_config, "LOG_HANDLER_LEVEL", "none")


decoded_by_pynetdicom: list[str] = []


@pytest.fixture(autouse=True)
def count_pynetdicom_decoding(monkeypatch):
    original = DIMSEMessage.message_to_primitive

    def counted(self):
        decoded_by_pynetdicom.append(type(self).__name__)
        return original(self)

    decoded_by_pynetdicom.clear()
    monkeypatch.setattr(DIMSEMessage, "message_to_primitive", counted)


def _received(p_datas: list[P_DATA], ours: bool) -> tuple[list, list]:
    """(what the DIMSE queued, DUL events) after receiving ``p_datas`` on a new association."""
    assoc = Association(AE(ae_title="DICOMVIEWER"), "acceptor")
    if ours:
        store_request.install(assoc)
    for p_data in p_datas:
        assoc.dimse.receive_primitive(p_data)
    if ours:
        ours_decoded = list(decoded_by_pynetdicom)
        decoded_by_pynetdicom.clear()
        decoded_by_pynetdicom.extend(f"ours:{name}" for name in ours_decoded)
    queued = []
    while not assoc.dimse.msg_queue.empty():
        queued.append(assoc.dimse.msg_queue.get_nowait())
    events = []
    while not assoc.dul.event_queue.empty():
        events.append(assoc.dul.event_queue.get_nowait())
    return queued, events


def _described(queued: list) -> list:
    described = []
    for context_id, primitive in queued:
        fields = {name: getattr(primitive, name, None) for name in _FIELDS}
        data = None
        for keyword in ("DataSet", "Identifier"):
            value = getattr(primitive, keyword, None)
            if value is not None:
                data = value.getvalue()
        described.append((context_id, type(primitive).__name__, fields, data))
    return described


def _same_either_way(p_datas: list[P_DATA]) -> list:
    """What was received, the same either way; pynetdicom's decoding, when ours ran, is left
    in ``decoded_by_pynetdicom``."""
    ours, our_events = _received(p_datas, ours=True)
    left_to_pynetdicom = list(decoded_by_pynetdicom)
    theirs, their_events = _received(p_datas, ours=False)
    assert _described(ours) == _described(theirs)
    assert our_events == their_events
    decoded_by_pynetdicom[:] = left_to_pynetdicom
    return _described(ours)


def _encoded(primitive, message_class, max_pdu: int = 16384, context_id: int = 1):
    message = message_class()
    message.primitive_to_message(primitive)
    return list(message.encode_msg(context_id, max_pdu))


def _store(move_originator: str | None = None, message_id: int = 7) -> C_STORE:
    ds = make_ct(rows=64, columns=64)
    request = C_STORE()
    request.MessageID = message_id
    request.AffectedSOPClassUID = CTImageStorage
    request.AffectedSOPInstanceUID = ds.SOPInstanceUID
    request.Priority = 0
    if move_originator is not None:
        request.MoveOriginatorApplicationEntityTitle = move_originator
        request.MoveOriginatorMessageID = 3
    request.DataSet = BytesIO(to_bytes(ds)[132:])  # any bytes: passed on as they are
    return request


@pytest.mark.parametrize("max_pdu", [0, 16384, 1000, 100])
@pytest.mark.parametrize("move_originator", [None, "BENCH_PACS"])
def test_a_c_store_request_is_the_primitive_pynetdicom_makes(max_pdu, move_originator):
    p_datas = _encoded(_store(move_originator), C_STORE_RQ, max_pdu)
    ((context_id, kind, fields, data),) = _same_either_way(p_datas)
    assert decoded_by_pynetdicom == []  # read here
    assert (context_id, kind) == (1, "C_STORE")
    assert fields["MoveOriginatorApplicationEntityTitle"] == move_originator
    assert len(data) > 64 * 64 * 2


def test_a_run_of_requests_and_other_messages_come_through_in_order():
    echo = C_ECHO()
    echo.MessageID = 1
    echo.AffectedSOPClassUID = Verification
    find = C_FIND()
    find.MessageID = 2
    find.AffectedSOPClassUID = StudyRootQueryRetrieveInformationModelFind
    find.Priority = 2
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = ""
    find.Identifier = BytesIO(b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY ")
    p_datas = [
        *_encoded(_store(message_id=3), C_STORE_RQ, 4096),
        *_encoded(echo, C_ECHO_RQ),
        *_encoded(find, C_FIND_RQ, 4096, context_id=3),
        *_encoded(_store(message_id=4), C_STORE_RQ, 4096, context_id=5),
    ]
    described = _same_either_way(p_datas)
    assert [(c, kind, f["MessageID"]) for c, kind, f, _ in described] == [
        (1, "C_STORE", 3),
        (1, "C_ECHO", 1),
        (3, "C_FIND", 2),
        (5, "C_STORE", 4),
    ]
    assert decoded_by_pynetdicom == ["ours:C_ECHO_RQ", "ours:C_FIND_RQ"]


def _command(*elements: tuple[int, bytes]) -> bytes:
    body = b"".join(struct.pack("<HHL", 0, tag, len(value)) + value for tag, value in elements)
    return struct.pack("<HHLL", 0, 0, 4, len(body)) + body


def _uid(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw


def _raw_store(sop_instance: bytes, *extra: tuple[int, bytes]) -> list[P_DATA]:
    command = _command(
        (0x0002, _uid(CTImageStorage)),
        (0x0100, b"\x01\x00"),
        (0x0110, b"\x09\x00"),
        (0x0700, b"\x00\x00"),
        (0x0800, b"\x00\x00"),
        (0x1000, sop_instance),
        *extra,
    )
    first, second = P_DATA(), P_DATA()
    first.presentation_data_value_list.append([1, b"\x03" + command])
    second.presentation_data_value_list.append([1, b"\x02" + b"\x08\x00\x18\x00\x00\x00\x00\x00"])
    return [first, second]


@pytest.mark.parametrize(
    "sop_instance, extra",
    [
        (_uid("1.2.826.0.1.3680043.8.498.101"), ()),
        (b" 1.2.3.4 ", ()),  # padding pydicom strips
        (b"1.2.3\\1.2.4\0", ()),  # two values: pynetdicom takes the first
        (b"1.2.x.4\0", ()),  # not a UID
        (_uid("1.2.826.0.1.3680043.8.498.1022"), ((0x1030, b"  MOVER   "),)),
        (_uid("1.2.826.0.1.3680043.8.498.103"), ((0x1030, b"MOVER\\TWO "),)),
        (_uid("1.2.826.0.1.3680043.8.498.1044"), ((0x0900, b"\x00\x00"),)),  # not in a request
        (_uid("1.2.826.0.1.3680043.8.498.105"), ((0x0110, b"\x0a\x00"),)),  # an element twice
    ],
)
def test_unusual_commands_end_as_pynetdicom_ends_them(sop_instance, extra):
    _same_either_way(_raw_store(sop_instance, *extra))


def test_a_request_pynetdicom_would_log_is_left_to_pynetdicom():
    p_datas = _encoded(_store(), C_STORE_RQ)
    assoc = Association(AE(ae_title="DICOMVIEWER"), "acceptor")
    store_request.install(assoc)
    for p_data in p_datas:
        assoc.dimse.receive_primitive(p_data)
    assert decoded_by_pynetdicom == []
    assoc.bind(evt.EVT_DIMSE_RECV, lambda event: None)  # as pynetdicom's DEBUG logging does
    for p_data in p_datas:
        assoc.dimse.receive_primitive(p_data)
    assert decoded_by_pynetdicom == ["C_STORE_RQ"]
    assert assoc.dimse.msg_queue.qsize() == 2
