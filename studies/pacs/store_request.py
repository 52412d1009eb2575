"""C-STORE requests read directly from the P-DATA the peer sent (listener and C-GET).

pynetdicom turns every DIMSE message it receives into a primitive the same generic way: each
data set fragment is sliced off its PDV and written into a BytesIO, and the command set is
decoded by pydicom into a Dataset whose elements are then copied, one validating setter
each, onto the primitive (``DIMSEMessage.decode_msg``, ``message_to_primitive``). For the
request we receive once per instance that was ~0.4 ms of CPU, on the thread that reads the
socket. The command set of a C-STORE-RQ (PS3.7 9.3.1.1, Table 9.3-1) is at most nine
elements of fixed form (Implicit VR Little Endian, PS3.7 6.3.1), read here with struct; the
data set fragments are kept as views of the PDVs and joined once, so ingest gets the bytes
as the peer sent them with one copy.

Only a plain C-STORE-RQ takes this path: its elements, each once, with one value each; a
data set; no handler bound to EVT_DIMSE_RECV (pynetdicom's logging binds one at DEBUG); no
chunked data sets (``_config.STORE_RECV_CHUNKED_DATASET``). Any other message, and anything
unexpected on the way, is handed to pynetdicom as it arrived (the PDVs seen so far are
replayed to it), so it is decoded, answered or refused exactly as before. The primitive is
built with pynetdicom's own setters, which validate as they did.
tests/pacs/test_store_request.py compares the primitives with pynetdicom's.
"""

from __future__ import annotations

import logging
import struct
from io import BytesIO

from pynetdicom import _config, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA

log = logging.getLogger(__name__)

_ELEMENT = struct.Struct("<HHL")  # group, element, value length (Implicit VR Little Endian)
_C_STORE_RQ = 0x0001  # PS3.7 E.1-1 Command Field
_NO_DATA_SET = 0x0101  # PS3.7 E.1-1 Command Data Set Type
# PS3.8 E.2: message control header bits.
_COMMAND, _LAST = 0x01, 0x02

# (0000,eeee) of a C-STORE-RQ: (keyword, VR).
_FIELDS = {
    0x0000: ("CommandGroupLength", "UL"),
    0x0002: ("AffectedSOPClassUID", "UI"),
    0x0100: ("CommandField", "US"),
    0x0110: ("MessageID", "US"),
    0x0700: ("Priority", "US"),
    0x0800: ("CommandDataSetType", "US"),
    0x1000: ("AffectedSOPInstanceUID", "UI"),
    0x1030: ("MoveOriginatorApplicationEntityTitle", "AE"),
    0x1031: ("MoveOriginatorMessageID", "US"),
}
_REQUIRED = frozenset(
    {"AffectedSOPClassUID", "CommandField", "MessageID", "Priority", "CommandDataSetType"}
    | {"AffectedSOPInstanceUID"}
)
_SIZES = {"US": 2, "UL": 4}


def parse_command(command: bytes) -> dict[str, int | str] | None:
    """The elements of a plain C-STORE-RQ command set, or None for anything else."""
    found: dict[str, int | str] = {}
    offset, end = 0, len(command)
    while offset < end:
        if offset + _ELEMENT.size > end:
            return None
        group, element, length = _ELEMENT.unpack_from(command, offset)
        offset += _ELEMENT.size
        field = _FIELDS.get(element)
        if group != 0x0000 or field is None or offset + length > end:
            return None
        keyword, vr = field
        if keyword in found:
            return None
        value = command[offset : offset + length]
        offset += length
        if vr in _SIZES:
            if length != _SIZES[vr]:
                return None
            found[keyword] = int.from_bytes(value, "little")
            continue
        # As pydicom decodes them: its default repertoire, trailing padding stripped; a UID
        # (pydicom.uid.UID) and an AE title also of leading and trailing spaces.
        text = value.decode("latin-1").rstrip("\0 ")
        if "\\" in text or "\0" in text:
            return None  # several values, or a NUL inside: pynetdicom's to judge
        found[keyword] = text.strip()
    if not _REQUIRED <= found.keys():
        return None
    if found["CommandField"] != _C_STORE_RQ or found["CommandDataSetType"] == _NO_DATA_SET:
        return None
    return found


def primitive(fields: dict[str, int | str], data_set: bytes, context_id: int) -> C_STORE:
    """The C_STORE primitive pynetdicom's ``message_to_primitive`` makes of this message."""
    request = C_STORE()
    for keyword in (
        "MessageID",
        "AffectedSOPClassUID",
        "AffectedSOPInstanceUID",
        "Priority",
        "MoveOriginatorApplicationEntityTitle",
        "MoveOriginatorMessageID",
    ):
        if keyword in fields:
            setattr(request, keyword, fields[keyword])
    request.DataSet = BytesIO(data_set)
    request._context_id = context_id
    request._dataset_path = None
    request._dataset_file = None
    return request


class Receiver:
    """An association's DIMSE ``receive_primitive``: plain C-STORE-RQs here, all else to
    pynetdicom's (bound as ``generic``)."""

    def __init__(self, assoc) -> None:
        self.assoc = assoc
        self.dimse = assoc.dimse
        self.generic = assoc.dimse.receive_primitive
        self._start()

    def _start(self) -> None:
        self.command: list = []  # views of the command fragments
        self.data: list = []  # views of the data set fragments
        self.fields: dict[str, int | str] | None = None
        self.context_id: int | None = None

    def receive_primitive(self, received) -> None:
        dimse = self.dimse
        if dimse.message is not None or type(received) is not P_DATA:
            self.generic(received)  # pynetdicom is in the middle of a message
            return
        items = received.presentation_data_value_list
        for index, (context_id, data) in enumerate(items):
            control = data[0]
            if self.fields is None:
                if not control & _COMMAND:
                    self._hand_over(items, index, command_done=False)
                    return
                self.command.append(memoryview(data)[1:])
                if control & _LAST:
                    self.context_id = context_id
                    fields = parse_command(b"".join(self.command))
                    if fields is None or self._pynetdicom_wanted():
                        self._hand_over(items, index + 1, command_done=True)
                        return
                    self.fields = fields
                continue
            if control & _COMMAND or context_id != self.context_id:
                self._hand_over(items, index, command_done=True)
                return
            self.data.append(memoryview(data)[1:])
            if control & _LAST:
                # As pynetdicom's decode_msg: the message ends here; PDVs after it in this
                # P-DATA are not read.
                self._complete()
                return

    def _pynetdicom_wanted(self) -> bool:
        return _config.STORE_RECV_CHUNKED_DATASET or bool(
            self.assoc.get_handlers(evt.EVT_DIMSE_RECV)
        )

    def _complete(self) -> None:
        fields, context_id = self.fields, self.context_id
        data_set = b"".join(self.data)
        self._start()
        assert fields is not None and context_id is not None
        try:
            request = primitive(fields, data_set, context_id)
        except Exception:
            # As pynetdicom does with a message it cannot turn into a primitive (Evt19:
            # an invalid PDU; the association is aborted).
            log.exception("received an invalid C-STORE request")
            self.dimse.dul.event_queue.put("Evt19")
            return
        self.dimse.msg_queue.put((context_id, request))

    def _hand_over(self, items: list, index: int, command_done: bool) -> None:
        """Give pynetdicom the message so far, then the rest of these PDVs, as they came."""
        replay = []
        context_id = self.context_id if self.context_id is not None else items[0][0]
        if self.command:
            control = _COMMAND | (_LAST if command_done else 0)
            replay.append((context_id, bytes([control]) + b"".join(self.command)))
        if self.data:
            replay.append((context_id, b"\x00" + b"".join(self.data)))
        self._start()
        for pdvs in (replay, items[index:]):
            if pdvs:
                message = P_DATA()
                message.presentation_data_value_list.extend(pdvs)  # as the DUL fills it
                self.generic(message)


def install(assoc) -> None:
    """Receive this association's plain C-STORE requests through ``Receiver``."""
    assoc.dimse.receive_primitive = Receiver(assoc).receive_primitive


def install_on_open(event) -> None:
    """EVT_CONN_OPEN handler: ``install`` on the association just opened."""
    install(event.assoc)
