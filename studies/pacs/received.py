"""A C-STORE request's data set as a Part 10 file, from the bytes the peer sent.

pynetdicom's ``Event.encoded_dataset()`` builds the File Meta Information as a pydicom data
set (each attribute set and validated) and encodes it with pydicom's writer: about 0.5 ms of
an instance's receive. The meta group holds six short elements of fixed layout (PS3.10 7.1,
Explicit VR Little Endian), written here directly; the data set bytes follow untouched, so
ingest stores what the peer sent.
"""

from __future__ import annotations

import struct

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

_PREAMBLE = bytes(128)
_VERSION = b"\x02\x00\x01\x00OB\x00\x00\x02\x00\x00\x00\x00\x01"  # (0002,0001) 00H 01H


def _short(element: int, vr: bytes, value: bytes, pad: bytes) -> bytes:
    """An Explicit VR Little Endian element of group 0002 with a 2-byte length (PS3.5 7.1.2),
    padded to even length (PS3.5 7.1.1: UI with NUL, SH with a space)."""
    if len(value) % 2:
        value += pad
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def _uid(value: object) -> bytes:
    # Values from the peer's command set; ingest compares them with the data set's and
    # writes a fresh header if they differ (PS3.10 7.1), so nothing here is trusted.
    return str(value or "").encode("ascii", "replace")[:64]


def part10_bytes(event) -> bytes:
    """Preamble, 'DICM', File Meta Information and the data set exactly as received."""
    request = event.request
    data_set = request.DataSet.getvalue()
    elements = b"".join(
        (
            _VERSION,
            _short(0x0002, b"UI", _uid(request.AffectedSOPClassUID), b"\0"),
            _short(0x0003, b"UI", _uid(request.AffectedSOPInstanceUID), b"\0"),
            _short(0x0010, b"UI", _uid(event.context.transfer_syntax), b"\0"),
            _short(0x0012, b"UI", PYNETDICOM_IMPLEMENTATION_UID.encode("ascii"), b"\0"),
            _short(0x0013, b"SH", PYNETDICOM_IMPLEMENTATION_VERSION.encode("ascii"), b" "),
        )
    )
    group_length = struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, len(elements))
    return b"".join((_PREAMBLE, b"DICM", group_length, elements, data_set))


def announced_uids(event) -> tuple[str, str]:
    """(Affected SOP Class UID, Affected SOP Instance UID) of the C-STORE request."""
    request = event.request
    return str(request.AffectedSOPClassUID or ""), str(request.AffectedSOPInstanceUID or "")
