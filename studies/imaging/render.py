"""The public face of the pipeline: frame info, rendering, tiles and measurements.

A ``Renderer`` owns a byte-bounded cache and the limits. Per source it caches the checked
header; per frame the decoded frame in its display-ready form (stored values for grayscale,
8-bit RGB for colour) with its stored-value range, VOIs and overlay mask; and, lazily, the
pyramid levels of that frame. A request then costs: pick the pyramid level that matches the
output resolution, resample only the requested region to the output size, one table lookup
(grayscale), overlays, encode.

Sources given as paths are cached under (path, mtime, size, inode); in-memory data sets and
bytes are cached only when the caller names them with ``cache_key``.
"""

from __future__ import annotations

import asyncio
import functools
import math
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset

from . import color, jpeg_join, pyramid
from .cache import ByteLRU
from .decode import check_frame_index, decode_frame
from .encode import encode, normalise_format
from .errors import InvalidRequest, NotMeasurable
from .grayscale import data_window, gray8_lookup
from .header import ImageHeader, read_header
from .measure import (
    Distance,
    PixelValue,
    RoiStatistics,
    Shape,
    Spacing,
    locate,
    pixel_spacing,
    roi_statistics,
    value_at,
)
from .measure import distance as measure_distance
from .modality_lut import ModalityLut, modality_lut
from .overlays import burn, overlay_mask
from .presentation import inverts
from .source import Limits, Source, load_dataset, source_key
from .voi_lut import LINEAR, Voi, VoiTable, Window, file_vois

T = TypeVar("T")
U = TypeVar("U")

DEFAULT_CACHE_BYTES = 512 * 1024**2
DEFAULT_TILE_SIZE = 256
# A JPEG this large is encoded in two halves at once (``Renderer._jpeg_in_two_halves``):
# below it, the thread hand-off and the second encoder's set-up eat the time saved.
SPLIT_MIN_PIXELS = 256 * 256
_PRIVATE_CACHE_BYTES = 1024**3  # one call on an uncached source: lives only for that call
# Display tables kept for windows shown again (``Renderer._lookup``), at most 64 KiB each.
# Few, and apart from the frame cache: a drag makes a new table at every step, which would
# otherwise push decoded frames out of it. In-process, 512² CT: display() of a window shown
# again 28 µs against 86-98 µs when its table is built.
TABLES_KEPT = 16


@dataclass(frozen=True)
class Region:
    """A rectangle in full-resolution image pixels: x, y of the top-left corner, size."""

    x: float
    y: float
    width: float
    height: float

    @classmethod
    def coerce(cls, value: Region | tuple[float, float, float, float]) -> Region:
        if isinstance(value, Region):
            return value
        try:
            x, y, width, height = (float(v) for v in value)
        except (TypeError, ValueError):
            raise InvalidRequest(f"region {value!r} is not (x, y, width, height)")
        return cls(x, y, width, height)


@dataclass(frozen=True)
class VoiOption:
    index: int
    kind: str  # "window" or "lut"
    center: float | None
    width: float | None
    function: str | None
    explanation: str


@dataclass(frozen=True)
class FrameInfo:
    """What a viewer needs before it asks for pixels (JSON-ready through ``as_dict``)."""

    frame: int
    number_of_frames: int
    rows: int
    columns: int
    samples_per_pixel: int
    photometric: str
    is_color: bool
    bits_stored: int
    signed: bool
    transfer_syntax: str
    modality: str
    unit: str
    inverted: bool  # the standard pipeline inverts (MONOCHROME1 or INVERSE shape)
    vois: tuple[VoiOption, ...]  # the file's windows then VOI LUTs; voi_index picks one
    default_window: tuple[float, float] | None  # what voi_index=0 shows, if it is a window
    default_function: str | None  # its VOI LUT Function
    stored_range: tuple[float, float] | None
    pixel_spacing: Spacing | None
    has_overlays: bool
    tile_size: int
    levels: tuple[tuple[int, int], ...]  # (rows, columns) of each pyramid level
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class _Image:
    header: ImageHeader
    dataset: Dataset | None  # kept only for in-memory sources

    @property
    def nbytes(self) -> int:
        return self.header.nbytes


@dataclass(frozen=True, eq=False)
class _Frame:
    """One decoded frame ready for display, plus everything derived from its header."""

    pixels: np.ndarray  # grayscale: stored values; colour: uint8 RGB
    gray: bool
    low: float  # stored-value range (grayscale)
    high: float
    modality: ModalityLut | None
    vois: tuple[Voi, ...]
    data_window: Window | None
    inverts: bool
    mask: np.ndarray | None
    spacing: Spacing | None

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes) + (0 if self.mask is None else int(self.mask.nbytes))


@dataclass
class _Context:
    """One call's view of a source: where its cache entries live, and the data set parsed
    during this call (so a cold render reads a file once, without the cache keeping the
    whole data set, pixel data included, for a file it can read again)."""

    cache: ByteLRU
    key: Hashable
    source: Source
    limits: Limits
    parsed: Dataset | None = None


class Renderer:
    def __init__(
        self,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        limits: Limits | None = None,
        tile_size: int = DEFAULT_TILE_SIZE,
        workers: int = 4,
        decode_processes: int = 0,
    ) -> None:
        """``workers`` threads serve the async API; with ``decode_processes`` > 0, compressed
        frames are decoded in that many worker processes (see ``decode.decode_frame``)."""
        if tile_size not in pyramid.TILE_SIZES:
            raise ValueError(f"tile size must be one of {pyramid.TILE_SIZES}")
        self.cache = ByteLRU(cache_bytes)
        self.limits = limits or Limits()
        self.tile_size = tile_size
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._decode_processes = decode_processes
        self._decoders: ProcessPoolExecutor | None = None
        self._decoders_lock = threading.Lock()
        self._halves: ThreadPoolExecutor | None = None  # the second core of a JPEG encode
        self._halves_lock = threading.Lock()
        self._encoding = 0  # renders between their lookup and their encoded answer
        self._tables: OrderedDict[Hashable, Callable[[np.ndarray], np.ndarray]] = OrderedDict()
        self._tables_lock = threading.Lock()

    # ----------------------------------------------------------------- information

    def frame_info(
        self, source: Source, frame: int = 0, *, cache_key: Hashable | None = None
    ) -> FrameInfo:
        context = self._context(source, cache_key)
        header = self._image(context).header
        data = self._frame(context, frame)
        vois = tuple(_voi_option(index, voi) for index, voi in enumerate(data.vois))
        shown = data.vois[0] if data.vois else data.data_window
        notes = [note for note in (header.frames_note,) if note]
        if data.spacing is not None and data.spacing.note:
            notes.append(data.spacing.note)
        levels = pyramid.level_count(header.rows, header.columns)
        return FrameInfo(
            frame=frame,
            number_of_frames=header.number_of_frames,
            rows=header.rows,
            columns=header.columns,
            samples_per_pixel=header.samples_per_pixel,
            photometric=header.photometric,
            is_color=not data.gray,
            bits_stored=header.bits_stored,
            signed=header.signed,
            transfer_syntax=str(header.transfer_syntax),
            modality=header.modality,
            unit=data.modality.unit if data.modality else "",
            inverted=data.inverts,
            vois=vois,
            default_window=(shown.center, shown.width) if isinstance(shown, Window) else None,
            default_function=shown.function if isinstance(shown, Window) else None,
            stored_range=(data.low, data.high) if data.gray else None,
            pixel_spacing=data.spacing,
            has_overlays=data.mask is not None,
            tile_size=self.tile_size,
            levels=tuple(
                pyramid.level_shape(header.rows, header.columns, level) for level in range(levels)
            ),
            notes=tuple(notes),
        )

    # ------------------------------------------------------------------- rendering

    def render(
        self,
        source: Source,
        frame: int = 0,
        *,
        window: tuple[float, float] | Window | None = None,
        voi_index: int = 0,
        function: str | None = None,
        invert: bool = False,
        region: Region | tuple[float, float, float, float] | None = None,
        output_size: tuple[int, int] | None = None,
        format: str = "jpeg",
        quality: int = 90,
        overlays: bool = True,
        cache_key: Hashable | None = None,
    ) -> bytes:
        """Encoded image of ``region`` (default: all) of ``frame``, fitted in ``output_size``."""
        format = normalise_format(format)
        display = self._prepare(
            source,
            frame,
            window=window,
            voi_index=voi_index,
            function=function,
            invert=invert,
            region=region,
            output_size=output_size,
            overlays=overlays,
            cache_key=cache_key,
        )
        rows, columns = display.pixels.shape[:2]
        with self._halves_lock:
            self._encoding += 1
            alone = self._encoding == 1
        try:
            # Two halves only while no other render of this renderer encodes: with the cores
            # busy anyway, the second encoder's set-up and the hand-off are only extra work.
            if (
                alone
                and format == "jpeg"
                and rows * columns >= SPLIT_MIN_PIXELS
                and jpeg_join.can_split(rows, columns)
            ):
                return self._jpeg_in_two_halves(display, rows, columns, quality)
            return encode(display.rows(0, rows), format, quality)
        finally:
            with self._halves_lock:
                self._encoding -= 1

    def render_pixels(
        self,
        source: Source,
        frame: int = 0,
        *,
        window: tuple[float, float] | Window | None = None,
        voi_index: int = 0,
        function: str | None = None,
        invert: bool = False,
        region: Region | tuple[float, float, float, float] | None = None,
        output_size: tuple[int, int] | None = None,
        overlays: bool = True,
        cache_key: Hashable | None = None,
    ) -> np.ndarray:
        """As ``render`` but the uint8 gray (rows, columns) or RGB (rows, columns, 3) array."""
        display = self._prepare(
            source,
            frame,
            window=window,
            voi_index=voi_index,
            function=function,
            invert=invert,
            region=region,
            output_size=output_size,
            overlays=overlays,
            cache_key=cache_key,
        )
        return display.rows(0, display.pixels.shape[0])

    def display(
        self,
        source: Source,
        frame: int = 0,
        *,
        window: tuple[float, float] | Window | None = None,
        voi_index: int = 0,
        function: str | None = None,
        invert: bool = False,
        region: Region | tuple[float, float, float, float] | None = None,
        output_size: tuple[int, int] | None = None,
        overlays: bool = True,
        cache_key: Hashable | None = None,
    ) -> Display:
        """``render_pixels`` before its per-pixel work: ``rows(start, stop)`` of the answer
        then cost one table lookup (and overlay burn) each. The viewer's full-resolution
        tiles are made this way, a band of tiles per thread (studies/streaming/progressive)."""
        return self._prepare(
            source,
            frame,
            window=window,
            voi_index=voi_index,
            function=function,
            invert=invert,
            region=region,
            output_size=output_size,
            overlays=overlays,
            cache_key=cache_key,
        )

    def in_two(self, first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
        """``first()`` in this thread and ``second()`` on the renderer's helper thread at once,
        as the two halves of a JPEG in ``render``: only while no other render of this
        renderer is encoding (with the cores busy anyway, the hand-off is only extra work);
        else both here, one after the other. Either one's exception is raised."""
        with self._halves_lock:
            self._encoding += 1
            alone = self._encoding == 1
        try:
            if not alone:
                return first(), second()
            pending = self._half_pool().submit(second)
            try:
                done_first = first()
            except BaseException:
                pending.cancel()
                raise
            # The helper may still be busy with another request's half: then this thread
            # does it rather than wait in line.
            return done_first, second() if pending.cancel() else pending.result()
        finally:
            with self._halves_lock:
                self._encoding -= 1

    def _prepare(
        self,
        source: Source,
        frame: int,
        *,
        window: tuple[float, float] | Window | None,
        voi_index: int,
        function: str | None,
        invert: bool,
        region: Region | tuple[float, float, float, float] | None,
        output_size: tuple[int, int] | None,
        overlays: bool,
        cache_key: Hashable | None,
    ) -> Display:
        """Everything of a render but the per-pixel work: the region's pixels at the output
        size (from the cached frame or pyramid level), their display lookup, the overlay
        mask; ``rows`` then makes any band of display rows."""
        context = self._context(source, cache_key)
        header = self._image(context).header
        data = self._frame(context, frame)
        area = _clip_region(region, header.rows, header.columns)
        width, height = self._output_size(area, output_size)
        scale = max(width / area.width, height / area.height)
        level = pyramid.level_for_scale(scale, pyramid.level_count(header.rows, header.columns))
        factor = float(1 << level)
        box = (
            area.x / factor,
            area.y / factor,
            (area.x + area.width) / factor,
            (area.y + area.height) / factor,
        )
        pixels = self._view(context, frame, data, level, box, (width, height))
        lookup = self._lookup(data, pixels.dtype, window, voi_index, function, invert)
        mask = None
        if overlays and data.mask is not None:
            full_box = (area.x, area.y, area.x + area.width, area.y + area.height)
            mask = _resample_mask(data.mask, full_box, (width, height))
        return Display(pixels, lookup, mask)

    def _jpeg_in_two_halves(self, display: Display, rows: int, columns: int, quality: int) -> bytes:
        """The JPEG of ``display``, its top and bottom halves looked up and encoded at once
        on two cores, joined at a restart marker (``jpeg_join``). Byte for byte another file
        than one encode of the whole, pixel for pixel the same image."""
        top = jpeg_join.top_rows(rows)

        def bottom_half() -> bytes:
            return encode(display.rows(top, rows), "jpeg", quality)

        pending = self._half_pool().submit(bottom_half)
        try:
            head = encode(display.rows(0, top), "jpeg", quality)
        except BaseException:
            pending.cancel()
            raise
        # The helper may still be busy with another request's half: then this thread does
        # it rather than wait in line.
        tail = bottom_half() if pending.cancel() else pending.result()
        joined = jpeg_join.join(head, tail, rows, columns)
        return joined if joined is not None else encode(display.rows(0, rows), "jpeg", quality)

    def _half_pool(self) -> ThreadPoolExecutor:
        with self._halves_lock:
            if self._halves is None:
                self._halves = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jpeg-half")
            return self._halves

    def render_tile(
        self,
        source: Source,
        frame: int,
        level: int,
        column: int,
        row: int,
        *,
        tile_size: int | None = None,
        window: tuple[float, float] | Window | None = None,
        voi_index: int = 0,
        function: str | None = None,
        invert: bool = False,
        format: str = "jpeg",
        quality: int = 90,
        overlays: bool = True,
        cache_key: Hashable | None = None,
    ) -> bytes:
        format = normalise_format(format)
        pixels = self.tile_pixels(
            source,
            frame,
            level,
            column,
            row,
            tile_size=tile_size,
            window=window,
            voi_index=voi_index,
            function=function,
            invert=invert,
            overlays=overlays,
            cache_key=cache_key,
        )
        return encode(pixels, format, quality)

    def tile_pixels(
        self,
        source: Source,
        frame: int,
        level: int,
        column: int,
        row: int,
        *,
        tile_size: int | None = None,
        window: tuple[float, float] | Window | None = None,
        voi_index: int = 0,
        function: str | None = None,
        invert: bool = False,
        overlays: bool = True,
        cache_key: Hashable | None = None,
    ) -> np.ndarray:
        """Tile (column, row) of pyramid ``level``: at most tile_size² pixels, edge tiles less."""
        size = tile_size or self.tile_size
        context = self._context(source, cache_key)
        header = self._image(context).header
        data = self._frame(context, frame)
        levels = pyramid.level_count(header.rows, header.columns)
        x, y, width, height = pyramid.tile_bounds(
            header.rows, header.columns, levels, level, size, column, row
        )
        pixels = self._level(context, frame, data, level)[y : y + height, x : x + width]
        display = self._display(data, pixels, window, voi_index, function, invert)
        if overlays and data.mask is not None:
            factor = 1 << level
            full_box = (
                x * factor,
                y * factor,
                min((x + width) * factor, header.columns),
                min((y + height) * factor, header.rows),
            )
            burn(display, _resample_mask(data.mask, full_box, (width, height)))
        return display

    # ---------------------------------------------------------------- measurement

    def pixel_value(
        self, source: Source, frame: int, x: float, y: float, *, cache_key: Hashable | None = None
    ) -> PixelValue:
        """The pixel under image point (x, y): stored and modality value (e.g. HU)."""
        data = self._frame(self._context(source, cache_key), frame)
        rows, columns = data.pixels.shape[:2]
        column, row = locate(x, y, rows, columns)
        stored, value = value_at(data.pixels, data.modality if data.gray else None, column, row)
        unit = data.modality.unit if data.gray and data.modality else ""
        return PixelValue(column=column, row=row, stored=stored, value=value, unit=unit)

    def roi_statistics(
        self, source: Source, frame: int, shape: Shape, *, cache_key: Hashable | None = None
    ) -> RoiStatistics:
        data = self._frame(self._context(source, cache_key), frame)
        if not data.gray or data.modality is None:
            raise NotMeasurable("ROI statistics need a grayscale image; this one is colour")
        return roi_statistics(data.pixels, data.modality, shape, data.spacing)

    def distance(
        self,
        source: Source,
        frame: int,
        start: tuple[float, float],
        end: tuple[float, float],
        *,
        cache_key: Hashable | None = None,
    ) -> Distance:
        context = self._context(source, cache_key)
        header = self._image(context).header
        check_frame_index(header, frame)
        return measure_distance(start, end, pixel_spacing(header, frame))

    # ---------------------------------------------------------- off the event loop

    async def render_async(self, *args: Any, **kwargs: Any) -> bytes:
        """``render`` in a worker thread, so an event loop keeps serving while it runs."""
        return await self._in_thread(self.render, *args, **kwargs)

    async def render_tile_async(self, *args: Any, **kwargs: Any) -> bytes:
        return await self._in_thread(self.render_tile, *args, **kwargs)

    async def frame_info_async(self, *args: Any, **kwargs: Any) -> FrameInfo:
        return await self._in_thread(self.frame_info, *args, **kwargs)

    async def _in_thread(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._workers, thread_name_prefix="imaging"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(function, *args, **kwargs)
        )

    def close(self) -> None:
        with self._halves_lock:
            if self._halves is not None:
                self._halves.shutdown(wait=False, cancel_futures=True)
                self._halves = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        with self._decoders_lock:
            if self._decoders is not None:
                self._decoders.shutdown(wait=False, cancel_futures=True)
                self._decoders = None

    def _decoder_pool(self) -> ProcessPoolExecutor | None:
        if self._decode_processes < 1:
            return None
        with self._decoders_lock:
            # A worker killed by a crashing codec breaks the whole pool: start a new one.
            if self._decoders is None or getattr(self._decoders, "_broken", False):
                if self._decoders is not None:
                    self._decoders.shutdown(wait=False, cancel_futures=True)
                self._decoders = ProcessPoolExecutor(
                    max_workers=self._decode_processes,
                    # spawn, not fork: forking a process that runs threads can deadlock.
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
            return self._decoders

    # -------------------------------------------------------------------- internals

    def _context(self, source: Source, cache_key: Hashable | None) -> _Context:
        key = cache_key if cache_key is not None else source_key(source)
        if key is None:
            # Nothing identifies an in-memory source across calls: cache within this call.
            return _Context(ByteLRU(_PRIVATE_CACHE_BYTES), ("private",), source, self.limits)
        return _Context(self.cache, key, source, self.limits)

    def _image(self, context: _Context) -> _Image:
        def load() -> _Image:
            dataset = load_dataset(context.source, context.limits)
            context.parsed = dataset
            header = read_header(dataset, context.limits)
            keep = dataset if isinstance(context.source, Dataset | bytes | bytearray) else None
            return _Image(header=header, dataset=keep)

        return context.cache.get_or_create((context.key, "image"), load)

    def _frame(self, context: _Context, frame: int) -> _Frame:
        image = self._image(context)
        check_frame_index(image.header, frame)

        def prepare() -> _Frame:
            dataset = image.dataset if image.dataset is not None else context.parsed
            if dataset is None:  # the header was cached by an earlier call
                dataset = load_dataset(context.source, context.limits)
            decoded = decode_frame(dataset, image.header, frame, self._decoder_pool())
            return _prepare_frame(image.header, decoded, frame)

        return context.cache.get_or_create((context.key, "frame", frame), prepare)

    def _level(self, context: _Context, frame: int, data: _Frame, level: int) -> np.ndarray:
        if level == 0:
            return data.pixels
        return context.cache.get_or_create(
            (context.key, "level", frame, level),
            lambda: pyramid.downsample(self._level(context, frame, data, level - 1)),
        )

    def _view(
        self,
        context: _Context,
        frame: int,
        data: _Frame,
        level: int,
        box: tuple[float, float, float, float],
        size: tuple[int, int],
    ) -> np.ndarray:
        """Stored values (or RGB) of ``box`` of a pyramid level scaled to ``size``.

        Kept in the cache when it had to be resampled: a window change on the same view is
        then one table lookup and an encode (issue 3), not a resampling of the source again
        (for a 4096×5120 image into 1024², resampling was two thirds of the time).
        """
        source = self._level(context, frame, data, level)
        if _is_plain_crop(source, box, size):
            return _resample(source, box, size)  # a view of the level, nothing computed
        return context.cache.get_or_create(
            (context.key, "view", frame, level, box, size),
            lambda: _resample(source, box, size),
        )

    def _output_size(self, area: Region, output_size: tuple[int, int] | None) -> tuple[int, int]:
        if output_size is None:
            width, height = max(1, round(area.width)), max(1, round(area.height))
        else:
            try:
                box_width, box_height = (int(v) for v in output_size)
            except (TypeError, ValueError):
                raise InvalidRequest(f"output size {output_size!r} is not (width, height)")
            if box_width < 1 or box_height < 1:
                raise InvalidRequest("output width and height must be at least 1")
            # Fit inside the box, keeping the region's aspect ratio (PS3.18 8.3.5.1.3).
            scale = min(box_width / area.width, box_height / area.height)
            width = min(box_width, max(1, round(area.width * scale)))
            height = min(box_height, max(1, round(area.height * scale)))
        if width * height > self.limits.max_output_pixels:
            raise InvalidRequest(
                f"an output of {width}×{height} pixels is over the "
                f"{self.limits.max_output_pixels:,} pixel limit"
            )
        return width, height

    def _display(
        self,
        data: _Frame,
        pixels: np.ndarray,
        window: tuple[float, float] | Window | None,
        voi_index: int,
        function: str | None,
        invert: bool,
    ) -> np.ndarray:
        return self._lookup(data, pixels.dtype, window, voi_index, function, invert)(pixels)

    def _lookup(
        self,
        data: _Frame,
        dtype: np.dtype,
        window: tuple[float, float] | Window | None,
        voi_index: int,
        function: str | None,
        invert: bool,
    ) -> Callable[[np.ndarray], np.ndarray]:
        """Pixels of ``data`` (any band of them) → a new uint8 display array."""
        if not data.gray:
            return _inverted_rgb if invert else _copied_rgb
        voi = _choose_voi(data, window, voi_index, function)
        assert data.modality is not None
        # Integer pixels go through one table over the frame's stored range; float pixels
        # through the same functions per pixel (gray8_lookup decides from the dtype).
        low, high, inverted = int(data.low), int(data.high), data.inverts != invert
        modality = data.modality

        def build() -> Callable[[np.ndarray], np.ndarray]:
            return gray8_lookup(dtype, low, high, modality, voi, inverted)

        if not isinstance(voi, Window) or modality.table is not None or dtype.kind not in "iu":
            return build()
        # A table is a function of these numbers alone, shared by every frame (and series)
        # with the same stored range and rescale: a window shown again (a drag that comes
        # back, a preset, the other viewports of a hanging) is then only the lookup.
        key = (
            "gray8",
            dtype.str,
            low,
            high,
            modality.slope,
            modality.intercept,
            voi.center,
            voi.width,
            voi.function,
            inverted,
        )
        with self._tables_lock:
            cached = self._tables.get(key)
            if cached is not None:
                self._tables.move_to_end(key)
                return cached
        table = build()
        with self._tables_lock:
            self._tables[key] = table
            while len(self._tables) > TABLES_KEPT:
                self._tables.popitem(last=False)
        return table


@dataclass(frozen=True, eq=False)
class Display:
    """A render's pixels before the per-pixel work (see ``Renderer._prepare``): ``rows`` makes
    any band of the display rows, each with the one table, so bands can be made on two
    threads (``Renderer.in_two``)."""

    pixels: np.ndarray  # grayscale: stored values; colour: uint8 RGB; at the output size
    lookup: Callable[[np.ndarray], np.ndarray]
    mask: np.ndarray | None  # overlays to burn in, at the output size

    def rows(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Display rows ``start:stop``: a new array, or written into ``out`` (uint8, their
        shape) and returned."""
        display = self.lookup(self.pixels[start:stop], out)  # type: ignore[call-arg]
        if self.mask is not None:
            burn(display, self.mask[start:stop])
        return display


def _inverted_rgb(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.subtract(255, pixels, out=out, dtype=np.uint8)


def _copied_rgb(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        return pixels.copy()
    np.copyto(out, pixels)
    return out


def _exit_with_parent(parent: int, every_seconds: float = 1.0) -> None:
    """In a decode worker: exit once the process that started it is gone.

    A server killed outright (SIGKILL, the OOM killer) never shuts its pool down, and its
    spawned workers otherwise live on as orphans holding their memory. Polled rather than
    PR_SET_PDEATHSIG, which fires when the *thread* that spawned the worker ends.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_seconds)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _prepare_frame(header: ImageHeader, decoded: Any, frame: int) -> _Frame:
    pixels = decoded.pixels
    mask = overlay_mask(header, frame)
    spacing = pixel_spacing(header, frame)
    if header.is_color:
        return _Frame(
            pixels=color.to_rgb8(pixels, decoded.photometric, header),
            gray=False,
            low=0.0,
            high=255.0,
            modality=None,
            vois=(),
            data_window=None,
            inverts=False,
            mask=mask,
            spacing=spacing,
        )
    modality = modality_lut(header, frame)
    finite = pixels[np.isfinite(pixels)] if pixels.dtype.kind == "f" else pixels
    low = finite.min() if finite.size else 0
    high = finite.max() if finite.size else 0
    if pixels.dtype.kind == "f" and finite.size != pixels.size:
        # Non-finite floats would spread through every resampling: show them as the lowest.
        pixels = np.where(np.isfinite(pixels), pixels, low)
    return _Frame(
        pixels=pixels,
        gray=True,
        low=float(low),
        high=float(high),
        modality=modality,
        vois=tuple(file_vois(header, frame)),
        data_window=data_window(pixels, header, modality),
        inverts=inverts(header),
        mask=mask,
        spacing=spacing,
    )


def _choose_voi(
    data: _Frame, window: tuple[float, float] | Window | None, voi_index: int, function: str | None
) -> Voi:
    file_function = next((v.function for v in data.vois if isinstance(v, Window)), LINEAR)
    chosen_function = (function or file_function).strip().upper()
    if isinstance(window, Window):
        return window if function is None else replace(window, function=chosen_function)
    if window is not None:
        try:
            center, width = (float(v) for v in window)
        except (TypeError, ValueError):
            raise InvalidRequest(f"window {window!r} is not (center, width)")
        return Window(center, width, chosen_function)
    choices: tuple[Voi, ...] = data.vois or ((data.data_window,) if data.data_window else ())
    if not isinstance(voi_index, int) or not 0 <= voi_index < len(choices):
        raise InvalidRequest(
            f"VOI {voi_index!r} does not exist: the frame offers {len(choices)} (0-based)"
        )
    voi = choices[voi_index]
    if function is not None and isinstance(voi, Window):
        return replace(voi, function=chosen_function)
    return voi


def _voi_option(index: int, voi: Voi) -> VoiOption:
    if isinstance(voi, VoiTable):
        return VoiOption(index, "lut", None, None, None, voi.explanation)
    return VoiOption(index, "window", voi.center, voi.width, voi.function, voi.explanation)


def _clip_region(
    value: Region | tuple[float, float, float, float] | None, rows: int, columns: int
) -> Region:
    if value is None:
        return Region(0.0, 0.0, float(columns), float(rows))
    region = Region.coerce(value)
    numbers = (region.x, region.y, region.width, region.height)
    if not all(math.isfinite(n) for n in numbers) or region.width <= 0 or region.height <= 0:
        raise InvalidRequest("a region needs finite coordinates and a positive size")
    x0, y0 = max(region.x, 0.0), max(region.y, 0.0)
    x1 = min(region.x + region.width, float(columns))
    y1 = min(region.y + region.height, float(rows))
    if x1 <= x0 or y1 <= y0:
        raise InvalidRequest(f"the region does not overlap the {columns}×{rows} image")
    return Region(x0, y0, x1 - x0, y1 - y0)


def _is_plain_crop(
    array: np.ndarray, box: tuple[float, float, float, float], size: tuple[int, int]
) -> bool:
    """Whether ``_resample`` answers with a slice of ``array`` (no scaling needed)."""
    x0, y0, x1, y1 = box
    rows, columns = array.shape[:2]
    x1, y1 = min(x1, columns), min(y1, rows)
    integral = all(float(v).is_integer() for v in (x0, y0, x1, y1))
    return integral and (x1 - x0, y1 - y0) == size


def _resample(
    array: np.ndarray, box: tuple[float, float, float, float], size: tuple[int, int]
) -> np.ndarray:
    """The part ``box`` (x0, y0, x1, y1, in array pixels) of ``array`` scaled to ``size``.

    Only a window around the box is handed to Pillow, so the cost follows the region and
    the output, not the whole array.
    """
    if _is_plain_crop(array, box, size):
        x0, y0, x1, y1 = box
        return array[int(y0) : int(y1), int(x0) : int(x1)]
    x0, y0, x1, y1 = box
    width, height = size
    rows, columns = array.shape[:2]
    x1, y1 = min(x1, columns), min(y1, rows)
    # Margin of a few pixels so the filter sees the neighbours of edge pixels.
    margin = 3 + math.ceil(max((x1 - x0) / width, (y1 - y0) / height))
    left, top = max(int(math.floor(x0)) - margin, 0), max(int(math.floor(y0)) - margin, 0)
    right = min(int(math.ceil(x1)) + margin, columns)
    bottom = min(int(math.ceil(y1)) + margin, rows)
    crop = array[top:bottom, left:right]
    local = (x0 - left, y0 - top, x1 - left, y1 - top)
    if crop.ndim == 3:
        image = Image.fromarray(np.ascontiguousarray(crop, dtype=np.uint8), "RGB")
        return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR, box=local))
    source = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32), "F")
    resized = np.asarray(source.resize((width, height), Image.Resampling.BILINEAR, box=local))
    if array.dtype.kind in "iu":
        # Bilinear weights are positive: the result stays within the input's range, so it
        # fits the input's type (a quarter of int64's memory in the cache for 16-bit data).
        return np.rint(resized).astype(array.dtype)
    return resized.astype(np.float64)


def _resample_mask(
    mask: np.ndarray, box: tuple[float, float, float, float], size: tuple[int, int]
) -> np.ndarray:
    """Overlay mask for an output: any covered source pixel marks the output pixel."""
    x0, y0, x1, y1 = box
    width, height = size
    if all(float(v).is_integer() for v in box) and (x1 - x0, y1 - y0) == (width, height):
        return mask[int(y0) : int(y1), int(x0) : int(x1)]
    left, top = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
    right, bottom = min(int(math.ceil(x1)), mask.shape[1]), min(int(math.ceil(y1)), mask.shape[0])
    crop = mask[top:bottom, left:right]
    if not crop.any():
        return np.zeros((height, width), dtype=bool)
    image = Image.fromarray(crop.astype(np.uint8) * 255, "L")
    local = (x0 - left, y0 - top, x1 - left, y1 - top)
    shrinking = (x1 - x0) > width or (y1 - y0) > height
    # Shrinking: a box filter and any coverage, so one-pixel lines survive; enlarging:
    # nearest neighbour, so lines stay sharp.
    method = Image.Resampling.BOX if shrinking else Image.Resampling.NEAREST
    return np.asarray(image.resize((width, height), method, box=local)) > 0
