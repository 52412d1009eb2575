"""Colour images → 8-bit RGB. PS3.3 C.7.6.3.1.2 (colour models), C.7.6.3.1.5/6 and C.7.9
(palettes, including segmented palettes).

Input is what the decoder delivered (``DecodedFrame.photometric``): a JPEG can come out as
YBR_FULL or RGB depending on its markers, JPEG 2000 with YBR_RCT/YBR_ICT comes out RGB, native
YBR_FULL_422 comes out with its chroma already repeated (YBR_FULL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidImage, UnsupportedImage
from .header import ImageHeader
from .luts import descriptor_values, table_data

_MAX_SEGMENT_DEPTH = 4


def to_rgb8(pixels: np.ndarray, photometric: str, header: ImageHeader) -> np.ndarray:
    """uint8 RGB (rows, columns, 3) for a decoded colour frame."""
    if photometric == "PALETTE COLOR":
        return palette(header).apply(pixels)
    if photometric == "RGB":
        return scale_to_8bit(pixels, header.bits_stored)
    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        return ybr_full_to_rgb8(pixels, header.bits_stored)
    raise UnsupportedImage(f"Photometric Interpretation {photometric} cannot be displayed")


def scale_to_8bit(values: np.ndarray, bits: int) -> np.ndarray:
    """n-bit samples → 0..255.

    Deeper samples keep their 8 most significant bits (equal-width bins, as DCMTK does);
    shallower ones are stretched so their full scale becomes 255.
    """
    if values.dtype == np.uint8 and bits == 8:
        return values
    top = (1 << bits) - 1
    if bits >= 8:
        if values.dtype.kind == "f":
            values = np.rint(values)
        clipped = np.clip(values, 0, top).astype(np.uint64)
        return (clipped >> np.uint64(bits - 8)).astype(np.uint8)
    scaled = np.rint(np.clip(values.astype(np.float64), 0, top) * (255.0 / top))
    return scaled.astype(np.uint8)


def ybr_full_to_rgb8(ybr: np.ndarray, bits: int) -> np.ndarray:
    """YBR_FULL → RGB with the inverse of the equations of PS3.3 C.7.6.3.1.2.

    Y = .2990R + .5870G + .1140B; CB = -.1687R - .3313G + .5000B + 2^(n-1);
    CR = .5000R - .4187G - .0813B + 2^(n-1) (the JFIF/ITU-R BT.601 full-range transform).
    """
    offset = float(1 << (bits - 1))
    y = ybr[..., 0].astype(np.float32)
    cb = ybr[..., 1].astype(np.float32) - offset
    cr = ybr[..., 2].astype(np.float32) - offset
    rgb = np.empty(ybr.shape, dtype=np.float32)
    rgb[..., 0] = y + 1.402 * cr
    rgb[..., 1] = y - 0.344136 * cb - 0.714136 * cr
    rgb[..., 2] = y + 1.772 * cb
    return scale_to_8bit(rgb, bits)


@dataclass(frozen=True, eq=False)
class Palette:
    """Red, green and blue tables sharing one input range. PS3.3 C.7.6.3.1.5."""

    first_mapped: int
    tables: np.ndarray  # (3, entries) uint8

    @property
    def nbytes(self) -> int:
        return int(self.tables.nbytes)

    def apply(self, indices: np.ndarray) -> np.ndarray:
        # Values below the first mapped value take the first entry, above the last take
        # the last (C.7.6.3.1.5).
        position = np.clip(
            indices.astype(np.int64, copy=False) - self.first_mapped, 0, self.tables.shape[1] - 1
        )
        rgb = np.empty((*indices.shape, 3), dtype=np.uint8)
        for channel in range(3):
            rgb[..., channel] = self.tables[channel][position]
        return rgb


def palette(header: ImageHeader) -> Palette:
    ds = header.meta
    tables = []
    first_mapped = 0
    for colour in ("Red", "Green", "Blue"):
        descriptor = ds.get(f"{colour}PaletteColorLookupTableDescriptor")
        if descriptor is None:
            raise InvalidImage(f"PALETTE COLOR image without a {colour} palette descriptor")
        entries, first_mapped, bits = descriptor_values(descriptor, signed_first=header.signed)
        segmented = ds.get(f"Segmented{colour}PaletteColorLookupTableData")
        if segmented is not None:
            data = expand_segmented(_words(segmented, header.little_endian), entries)
        else:
            data = table_data(
                ds.get(f"{colour}PaletteColorLookupTableData"), entries, bits, header.little_endian
            )
        # PS3.3 C.7.6.3.1.5: entries are 8 or 16 bits, as the descriptor says.
        tables.append(scale_to_8bit(data, 16 if bits > 8 else 8))
    lengths = {len(table) for table in tables}
    if len(lengths) != 1:
        raise InvalidImage("the red, green and blue palettes have different lengths")
    return Palette(first_mapped=first_mapped, tables=np.stack(tables))


def expand_segmented(words: np.ndarray, entries: int) -> np.ndarray:
    """Expand Segmented Palette Color LUT Data (PS3.3 C.7.9.2) into ``entries`` values."""
    out: list[np.ndarray] = []
    # State shared down the recursion: entries produced so far, and a budget of segments
    # read, so nested indirect segments cannot make a small file cost unbounded work.
    state = [0, len(words) + 4 * entries]
    _expand(words.tolist(), 0, out, state, entries, depth=0, segments=None)
    if not out:
        raise InvalidImage("the segmented palette is empty")
    data = np.concatenate(out)
    if len(data) < entries:
        raise InvalidImage(f"the segmented palette expands to {len(data)} of {entries} entries")
    return data[:entries]


def _expand(
    values: list[int],
    position: int,
    out: list[np.ndarray],
    state: list[int],
    entries: int,
    depth: int,
    segments: int | None,
) -> None:
    """Append the expanded segments from ``position`` to ``out``."""
    end = len(values)
    done = 0
    while position + 1 < end and (segments is None or done < segments) and state[0] < entries:
        state[1] -= 1
        if state[1] < 0:
            raise InvalidImage("the segmented palette has too many segments")
        opcode, length = values[position], values[position + 1]
        position += 2
        part: np.ndarray | None
        if opcode == 0:  # C.7.9.2.1 discrete: the next `length` words are entries
            part = np.asarray(values[position : position + length], dtype=np.int64)
            position += length
        elif opcode == 1:  # C.7.9.2.2 linear: from the previous entry to y1 in `length` steps
            if not out or position >= end:
                raise InvalidImage("a linear palette segment has no start value or is cut short")
            y0, y1 = float(out[-1][-1]), float(values[position])
            position += 1
            steps = np.arange(1, length + 1, dtype=np.float64)
            part = np.rint(y0 + (y1 - y0) * steps / max(length, 1)).astype(np.int64)
        elif opcode == 2:  # C.7.9.2.3 indirect: copy `length` segments found at an offset
            if depth >= _MAX_SEGMENT_DEPTH or position + 1 >= end:
                raise InvalidImage("indirect palette segments are nested too deep or cut short")
            # Offset least significant word first, counted in words from the start of the
            # data, as GDCM and pydicom read it.
            offset = values[position] | (values[position + 1] << 16)
            position += 2
            _expand(values, offset, out, state, entries, depth + 1, length)
            part = None
        else:
            raise InvalidImage(f"unknown segmented palette opcode {opcode}")
        if part is not None and len(part):
            out.append(np.asarray(part, dtype=np.int64))
            state[0] += len(part)
        done += 1


def _words(value: object, little_endian: bool) -> np.ndarray:
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)[: len(value) // 2 * 2]
        return np.frombuffer(raw, dtype="<u2" if little_endian else ">u2").astype(np.int64)
    return np.asarray(list(value), dtype=np.int64)  # type: ignore[call-overload]
