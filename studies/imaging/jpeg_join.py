"""One baseline JPEG from two encoded halves of an image, joined at a restart marker.

A window change re-encodes the whole display image, and the encoder runs on one core. The
top and bottom halves can be encoded at once on two (libjpeg-turbo releases the GIL) and
joined into one valid file, because baseline JPEG has restart intervals (ITU-T T.81,
B.2.4.4 and F.1.2.3): after a restart marker (RSTm) the decoder resets every DC prediction
and starts a new entropy-coded segment on a byte boundary, exactly the state an encoder
starts a new image in. So the joined file is the top half's headers with the full height
(SOF) and a Define Restart Interval (DRI) of as many MCUs as the top half has, the top's
entropy-coded data, RST0, the bottom's entropy-coded data, EOI.

Conditions, each checked here or by the caller's choice of the split:

- The top half is a whole number of MCU rows, and the bottom half has at most as many MCU
  rows (a restart interval is constant; only the last one may be shorter). ``top_rows``.
- Both halves were encoded with the same tables: the headers before the scan are compared
  byte for byte (the height in SOF aside), so optimised Huffman tables or another quality
  make ``join`` refuse rather than write a wrong file.
- The interval fits DRI's 16 bits (at most 65535 MCUs in the top half).

Each 8×8 block is quantised on its own, so the joined image decodes to exactly the pixels of
one encode of the whole image (tested with Pillow). MCUs are 8×8 here: gray, and colour
without chroma subsampling (4:4:4), which is all ``encode`` writes.
"""

from __future__ import annotations

MCU = 8  # rows and columns of an MCU without subsampling (T.81 A.2)
_SOI, _EOI, _RST0 = b"\xff\xd8", b"\xff\xd9", b"\xff\xd0"
_SOF0, _SOS, _DRI = 0xC0, 0xDA, 0xDD
_MAX_INTERVAL = 0xFFFF


def top_rows(rows: int) -> int:
    """Rows of the top half: the first half of the MCU rows, rounded up."""
    mcu_rows = -(-rows // MCU)
    return -(-mcu_rows // 2) * MCU


def can_split(rows: int, columns: int) -> bool:
    """Whether an image of this size can be joined from two halves (see ``join``)."""
    top = top_rows(rows)
    return 0 < top < rows and -(-columns // MCU) * (top // MCU) <= _MAX_INTERVAL


def join(top: bytes, bottom: bytes, rows: int, columns: int) -> bytes | None:
    """The JPEG of the whole image, from the JPEGs of rows ``:top_rows(rows)`` and the rest;
    None when the two cannot be joined (the caller then encodes the whole image)."""
    if not can_split(rows, columns):
        return None
    head, tail = _parts(top), _parts(bottom)
    if head is None or tail is None:
        return None
    (top_header, top_sof, top_scan), (bottom_header, bottom_sof, bottom_scan) = head, tail
    if top_header[top_sof + 7 : top_sof + 9] != columns.to_bytes(2, "big"):
        return None  # not the image we were told of
    if _without_height(top_header, top_sof) != _without_height(bottom_header, bottom_sof):
        return None  # other tables or components: the halves do not belong together
    if not _sampling_is_one_by_one(top_header, top_sof):
        return None  # subsampled colour: the MCU is larger than 8×8
    interval = -(-columns // MCU) * (top_rows(rows) // MCU)
    header = bytearray(top_header)
    header[top_sof + 5 : top_sof + 7] = rows.to_bytes(2, "big")  # SOF: number of lines
    restart = bytes((0xFF, _DRI, 0, 4)) + interval.to_bytes(2, "big")
    # top_scan and bottom_scan: the SOS segment and its entropy-coded data, without EOI.
    bottom_data = bottom_scan[2 + int.from_bytes(bottom_scan[2:4], "big") :]
    return b"".join((header, restart, top_scan, _RST0, bottom_data, _EOI))


def _parts(jpeg: bytes) -> tuple[bytes, int, bytes] | None:
    """(everything before SOS, where SOF0 starts in it, SOS and the scan data up to EOI), or
    None for anything but one baseline scan without restart markers of its own."""
    if not (jpeg.startswith(_SOI) and jpeg.endswith(_EOI)):
        return None
    position, sof = 2, None
    while position + 4 <= len(jpeg):
        if jpeg[position] != 0xFF:
            return None
        marker = jpeg[position + 1]
        length = int.from_bytes(jpeg[position + 2 : position + 4], "big")
        if marker == _DRI:
            return None
        if marker == _SOF0:
            sof = position
        elif 0xC1 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None  # progressive, lossless or arithmetic: not what encode writes
        if marker == _SOS:
            if sof is None:
                return None
            return jpeg[:position], sof, jpeg[position:-2]
        position += 2 + length
    return None


def _without_height(header: bytes, sof: int) -> bytes:
    return header[: sof + 5] + header[sof + 7 :]


def _sampling_is_one_by_one(header: bytes, sof: int) -> bool:
    components = header[sof + 9]
    return all(header[sof + 10 + 3 * i + 1] == 0x11 for i in range(components))
