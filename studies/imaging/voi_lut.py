"""Stage 3: modality values → values of interest, normalised to 0..1. PS3.3 C.11.2.

A VOI is either a window (Window Center/Width with a VOI LUT Function, C.11.2.1.2 and
C.11.2.1.3) or a table from the VOI LUT Sequence (C.11.2.1.1). A file may offer several of
each; they are numbered windows first, then tables, which is the order ``voi_index`` uses.
When a file offers none, the window spans the frame's own range (ignoring padding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from .errors import InvalidImage, InvalidRequest
from .header import ImageHeader
from .luts import LutTable, read_lut

LINEAR = "LINEAR"
LINEAR_EXACT = "LINEAR_EXACT"
SIGMOID = "SIGMOID"
FUNCTIONS = (LINEAR, LINEAR_EXACT, SIGMOID)


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: str = LINEAR
    explanation: str = ""

    def __post_init__(self) -> None:
        if self.function not in FUNCTIONS:
            raise InvalidRequest(
                f"VOI LUT Function {self.function!r} is not one of {', '.join(FUNCTIONS)}"
            )
        if not (math.isfinite(self.center) and math.isfinite(self.width)):
            raise InvalidRequest("window center and width must be finite numbers")
        # PS3.3 C.11.2.1.2.1: LINEAR needs a width of at least 1; C.11.2.1.3.1/2: SIGMOID and
        # LINEAR_EXACT need a width above 0.
        if self.function == LINEAR and self.width < 1:
            raise InvalidRequest(f"a LINEAR window needs a width ≥ 1, not {self.width:g}")
        if self.width <= 0:
            raise InvalidRequest(f"a {self.function} window needs a width > 0, not {self.width:g}")

    @property
    def kind(self) -> str:
        return "window"


@dataclass(frozen=True)
class VoiTable:
    table: LutTable

    @property
    def kind(self) -> str:
        return "lut"

    @property
    def explanation(self) -> str:
        return self.table.explanation


Voi = Window | VoiTable


def apply_voi(values: np.ndarray, voi: Voi) -> np.ndarray:
    """VOI output scaled to 0..1 (ymin = 0, ymax = 1 in the formulas of C.11.2.1)."""
    x = np.asarray(values, dtype=np.float64)
    if isinstance(voi, VoiTable):
        return voi.table.lookup(x) / float(voi.table.max_output)
    c, w = voi.center, voi.width
    if voi.function == SIGMOID:
        # C.11.2.1.3.1: y = (ymax - ymin) / (1 + exp(-4 (x - c) / w)) + ymin
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
    if voi.function == LINEAR_EXACT:
        # C.11.2.1.3.2: ymin if x <= c - w/2; ymax if x > c + w/2;
        # else ((x - c) / w + 0.5) (ymax - ymin) + ymin
        y = (x - c) / w + 0.5
        y[x <= c - w / 2] = 0.0
        y[x > c + w / 2] = 1.0
        return y
    # C.11.2.1.2.1: ymin if x <= c - 0.5 - (w-1)/2; ymax if x > c - 0.5 + (w-1)/2;
    # else ((x - (c - 0.5)) / (w-1) + 0.5) (ymax - ymin) + ymin
    low = c - 0.5 - (w - 1) / 2
    high = c - 0.5 + (w - 1) / 2
    if w == 1:  # the ramp is empty: a threshold
        return (x > high).astype(np.float64)
    y = (x - (c - 0.5)) / (w - 1) + 0.5
    y[x <= low] = 0.0
    y[x > high] = 1.0
    return y


def file_vois(header: ImageHeader, frame: int) -> list[Voi]:
    """The windows, then the VOI LUTs, that the file offers for ``frame``."""
    source: Dataset = header.frame_item(frame, "FrameVOILUTSequence") or header.meta
    vois: list[Voi] = list(_windows(source))
    for item in header.meta.get("VOILUTSequence") or []:
        try:
            table = read_lut(
                item,
                "LUTData",
                # The table maps modality values: signed when the stored values are, or when
                # a rescale can make them negative.
                signed_first=header.signed or _may_be_negative(header.meta),
                little_endian=header.little_endian,
                explanation=str(item.get("LUTExplanation", "") or ""),
            )
        except InvalidImage:
            continue  # a broken optional table must not hide the image; the others remain
        if len(table):
            vois.append(VoiTable(table))
    return vois


def window_over_range(low: float, high: float, integral: bool = True) -> Window:
    """The window mapping ``low`` to black and ``high`` to white.

    For integer values, LINEAR with c = (low + high + 1) / 2 and w = high - low + 1: the
    C.11.2.1.2.1 formula then becomes y = (x - low) / (high - low), DCMTK's min-max window,
    and a viewer sending the same (c, w) back gets the same image. For fractional values
    (float pixels, fractional rescale) the "+1" would be a whole unit too wide:
    LINEAR_EXACT (C.11.2.1.3.2) with c = (low + high) / 2 and w = high - low.
    """
    low, high = float(low), float(high)
    if integral:
        return Window((low + high + 1.0) / 2.0, high - low + 1.0, LINEAR, "data range")
    width = high - low if high > low else 1.0
    return Window((low + high) / 2.0, width, LINEAR_EXACT, "data range")


def _windows(source: Dataset) -> list[Window]:
    centers = _numbers(source.get("WindowCenter"))
    widths = _numbers(source.get("WindowWidth"))
    explanations = _texts(source.get("WindowCenterWidthExplanation"))
    function = str(source.get("VOILUTFunction", "") or LINEAR).strip().upper() or LINEAR
    if function not in FUNCTIONS:
        function = LINEAR  # C.11.2.1.3: an unknown function is treated as the default
    windows = []
    for index, (center, width) in enumerate(zip(centers, widths, strict=False)):
        if center is None or width is None:
            continue
        explanation = explanations[index] if index < len(explanations) else ""
        try:
            windows.append(Window(center, width, function, explanation))
        except InvalidRequest:
            continue  # a window of width 0 in a file is unusable; keep the others
    return windows


def _numbers(value: object) -> list[float | None]:
    if value is None or value == "":
        return []
    items = [value] if isinstance(value, str | int | float) else list(value)  # type: ignore[call-overload]
    numbers: list[float | None] = []
    for item in items:
        try:
            number = float(item)
        except (TypeError, ValueError):
            number = None
        numbers.append(number if number is not None and math.isfinite(number) else None)
    return numbers


def _texts(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]  # type: ignore[attr-defined]


def _may_be_negative(ds: Dataset) -> bool:
    try:
        return float(ds.get("RescaleIntercept", 0) or 0) < 0
    except (TypeError, ValueError):
        return False
