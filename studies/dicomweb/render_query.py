"""The query parameters of rendered and thumbnail resources (PS3.18 8.3.5.1), parsed.

``window=center,width[,function]`` (8.3.5.1.2; function ``linear``, ``linear-exact`` or
``sigmoid``, PS3.3 C.11.2.1.3), ``viewport=vw,vh[,sx,sy,sw,sh]`` (8.3.5.1.3) and
``quality=1..100`` (8.3.5.1.4). Thumbnails (PS3.18 10.4.1.1.4) take only ``viewport``.
Parameters we do not implement (``annotation``, ``iccprofile``, ``charset``) and unknown ones
are ignored with a Warning, so a client that asks for more still gets an image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from studies.imaging.voi_lut import FUNCTIONS

DEFAULT_QUALITY = 90
# Thumbnails without a viewport fit in this square (the size is ours to choose).
THUMBNAIL_SIZE = 128
_MAX_VIEWPORT = 16384
_RENDERED_KEYS = frozenset({"window", "viewport", "quality", "accept"})
_THUMBNAIL_KEYS = frozenset({"viewport", "accept"})


class InvalidRenderQuery(ValueError):
    """A parameter value that does not follow PS3.18 8.3.5.1 (answer 400)."""


@dataclass(frozen=True)
class Viewport:
    width: int
    height: int
    # The source region (image pixels); None means from 0 / to the image's edge.
    x: float | None = None
    y: float | None = None
    region_width: float | None = None  # negative: flip horizontally
    region_height: float | None = None  # negative: flip vertically

    @property
    def has_region(self) -> bool:
        return any(v is not None for v in (self.x, self.y, self.region_width, self.region_height))

    def region(self, columns: int, rows: int) -> tuple[float, float, float, float]:
        """(x, y, width, height) of the source region within a ``columns``×``rows`` image."""
        x = self.x or 0.0
        y = self.y or 0.0
        width = abs(self.region_width) if self.region_width else columns - x
        height = abs(self.region_height) if self.region_height else rows - y
        return x, y, width, height

    @property
    def flip_horizontal(self) -> bool:
        return (self.region_width or 0) < 0

    @property
    def flip_vertical(self) -> bool:
        return (self.region_height or 0) < 0


@dataclass(frozen=True)
class RenderQuery:
    window: tuple[float, float] | None = None
    function: str | None = None  # as the imaging library names it, e.g. LINEAR_EXACT
    viewport: Viewport | None = None
    quality: int = DEFAULT_QUALITY
    ignored: tuple[str, ...] = field(default=())

    def canonical(self) -> str:
        """A stable text of what changes the pixels (part of the ETag)."""
        return repr((self.window, self.function, self.viewport, self.quality))


def parse(params: Mapping[str, str], *, thumbnail: bool = False) -> RenderQuery:
    known = _THUMBNAIL_KEYS if thumbnail else _RENDERED_KEYS
    ignored = tuple(sorted(key for key in params if key not in known))
    window = function = None
    quality = DEFAULT_QUALITY
    if not thumbnail:
        if "window" in params:
            window, function = parse_window(params["window"])
        if "quality" in params:
            quality = parse_quality(params["quality"])
    viewport = parse_viewport(params["viewport"]) if "viewport" in params else None
    if thumbnail and viewport is None:
        viewport = Viewport(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    return RenderQuery(window, function, viewport, quality, ignored)


def parse_window(value: str) -> tuple[tuple[float, float], str | None]:
    parts = [part.strip() for part in value.split(",")]
    if len(parts) not in (2, 3):
        raise InvalidRenderQuery(f"window={value!r} is not center,width,function")
    center, width = (_number(part, "window") for part in parts[:2])
    function = None
    if len(parts) == 3 and parts[2]:
        function = parts[2].upper().replace("-", "_")
        if function not in FUNCTIONS:
            raise InvalidRenderQuery(
                f"window function {parts[2]!r} is not linear, linear-exact or sigmoid"
            )
    return (center, width), function


def parse_viewport(value: str) -> Viewport:
    parts = [part.strip() for part in value.split(",")]
    if len(parts) not in (2, 6):
        raise InvalidRenderQuery(f"viewport={value!r} is not vw,vh or vw,vh,sx,sy,sw,sh")
    width, height = (_size(part) for part in parts[:2])
    if len(parts) == 2:
        return Viewport(width, height)
    x, y, region_width, region_height = (
        _number(part, "viewport") if part else None for part in parts[2:]
    )
    if (x is not None and x < 0) or (y is not None and y < 0):
        raise InvalidRenderQuery("viewport sx and sy cannot be negative")
    if region_width == 0 or region_height == 0:
        raise InvalidRenderQuery("viewport sw and sh cannot be 0")
    return Viewport(width, height, x, y, region_width, region_height)


def parse_quality(value: str) -> int:
    try:
        quality = int(value)
    except ValueError:
        raise InvalidRenderQuery(f"quality={value!r} is not a whole number")
    if not 1 <= quality <= 100:
        raise InvalidRenderQuery(f"quality={quality} is not between 1 and 100")
    return quality


def _number(text: str, name: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise InvalidRenderQuery(f"{name} value {text!r} is not a number")
    if not math.isfinite(number):
        raise InvalidRenderQuery(f"{name} value {text!r} is not a finite number")
    return number


def _size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        raise InvalidRenderQuery(f"viewport size {text!r} is not a whole number")
    if not 1 <= size <= _MAX_VIEWPORT:
        raise InvalidRenderQuery(f"viewport size {size} is not between 1 and {_MAX_VIEWPORT}")
    return size
