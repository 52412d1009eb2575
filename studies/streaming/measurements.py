"""``measure`` requests answered by the imaging library, as ``measurement`` messages.

Blocking (it may decode the frame): the consumer runs ``measure`` in a render thread. All
numbers come from the raw data through the imaging library (modality values such as HU,
lengths and areas from the spacing the image declares); only the angle is worked out here,
in millimetres when the spacing is known, so that non-square pixels give the true angle.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from studies.imaging import Ellipse, Polygon, Rectangle, Renderer, Spacing
from studies.imaging.errors import InvalidRequest

from .protocol import Measure


def measure(renderer: Renderer, path: Path, request: Measure) -> dict[str, Any]:
    answer: dict[str, Any] = {"type": "measurement", "request": request.request}
    answer["kind"] = request.kind
    if request.kind == "point":
        ((x, y),) = request.points
        value = renderer.pixel_value(path, request.frame, x, y)
        stored = value.stored if isinstance(value.stored, float) else list(value.stored)
        answer.update(
            column=value.column,
            row=value.row,
            stored=stored,
            # Colour pixels have no modality value (PS3.3 C.11.1 is for grayscale): null.
            value=value.value,
            unit=value.unit,
        )
        return answer
    if request.kind in ("line", "angle"):
        spacing = renderer.frame_info(path, request.frame).pixel_spacing
        if request.kind == "line":
            start, end = request.points
            distance = renderer.distance(path, request.frame, start, end)
            answer["length_px"] = distance.pixels
            if distance.mm is not None:
                answer["length_mm"] = distance.mm
        else:
            answer["degrees"] = angle(request.points, spacing)
        answer["note"] = spacing.note if spacing else "uncalibrated: the image declares no spacing"
        return answer
    statistics = renderer.roi_statistics(path, request.frame, _shape(request))
    answer.update(
        mean=statistics.mean,
        sd=statistics.std,
        min=statistics.min,
        max=statistics.max,
        pixels=statistics.pixels,
        unit=statistics.unit,
        area_px=statistics.area_pixels,
    )
    if statistics.area_mm2 is not None:
        answer["area_mm2"] = statistics.area_mm2
    spacing = statistics.spacing
    answer["note"] = spacing.note if spacing else "uncalibrated: the image declares no spacing"
    return answer


def angle(points: tuple[tuple[float, float], ...], spacing: Spacing | None) -> float:
    """The angle at the middle point, in degrees (0 to 180)."""
    (ax, ay), (vx, vy), (bx, by) = points
    # PS3.3 10.7.1.3: Pixel Spacing is row spacing (along y) first, then column spacing.
    sx, sy = (spacing.column_mm, spacing.row_mm) if spacing else (1.0, 1.0)
    ux, uy = (ax - vx) * sx, (ay - vy) * sy
    wx, wy = (bx - vx) * sx, (by - vy) * sy
    if (ux == 0 and uy == 0) or (wx == 0 and wy == 0):
        raise InvalidRequest("an angle needs both arms to have a length")
    return math.degrees(math.atan2(abs(ux * wy - uy * wx), ux * wx + uy * wy))


def _shape(request: Measure) -> Rectangle | Ellipse | Polygon:
    if request.kind == "polygon":
        return Polygon(request.points)
    assert request.box is not None  # the parser sets it for these kinds
    x, y, width, height = request.box
    if request.kind == "rectangle":
        return Rectangle(x, y, width, height)
    return Ellipse(x + width / 2, y + height / 2, width / 2, height / 2)
