"""Overlay planes (groups 6000-601E), burned into the display image. PS3.3 C.9.2.

Each plane is a 1-bit bitmap (Overlay Data, 60xx,3000) placed at Overlay Origin (1-based
row, column) over the image; multi-frame overlays apply to the frames from Image Frame
Origin on. Burned-in pixels take the brightest P-value, as DCMTK's default "Replace" mode.
Overlays embedded in unused high bits of the pixel data were retired in 2004 and are not read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from .header import ImageHeader

_FIRST_GROUP = 0x6000
_LAST_GROUP = 0x601E


@dataclass(frozen=True, eq=False)
class Overlay:
    group: int
    rows: int
    columns: int
    origin_row: int  # 0-based
    origin_column: int  # 0-based
    kind: str  # "G" graphics or "R" region of interest
    description: str
    bitmap: np.ndarray  # (rows, columns) bool, for the frame asked for


def overlays_for_frame(header: ImageHeader, frame: int) -> list[Overlay]:
    found = []
    for group in range(_FIRST_GROUP, _LAST_GROUP + 1, 2):
        overlay = _read(header.meta, group, frame, header.little_endian)
        if overlay is not None:
            found.append(overlay)
    return found


def overlay_mask(header: ImageHeader, frame: int) -> np.ndarray | None:
    """Union of the frame's overlays as a (rows, columns) bool mask, or None if none."""
    planes = overlays_for_frame(header, frame)
    if not planes:
        return None
    mask = np.zeros((header.rows, header.columns), dtype=bool)
    for plane in planes:
        # Planes may start above/left of the image or run past it (C.9.2.1.2): clip.
        top, left = plane.origin_row, plane.origin_column
        r0, c0 = max(top, 0), max(left, 0)
        r1 = min(top + plane.rows, header.rows)
        c1 = min(left + plane.columns, header.columns)
        if r0 < r1 and c0 < c1:
            mask[r0:r1, c0:c1] |= plane.bitmap[r0 - top : r1 - top, c0 - left : c1 - left]
    return mask


def burn(display: np.ndarray, mask: np.ndarray, value: int = 255) -> np.ndarray:
    """Set masked pixels of a uint8 gray or RGB image to ``value`` (in place, returned)."""
    display[mask] = value
    return display


def _read(ds: Dataset, group: int, frame: int, little_endian: bool) -> Overlay | None:
    def element(number: int) -> object:
        item = ds.get(Tag(group, number))
        return None if item is None else item.value

    data = element(0x3000)
    rows, columns = _int(element(0x0010)), _int(element(0x0011))
    if not data or not rows or not columns or rows < 1 or columns < 1:
        return None
    frames_in_overlay = _int(element(0x0015)) or 1
    first_frame = (_int(element(0x0051)) or 1) - 1
    if not first_frame <= frame < first_frame + frames_in_overlay:
        return None
    bits_allocated = _int(element(0x0100)) or 1
    if bits_allocated != 1:
        return None  # embedded (retired) overlays: see the module docstring
    origin = element(0x0050)
    try:
        origin_row, origin_column = (int(v) for v in origin)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        origin_row, origin_column = 1, 1
    plane_pixels = rows * columns
    raw = bytes(data) if isinstance(data, bytes | bytearray) else b""
    if not little_endian and ds[Tag(group, 0x3000)].VR == "OW":
        # PS3.5 7.3: OW is a stream of 16-bit words, stored big endian here.
        raw = np.frombuffer(raw[: len(raw) // 2 * 2], dtype=">u2").astype("<u2").tobytes()
    # C.9.2.1.3: Overlay Data is bit-packed, least significant bit first, frames one after
    # the other without padding between them.
    start = (frame - first_frame) * plane_pixels
    chunk = raw[start // 8 : (start + plane_pixels + 7) // 8]
    bits = np.unpackbits(np.frombuffer(chunk, dtype=np.uint8), bitorder="little")
    plane = bits[start % 8 : start % 8 + plane_pixels]
    if plane.size < plane_pixels:
        return None  # truncated overlay data: better nothing than a wrong mark
    kind = str(element(0x0040) or "G").strip().upper() or "G"
    return Overlay(
        group=group,
        rows=rows,
        columns=columns,
        origin_row=origin_row - 1,
        origin_column=origin_column - 1,
        kind=kind,
        description=str(element(0x0022) or ""),
        bitmap=plane.reshape(rows, columns).astype(bool),
    )


def _int(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
