"""C-STORE-RSP written directly, for every instance we receive (listener and C-GET).

pynetdicom sends every DIMSE message through one generic path: a pydicom Dataset holding all
of the command's possible elements, each set and validated, encoded twice (once to measure the
Command Group Length) by pydicom's writer. For the one response we send per received instance
that cost 1.4 ms of CPU, 10 % of an instance's whole receive. Its command set (PS3.7 9.3.1.2,
Table 9.3-2) is seven elements of fixed form, written here with struct.

Only the plain response takes this path: a status with nothing else (no Error Comment, no
Offending Element), UIDs that fit, and no handler bound to EVT_DIMSE_SENT (pynetdicom's
standard logging handler is one: it is left unbound unless the pynetdicom logger is at DEBUG,
see ``quiet_standard_logging``). Anything else goes through pynetdicom unchanged.
tests/pacs/test_store_response.py compares the bytes with pynetdicom's for the same response.
"""

from __future__ import annotations

import logging
import struct

from pynetdicom import _config, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA

# PS3.7 E.1-1: Command Field of C-STORE-RSP; Command Data Set Type "no data set".
_C_STORE_RSP = 0x8001
_NO_DATA_SET = 0x0101
# PS3.8 E.2: message control header of a command's last (here only) fragment.
_LAST_COMMAND_FRAGMENT = b"\x03"
_MAX_UID = 64  # PS3.5 9.1


def _us(element: int, value: int) -> bytes:
    # The command set is always Implicit VR Little Endian (PS3.7 6.3.1).
    return struct.pack("<HHLH", 0x0000, element, 2, value)


def _ui(element: int, value: object) -> bytes | None:
    try:
        text = str(value).encode("ascii")
    except UnicodeEncodeError:
        return None
    if not text or len(text) > _MAX_UID:
        return None
    if len(text) % 2:
        text += b"\0"  # PS3.5 9.1: UIDs are padded with NUL to even length
    return struct.pack("<HHL", 0x0000, element, len(text)) + text


def encode(primitive: object) -> bytes | None:
    """The command set of a plain C-STORE-RSP, or None if ``primitive`` is anything else."""
    if type(primitive) is not C_STORE:
        return None
    status, responding_to = primitive.Status, primitive.MessageIDBeingRespondedTo
    if status is None or responding_to is None:
        return None  # a request, or an incomplete response
    if primitive.ErrorComment is not None or primitive.OffendingElement is not None:
        return None
    if not (0 <= status <= 0xFFFF and 0 <= responding_to <= 0xFFFF):
        return None
    sop_class = _ui(0x0002, primitive.AffectedSOPClassUID)
    sop_instance = _ui(0x1000, primitive.AffectedSOPInstanceUID)
    if sop_class is None or sop_instance is None:
        return None
    body = b"".join(
        (
            sop_class,
            _us(0x0100, _C_STORE_RSP),
            _us(0x0120, responding_to),
            _us(0x0800, _NO_DATA_SET),
            _us(0x0900, status),
            sop_instance,
        )
    )
    return struct.pack("<HHLL", 0x0000, 0x0000, 4, len(body)) + body


def install(assoc) -> None:
    """Send this association's plain C-STORE responses through ``encode``."""
    dimse = assoc.dimse
    generic = dimse.send_msg

    def send_msg(primitive, context_id: int) -> None:
        command = encode(primitive)
        limit = dimse.maximum_pdu_size  # 0: no limit (PS3.8 D.1)
        if (
            command is None
            or assoc.get_handlers(evt.EVT_DIMSE_SENT)
            or (limit and len(command) + 6 > limit)  # PDV header: length, context, control
        ):
            generic(primitive, context_id)
            return
        pdata = P_DATA()
        pdata.presentation_data_value_list.append((context_id, _LAST_COMMAND_FRAGMENT + command))
        dimse.dul.send_pdu(pdata)

    dimse.send_msg = send_msg


def install_on_open(event) -> None:
    """EVT_CONN_OPEN handler: ``install`` on the association just opened."""
    install(event.assoc)


def quiet_standard_logging() -> None:
    """Leave pynetdicom's standard logging handlers unbound on associations made from now on,
    unless its logger is at DEBUG: they format a multi-line dump of every PDU and DIMSE
    message (decoding the command set to do it) even when the lines are then dropped.

    Likewise the C-FIND/C-MOVE/C-GET identifiers it formats line by line for INFO logging,
    unless its logger is at INFO: every response of a retrieve's instance listing (~5 % of the
    retrieve worker's CPU while it lists a study)."""
    logger = logging.getLogger("pynetdicom")
    if not logger.isEnabledFor(logging.DEBUG):
        _config.LOG_HANDLER_LEVEL = "none"
    if not logger.isEnabledFor(logging.INFO):
        _config.LOG_REQUEST_IDENTIFIERS = _config.LOG_RESPONSE_IDENTIFIERS = False
