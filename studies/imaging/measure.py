"""Measurements on the raw data, never on display pixels.

Values are modality values (stored value through the Modality LUT, PS3.3 C.11.1: Hounsfield
units for CT); lengths and areas use the spacing the image declares. Coordinates are image
pixel coordinates: pixel (column c, row r) covers [c, c+1) × [r, r+1), so its centre is at
(c + 0.5, r + 0.5); a shape contains the pixels whose centres it contains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import InvalidRequest, NotMeasurable
from .header import ImageHeader
from .modality_lut import ModalityLut


@dataclass(frozen=True)
class Spacing:
    """Physical size of a pixel in mm: between rows (vertical) and between columns."""

    row_mm: float
    column_mm: float
    source: str  # the attribute it came from
    calibrated: bool
    note: str = ""


@dataclass(frozen=True)
class Rectangle:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Ellipse:
    center_x: float
    center_y: float
    radius_x: float
    radius_y: float


@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]


Shape = Rectangle | Ellipse | Polygon


@dataclass(frozen=True)
class PixelValue:
    column: int
    row: int
    stored: float | tuple[int, ...]
    value: float | None  # modality value; None for colour pixels
    unit: str


@dataclass(frozen=True)
class RoiStatistics:
    pixels: int
    mean: float
    std: float  # population standard deviation
    min: float
    max: float
    unit: str
    area_pixels: float  # geometric area of the shape in pixel units
    area_mm2: float | None
    spacing: Spacing | None


@dataclass(frozen=True)
class Distance:
    pixels: float
    mm: float | None
    spacing: Spacing | None


def pixel_spacing(header: ImageHeader, frame: int) -> Spacing | None:
    """The spacing that applies to ``frame``, with how far it can be trusted.

    PS3.3 10.7.1.3: Pixel Spacing (0028,0030) is the distance in the patient between pixel
    centres, row spacing first. Enhanced images carry it in the Pixel Measures functional
    group (C.7.6.16.2.1). Imager Pixel Spacing (0018,1164) is measured at the detector
    (10.7.1.1): without a correction for geometric magnification, lengths in the patient
    are overstated, so it is reported as uncalibrated.
    """
    measures = header.frame_item(frame, "PixelMeasuresSequence")
    for source, keyword, calibrated, note in (
        (measures, "PixelSpacing", True, ""),
        (header.meta, "PixelSpacing", True, ""),
        (
            header.meta,
            "ImagerPixelSpacing",
            False,
            "Imager Pixel Spacing: measured at the detector plane, not corrected for "
            "magnification (uncalibrated, PS3.3 10.7.1.1)",
        ),
    ):
        if source is None:
            continue
        values = _pair(source.get(keyword))
        if values is not None:
            return Spacing(values[0], values[1], keyword, calibrated, note)
    return None


def value_at(
    stored: np.ndarray, modality: ModalityLut | None, column: int, row: int
) -> tuple[float | tuple[int, ...], float | None]:
    sample = stored[row, column]
    if modality is None or np.ndim(sample) > 0:
        return tuple(int(v) for v in np.atleast_1d(sample)), None
    number = float(sample)
    return number, float(modality.apply(np.array([sample]))[0])


def locate(x: float, y: float, rows: int, columns: int) -> tuple[int, int]:
    """The (column, row) of the pixel containing image point (x, y)."""
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidRequest("the point must have finite coordinates")
    column, row = math.floor(x), math.floor(y)
    if not (0 <= column < columns and 0 <= row < rows):
        raise InvalidRequest(f"point ({x:g}, {y:g}) is outside the {columns}×{rows} image")
    return column, row


def roi_statistics(
    stored: np.ndarray, modality: ModalityLut, shape: Shape, spacing: Spacing | None
) -> RoiStatistics:
    if stored.ndim != 2:
        raise NotMeasurable("ROI statistics need a grayscale image; this one is colour")
    rows, columns = stored.shape
    top, left, mask = shape_mask(shape, rows, columns)
    if mask is None or not mask.any():
        raise NotMeasurable("the region contains no pixel centre of the image")
    window = stored[top : top + mask.shape[0], left : left + mask.shape[1]]
    values = modality.apply(window[mask]).astype(np.float64)
    area_pixels = shape_area(shape)
    area_mm2 = area_pixels * spacing.row_mm * spacing.column_mm if spacing else None
    return RoiStatistics(
        pixels=int(values.size),
        mean=float(values.mean()),
        std=float(values.std()),
        min=float(values.min()),
        max=float(values.max()),
        unit=modality.unit,
        area_pixels=area_pixels,
        area_mm2=area_mm2,
        spacing=spacing,
    )


def distance(
    start: tuple[float, float], end: tuple[float, float], spacing: Spacing | None
) -> Distance:
    dx, dy = end[0] - start[0], end[1] - start[1]
    if not (math.isfinite(dx) and math.isfinite(dy)):
        raise InvalidRequest("the points must have finite coordinates")
    millimetres = math.hypot(dx * spacing.column_mm, dy * spacing.row_mm) if spacing else None
    return Distance(pixels=math.hypot(dx, dy), mm=millimetres, spacing=spacing)


def shape_area(shape: Shape) -> float:
    if isinstance(shape, Rectangle):
        return abs(shape.width * shape.height)
    if isinstance(shape, Ellipse):
        return math.pi * abs(shape.radius_x * shape.radius_y)
    points = np.asarray(shape.points, dtype=np.float64)
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)  # shoelace


def shape_mask(shape: Shape, rows: int, columns: int) -> tuple[int, int, np.ndarray | None]:
    """(top, left, mask) over the shape's bounding box clipped to the image."""
    _check_shape(shape)
    x0, y0, x1, y1 = _bounds(shape)
    left, top = max(math.floor(x0), 0), max(math.floor(y0), 0)
    right, bottom = min(math.ceil(x1), columns), min(math.ceil(y1), rows)
    if right <= left or bottom <= top:
        return top, left, None
    cx = np.arange(left, right, dtype=np.float64)[np.newaxis, :] + 0.5
    cy = np.arange(top, bottom, dtype=np.float64)[:, np.newaxis] + 0.5
    if isinstance(shape, Rectangle):
        mask = (cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)
    elif isinstance(shape, Ellipse):
        u = (cx - shape.center_x) / shape.radius_x
        v = (cy - shape.center_y) / shape.radius_y
        mask = u * u + v * v <= 1.0
    else:
        mask = _inside_polygon(shape.points, cx, cy)
    return top, left, np.broadcast_to(mask, (bottom - top, right - left))


def _inside_polygon(
    points: tuple[tuple[float, float], ...], cx: np.ndarray, cy: np.ndarray
) -> np.ndarray:
    """Even-odd rule by ray casting, one edge at a time over the whole grid."""
    inside = np.zeros(np.broadcast_shapes(cx.shape, cy.shape), dtype=bool)
    count = len(points)
    for index in range(count):
        (xi, yi), (xj, yj) = points[index], points[(index - 1) % count]
        if yi == yj:
            continue
        crosses = (yi > cy) != (yj > cy)
        x_cross = (xj - xi) * (cy - yi) / (yj - yi) + xi
        inside ^= crosses & (cx < x_cross)
    return inside


def _check_shape(shape: Shape) -> None:
    if isinstance(shape, Rectangle):
        numbers = [shape.x, shape.y, shape.width, shape.height]
        if shape.width <= 0 or shape.height <= 0:
            raise InvalidRequest("a rectangle needs a positive width and height")
    elif isinstance(shape, Ellipse):
        numbers = [shape.center_x, shape.center_y, shape.radius_x, shape.radius_y]
        if shape.radius_x <= 0 or shape.radius_y <= 0:
            raise InvalidRequest("an ellipse needs positive radii")
    elif isinstance(shape, Polygon):
        if len(shape.points) < 3:
            raise InvalidRequest("a polygon needs at least three points")
        numbers = [coordinate for point in shape.points for coordinate in point]
    else:
        raise InvalidRequest(f"unknown shape {type(shape).__name__}")
    if not all(math.isfinite(number) for number in numbers):
        raise InvalidRequest("shape coordinates must be finite numbers")


def _bounds(shape: Shape) -> tuple[float, float, float, float]:
    if isinstance(shape, Rectangle):
        return shape.x, shape.y, shape.x + shape.width, shape.y + shape.height
    if isinstance(shape, Ellipse):
        return (
            shape.center_x - shape.radius_x,
            shape.center_y - shape.radius_y,
            shape.center_x + shape.radius_x,
            shape.center_y + shape.radius_y,
        )
    xs = [point[0] for point in shape.points]
    ys = [point[1] for point in shape.points]
    return min(xs), min(ys), max(xs), max(ys)


def _pair(value: object) -> tuple[float, float] | None:
    if value is None or isinstance(value, str | bytes):
        return None
    try:
        first, second = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    if not (first > 0 and second > 0 and math.isfinite(first) and math.isfinite(second)):
        return None
    return first, second
