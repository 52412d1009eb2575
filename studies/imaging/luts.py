"""Lookup tables as DICOM encodes them: a three-valued descriptor plus the table data.

The same encoding serves the Modality LUT (PS3.3 C.11.1.1.1), the VOI LUT (C.11.2.1.1) and the
Palette Color LUTs (C.7.6.3.1.5), so it is read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset

from .errors import InvalidImage


@dataclass(frozen=True, eq=False)
class LutTable:
    """A table mapping input values ``first_mapped .. first_mapped + len(data) - 1``."""

    first_mapped: int
    bits: int
    data: np.ndarray = field(repr=False)
    explanation: str = ""

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def max_output(self) -> int:
        """The largest value an entry can hold, from the descriptor's bit depth."""
        return (1 << self.bits) - 1

    def lookup(self, values: np.ndarray) -> np.ndarray:
        # PS3.3 C.11.1.1.1 / C.11.2.1.1: inputs below the first mapped value map to the first
        # entry, inputs above the last mapped value map to the last entry.
        index = np.rint(np.asarray(values, dtype=np.float64)) - self.first_mapped
        index = np.clip(index, 0, len(self) - 1).astype(np.intp)
        return self.data[index]


def descriptor_values(value: object, signed_first: bool) -> tuple[int, int, int]:
    """(entries, first mapped, bits) from a LUT Descriptor.

    PS3.3 C.11.1.1.1: 0 entries means 65536 (2^16); the first mapped value is signed (SS)
    when the values it maps are signed, but files often encode it as US, so 16-bit values
    at or above 2^15 are reinterpreted when the input is signed.
    """
    try:
        entries, first, bits = (int(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise InvalidImage(f"LUT Descriptor {value!r} is not three numbers")
    if entries == 0:
        entries = 65536
    if signed_first and first >= 1 << 15:
        first -= 1 << 16
    if entries < 0 or not 1 <= bits <= 16:
        raise InvalidImage(f"LUT Descriptor {value!r} has an impossible size or bit depth")
    return entries, first, bits


def table_data(value: object, entries: int, bits: int, little_endian: bool) -> np.ndarray:
    """The LUT Data as an array of ``entries`` integers.

    OW data is raw bytes in the file's byte order; 8-bit tables are sometimes packed two
    entries per 16-bit word (PS3.3 C.7.6.3.1.6 allows it for palettes), so a buffer of exactly
    ``entries`` bytes is read as bytes.
    """
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        if bits <= 8 and len(raw) == entries:
            data = np.frombuffer(raw, dtype=np.uint8)
        else:
            data = np.frombuffer(
                raw[: len(raw) - len(raw) % 2], dtype="<u2" if little_endian else ">u2"
            )
    elif value is None:
        data = np.zeros(0, dtype=np.int64)
    else:
        items = [value] if isinstance(value, int) else list(value)  # type: ignore[call-overload]
        data = np.asarray(items, dtype=np.int64)
    if data.shape[0] < entries:
        raise InvalidImage(
            f"LUT Data has {data.shape[0]} entries but the descriptor says {entries}"
        )
    return data[:entries].astype(np.int64)


def read_lut(
    item: Dataset, data_keyword: str, signed_first: bool, little_endian: bool, explanation: str = ""
) -> LutTable:
    """A LUT from an item holding LUTDescriptor (0028,3002) and ``data_keyword``."""
    entries, first, bits = descriptor_values(item.get("LUTDescriptor"), signed_first)
    data = table_data(item.get(data_keyword), entries, bits, little_endian)
    return LutTable(first_mapped=first, bits=bits, data=data, explanation=explanation)
