"""Server-side DICOM imaging: decode → modality LUT → VOI LUT → presentation/colour →
pyramid/tiles → encode, one module per stage, plus measurements on the raw data.

Pure numpy/pydicom: this package never imports Django (see ARCHITECTURE.md), so it can run
in any worker process. The module-level functions use one shared ``Renderer`` (its cache and
limits set with ``configure``); create your own ``Renderer`` for a separate cache.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from .cache import ByteLRU, CacheStats
from .encode import media_type
from .errors import (
    DecodeError,
    ImageTooLarge,
    ImagingError,
    InvalidImage,
    InvalidRequest,
    NoPixelData,
    NotMeasurable,
    UnsupportedImage,
)
from .measure import (
    Distance,
    Ellipse,
    PixelValue,
    Polygon,
    Rectangle,
    RoiStatistics,
    Shape,
    Spacing,
)
from .render import (
    DEFAULT_CACHE_BYTES,
    DEFAULT_TILE_SIZE,
    FrameInfo,
    Region,
    Renderer,
    VoiOption,
)
from .source import Limits, Source
from .voi_lut import LINEAR, LINEAR_EXACT, SIGMOID, Window

__all__ = [
    "LINEAR",
    "LINEAR_EXACT",
    "SIGMOID",
    "ByteLRU",
    "CacheStats",
    "DecodeError",
    "Distance",
    "Ellipse",
    "FrameInfo",
    "ImageTooLarge",
    "ImagingError",
    "InvalidImage",
    "InvalidRequest",
    "Limits",
    "NoPixelData",
    "NotMeasurable",
    "PixelValue",
    "Polygon",
    "Rectangle",
    "Region",
    "Renderer",
    "RoiStatistics",
    "Shape",
    "Source",
    "Spacing",
    "UnsupportedImage",
    "VoiOption",
    "Window",
    "configure",
    "default_renderer",
    "distance",
    "frame_info",
    "media_type",
    "pixel_value",
    "render",
    "render_async",
    "render_pixels",
    "render_tile",
    "render_tile_async",
    "roi_statistics",
]

_renderer = Renderer()


def configure(
    *,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    limits: Limits | None = None,
    tile_size: int = DEFAULT_TILE_SIZE,
    workers: int = 4,
    decode_processes: int = 0,
) -> Renderer:
    """Replace the shared renderer (e.g. from settings at start-up); returns it.

    A server with an event loop should set ``decode_processes`` (e.g. 2): the compressed-image
    codecs hold the GIL while they decode.
    """
    global _renderer
    old = _renderer
    _renderer = Renderer(
        cache_bytes=cache_bytes,
        limits=limits,
        tile_size=tile_size,
        workers=workers,
        decode_processes=decode_processes,
    )
    old.close()
    return _renderer


def default_renderer() -> Renderer:
    return _renderer


def frame_info(source: Source, frame: int = 0, *, cache_key: Hashable | None = None) -> FrameInfo:
    return _renderer.frame_info(source, frame, cache_key=cache_key)


def render(source: Source, frame: int = 0, **options: Any) -> bytes:
    """See ``Renderer.render``: window, voi_index, function, invert, region, output_size,
    format ("jpeg" or "png"), quality, overlays, cache_key."""
    return _renderer.render(source, frame, **options)


def render_pixels(source: Source, frame: int = 0, **options: Any) -> Any:
    return _renderer.render_pixels(source, frame, **options)


def render_tile(
    source: Source, frame: int, level: int, column: int, row: int, **options: Any
) -> bytes:
    return _renderer.render_tile(source, frame, level, column, row, **options)


async def render_async(source: Source, frame: int = 0, **options: Any) -> bytes:
    return await _renderer.render_async(source, frame, **options)


async def render_tile_async(
    source: Source, frame: int, level: int, column: int, row: int, **options: Any
) -> bytes:
    return await _renderer.render_tile_async(source, frame, level, column, row, **options)


def pixel_value(
    source: Source, frame: int, x: float, y: float, *, cache_key: Hashable | None = None
) -> PixelValue:
    return _renderer.pixel_value(source, frame, x, y, cache_key=cache_key)


def roi_statistics(
    source: Source, frame: int, shape: Shape, *, cache_key: Hashable | None = None
) -> RoiStatistics:
    return _renderer.roi_statistics(source, frame, shape, cache_key=cache_key)


def distance(
    source: Source,
    frame: int,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    cache_key: Hashable | None = None,
) -> Distance:
    return _renderer.distance(source, frame, start, end, cache_key=cache_key)
