"""Stage 2: stored values → modality values (e.g. Hounsfield units). PS3.3 C.11.1.

Either a linear rescale (Rescale Slope and Intercept, C.11.1.1.2) or a Modality LUT Sequence
(C.11.1.1.1), never both (C.11.1 forbids it; a table wins if a file has both). Enhanced
multi-frame images carry the rescale per frame in the Pixel Value Transformation functional
group (C.7.6.16.2.9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from .errors import InvalidImage
from .header import ImageHeader
from .luts import LutTable, read_lut


@dataclass(frozen=True)
class ModalityLut:
    slope: float = 1.0
    intercept: float = 0.0
    table: LutTable | None = None
    # Units of the output: Rescale Type (0028,1054) or Modality LUT Type (0028,3004); a CT
    # rescale gives Hounsfield units (C.8.2.1.1.x: "HU" when Rescale Type is absent).
    unit: str = ""

    @property
    def is_identity(self) -> bool:
        return self.table is None and self.slope == 1.0 and self.intercept == 0.0

    @property
    def is_integral(self) -> bool:
        """True when integer stored values stay integers (a table, or integer rescale)."""
        if self.table is not None:
            return True
        return self.slope.is_integer() and self.intercept.is_integer()

    def apply(self, stored: np.ndarray) -> np.ndarray:
        """Modality values as float64 (or the table's integers)."""
        if self.table is not None:
            return self.table.lookup(stored)
        values = np.asarray(stored, dtype=np.float64)
        if self.is_identity:
            return values
        # PS3.3 C.11.1.1.2: output units = m * SV + b.
        return values * self.slope + self.intercept


def modality_lut(header: ImageHeader, frame: int) -> ModalityLut:
    ds = header.meta
    sequence = ds.get("ModalityLUTSequence")
    if sequence:
        item = sequence[0]
        table = read_lut(
            item,
            "LUTData",
            signed_first=header.signed,
            little_endian=header.little_endian,
            explanation=str(item.get("LUTExplanation", "") or ""),
        )
        return ModalityLut(table=table, unit=str(item.get("ModalityLUTType", "") or ""))
    source: Dataset = header.frame_item(frame, "PixelValueTransformationSequence") or ds
    slope = _number(source, "RescaleSlope", 1.0)
    intercept = _number(source, "RescaleIntercept", 0.0)
    if slope == 0.0:
        raise InvalidImage("Rescale Slope is 0: every pixel would have the same value")
    unit = str(source.get("RescaleType", "") or "")
    if not unit and header.modality == "CT" and "RescaleIntercept" in source:
        unit = "HU"
    return ModalityLut(slope=slope, intercept=intercept, unit=unit)


def _number(ds: Dataset, keyword: str, default: float) -> float:
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    if not isinstance(value, str | int | float):  # multi-valued: take the first
        value = list(value)[0] if len(value) else default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidImage(f"{keyword} {value!r} is not a number")
    if not math.isfinite(number):
        raise InvalidImage(f"{keyword} {value!r} is not a finite number")
    return number
