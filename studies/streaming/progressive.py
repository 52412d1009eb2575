"""One ``view`` answered progressively: preview, tiles centre-out, lossless, done; and the
viewport's prefetch lane beside it.

Each step renders in a render thread (``RenderSlots``) and queues its message in the socket's
outbox tagged with the viewport's generation. When a newer ``view`` arrives the task running
here is cancelled and its queued messages dropped; nothing below needs to check for that.

Prefetched previews are different: a picture of a neighbouring frame is still worth having
after the reader scrolled one slice on, and during a fast scroll every view is superseded
within a frame or two, so prefetch items tied to their view were almost never sent. They
run in a ``PrefetchLane`` per viewport, which a new view re-aims (its list replaces the
items not yet rendered) instead of cancelling; only a change of the rendering settings
(window, VOI, function, invert) or a ``cancel`` drops its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studies.imaging import Renderer, jpeg_join
from studies.imaging.encode import encode
from studies.imaging.errors import ImagingError, InvalidRequest, NoPixelData
from studies.imaging.render import Display

from .lookup import Target
from .outbox import Outbox
from .plan import Plan, Rect, Tile, plan_view, preview
from .previews import Bitmap as _Bitmap
from .previews import PreviewStore
from .protocol import (
    ENCODINGS,
    Code,
    Kind,
    PixelHeader,
    ProtocolError,
    View,
    dumps,
    pack_pixels,
)
from .scheduler import RenderSlots

log = logging.getLogger(__name__)

JPEG_QUALITY = 90  # PROTOCOL.md: tiles are JPEG quality 90
IDLE_SECONDS = 0.3  # PROTOCOL.md: lossless follows when no new request came for 300 ms


@dataclass(frozen=True)
class Session:
    """What a view needs from its socket."""

    renderer: Renderer
    slots: RenderSlots
    outbox: Outbox
    find_target: Callable[[str], Awaitable[Target | None]]
    find_targets: Callable[[list[str]], Awaitable[dict[str, Target]]]
    # Previews with the file's own rendering, kept once rendered (previews.py); None: always
    # render.
    previews: PreviewStore | None = None


def own_rendering(view: View) -> bool:
    """Whether ``view`` asks for the file's own rendering (what the preview store keeps)."""
    return view.window is None and view.voi == 0 and view.function is None and not view.invert


async def whole_preview(
    session: Session, target: Target, frame: int, view: View, *, speculative: bool = False
) -> _Bitmap:
    """The whole-frame preview of ``frame`` with ``view``'s settings: from the store when it
    has it (no decode), else rendered (and stored, for the file's own rendering).

    ``speculative`` renders wait for the process's prefetch gate (one at a time), so they
    never queue ahead of the tiles of images on show."""
    whole = Rect(0.0, 0.0, float(target.columns), float(target.rows))
    size, _ = preview(target.rows, target.columns)
    store = session.previews if own_rendering(view) else None
    if store is not None:
        bitmap = store.remembered(target.path, frame)
        if bitmap is None:
            bitmap = await session.slots.run(store.get, target.path, frame)
        if bitmap is not None:
            return bitmap
    if speculative:
        async with _prefetch_gate():
            bitmap = await session.slots.run(
                _region, session.renderer, target.path, frame, view, whole, size, "jpeg"
            )
    else:
        bitmap = await session.slots.run(
            _region, session.renderer, target.path, frame, view, whole, size, "jpeg"
        )
    if store is not None:
        await session.slots.run(store.put, target.path, frame, bitmap)
    return bitmap


async def stream_view(
    session: Session,
    view: View,
    generation: int,
    arrived: float,
    lane: PrefetchLane | None = None,
) -> None:
    """Answer ``view``; raises ``ProtocolError`` or ``ImagingError`` for the error message.

    ``lane`` (the viewport's prefetch lane) is re-aimed at the view's ``prefetch`` list; it
    starts on it once this view's preview is on its way (or there is none to send).
    """
    if lane is not None:
        lane.aim(view)
    try:
        await _stream_view(session, view, generation, arrived, lane)
    finally:
        if lane is not None:
            lane.go(view.request)


async def _stream_view(
    session: Session,
    view: View,
    generation: int,
    arrived: float,
    lane: PrefetchLane | None,
) -> None:
    target = await session.find_target(view.instance)
    if target is None:
        raise ProtocolError(Code.NOT_FOUND, f"no instance {view.instance} that you may view")
    if not target.rows or not target.columns:
        raise NoPixelData(f"instance {view.instance} has no image")
    if view.frame >= target.frames:
        raise InvalidRequest(
            f"frame {view.frame} does not exist: the instance has {target.frames} (0-based)"
        )
    renderer = session.renderer
    plan = _planned(
        target.rows,
        target.columns,
        view.region,
        view.scale,
        renderer.tile_size,
        renderer.limits.max_output_pixels,
    )
    sender = _Sender(session.outbox, view, generation)
    whole = Rect(0.0, 0.0, float(target.columns), float(target.rows))

    shown: _Shown | None = None
    union = _union(plan.tiles)
    batch = plan.level == 0 and union.width * union.height <= BATCH_PIXELS
    tiles = _merged(plan.tiles) if batch else plan.tiles
    wants_preview = view.preview and (lane is None or not lane.has_sent(view.instance, view.frame))
    if batch and wants_preview and not own_rendering(view):
        # A window change at full resolution (the viewer's drag): preview and tiles in one
        # job, the preview handed to the socket from the render thread the moment it is
        # encoded, so the tiles need no second trip through the event loop.
        shown, bitmaps = await _preview_then_tiles(
            session, sender, target, view, plan, tiles, union, lane
        )
        await _send_tiles(sender, view, tiles, bitmaps)
    else:
        if wants_preview:
            preview = await whole_preview(session, target, view.frame, view)
            await sender.pixels(
                Kind.PREVIEW, "jpeg", plan.preview_level, view.frame, 0, whole, preview
            )
            if lane is not None:
                lane.mark_sent(view.instance, view.frame)
        if lane is not None:
            lane.go(view.request)
        if batch:
            # One job: the display pixels of all tiles with one table, each tile cut from
            # them and encoded; they are kept for the lossless image, which is most often
            # the same pixels (scale ≥ 1) and then costs only its PNG.
            shown = await _tiles_as_encoded(session, sender, target, view, tiles, union)
        else:
            for tile in plan.tiles:
                bitmap = await session.slots.run(
                    _tile, renderer, target.path, view.frame, view, tile
                )
                await sender.pixels(Kind.TILE, "jpeg", tile.level, view.frame, 0, tile.rect, bitmap)

    if view.diagnostic:
        await _lossless(session, sender, target, view, plan, shown)
    if lane is None:
        await _prefetch(session, sender, view)
    if not view.diagnostic:
        # Any newer request for this viewport has cancelled us by now: the view is idle.
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, arrived + IDLE_SECONDS - loop.time()))
        await _lossless(session, sender, target, view, plan, shown)
    sender.text(
        {"type": "done", "request": view.request, "viewport": view.viewport, "level": plan.level}
    )


async def _send_tiles(
    sender: _Sender, view: View, tiles: tuple[Tile, ...], bitmaps: list[_Bitmap]
) -> None:
    for tile, bitmap in zip(tiles, bitmaps, strict=True):
        await sender.pixels(Kind.TILE, "jpeg", tile.level, view.frame, 0, tile.rect, bitmap)


# Tiles of a batch job are handed to the socket from the render threads as each is encoded
# (in the plan's order), so the first leave while the others are still being encoded. A 512²
# window change without preview, in-process over WebsocketCommunicator, alternating on/off
# on a loaded 2-core machine, to the last tile, p50: 3.1/4.0/5.5 ms against 4.8/5.1/6.2 ms
# (three runs). False: every tile after the job, as before (kept for such comparisons).
TILES_AS_ENCODED = True


async def _tiles_as_encoded(
    session: Session,
    sender: _Sender,
    target: Target,
    view: View,
    tiles: tuple[Tile, ...],
    union: Rect,
) -> _Shown:
    """``_full_resolution_tiles`` in one job, each tile queued on the event loop as soon as
    it and every tile before it in the plan (centre-out) are encoded, when the view is still
    current and the queue has room; the rest leave after the job, in order."""
    loop = asyncio.get_running_loop()
    ready: dict[int, bytes] = {}
    state = {"next": 0, "held": not TILES_AS_ENCODED}

    def deliver(index: int, message: bytes) -> None:  # on the event loop
        ready[index] = message
        while not state["held"] and state["next"] in ready:
            if sender.offer_message(ready[state["next"]]):
                del ready[state["next"]]
                state["next"] += 1
            else:  # stale, or no room: the rest wait for the job and ``pixels``
                state["held"] = True

    def post(index: int, bitmap: _Bitmap) -> None:  # in a render thread
        if not state["held"]:
            # The message (header and image, one copy of the image) is made here, not on
            # the event loop, which only queues it.
            tile = tiles[index]
            message = sender.message(Kind.TILE, "jpeg", tile.level, view.frame, tile.rect, bitmap)
            with contextlib.suppress(RuntimeError):  # the loop closed with the socket
                loop.call_soon_threadsafe(deliver, index, message)

    shown, bitmaps = await session.slots.run(
        _full_resolution_tiles,
        session.renderer,
        target.path,
        view.frame,
        view,
        union,
        tiles,
        post,
    )
    # The job's completion comes after every ``deliver`` it posted (all from its threads,
    # the helper's joined before it returned).
    start = state["next"]
    await _send_tiles(sender, view, tiles[start:], bitmaps[start:])
    return shown


async def _preview_then_tiles(
    session: Session,
    sender: _Sender,
    target: Target,
    view: View,
    plan: Plan,
    tiles: tuple[Tile, ...],
    union: Rect,
    lane: PrefetchLane | None,
) -> tuple[_Shown, list[_Bitmap]]:
    """The preview, queued from the render thread as soon as it is encoded (PROTOCOL.md:
    preview first, as soon as possible), then the full-resolution tiles, in one job.

    The preview goes through ``Outbox.offer_pixels`` on the event loop: queued at once when
    the view is still current and the queue has room; a stale one is dropped there as any
    other. When the queue is full it waits here, after the job, and still leaves before
    the tiles."""
    loop = asyncio.get_running_loop()
    whole = Rect(0.0, 0.0, float(target.columns), float(target.rows))
    held: list[_Bitmap] = []  # the preview, when the queue had no room for it

    def deliver(bitmap: _Bitmap) -> None:  # on the event loop
        if sender.offer(Kind.PREVIEW, "jpeg", plan.preview_level, view.frame, whole, bitmap):
            if lane is not None:
                lane.mark_sent(view.instance, view.frame)
                lane.go(view.request)
        else:
            held.append(bitmap)

    def post(bitmap: _Bitmap) -> None:  # in the render thread
        with contextlib.suppress(RuntimeError):  # the loop closed with the socket
            loop.call_soon_threadsafe(deliver, bitmap)

    shown, bitmaps = await session.slots.run(
        _rendered_preview_then_tiles,
        session.renderer,
        target.path,
        view.frame,
        view,
        whole,
        plan.preview_size,
        union,
        tiles,
        post,
    )
    if held:  # the job's completion comes after ``deliver`` (both posted from its thread)
        await sender.pixels(Kind.PREVIEW, "jpeg", plan.preview_level, view.frame, 0, whole, held[0])
        if lane is not None:
            lane.mark_sent(view.instance, view.frame)
    if lane is not None:
        lane.go(view.request)
    return shown, bitmaps


async def _lossless(
    session: Session,
    sender: _Sender,
    target: Target,
    view: View,
    plan: Plan,
    shown: _Shown | None = None,
) -> None:
    pixels = shown.crop(plan.region, plan.lossless_size) if shown is not None else None
    if pixels is not None:
        bitmap = await session.slots.run(_encoded, pixels, "png")
    else:
        bitmap = await session.slots.run(
            _region,
            session.renderer,
            target.path,
            view.frame,
            view,
            plan.region,
            plan.lossless_size,
            "png",
        )
    await sender.pixels(
        Kind.LOSSLESS, "png", plan.lossless_level, view.frame, 0, plan.region, bitmap
    )


async def _prefetch(session: Session, sender: _Sender, view: View) -> None:
    """Whole-frame previews of the neighbours, best effort: one that fails is skipped."""
    if not view.prefetch:
        return
    targets = await session.find_targets([uid for uid, _ in view.prefetch])
    for item, (uid, frame) in enumerate(view.prefetch):
        target = targets.get(uid)
        if target is None or not target.rows or not target.columns or frame >= target.frames:
            continue
        whole = Rect(0.0, 0.0, float(target.columns), float(target.rows))
        size, level = preview(target.rows, target.columns)
        try:
            bitmap = await session.slots.run(
                _region, session.renderer, target.path, frame, view, whole, size, "jpeg"
            )
        except ImagingError as error:
            log.info("prefetch of %s frame %d skipped: %s", uid, frame, error)
            continue
        await sender.pixels(Kind.PREFETCH, "jpeg", level, frame, item, whole, bitmap)


# Prefetch renders in flight per process (all sockets of a server share its event loop and
# render pool). The pool serves jobs first come, first served: without this bound, twenty
# scrolling readers' speculative previews would queue ahead of the tiles of the images they
# are looking at. One at a time still renders hundreds of 256 px previews a second.
PREFETCH_RENDERS = 1
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _prefetch_gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(PREFETCH_RENDERS)
    return gate


# A viewport's lane tags its messages with this key in the outbox (viewports are 0-15), so a
# new view of the viewport does not make them stale; a change of settings does.
LANE_KEY = 1000
# Previews remembered as sent, per viewport: below the browser's preview cache (240), so
# what the server believes the browser holds it still holds.
REMEMBER_SENT = 192


class PrefetchLane:
    """Whole-frame previews of a viewport's neighbours, one at a time, outliving views."""

    def __init__(self, session: Session, viewport: int) -> None:
        self._session = session
        self._viewport = viewport
        self._key = LANE_KEY + viewport
        self._generation = 0
        self._settings: tuple | None = None
        self._items: deque[tuple[int, int, str, int]] = deque()  # request, item, uid, frame
        self._sent: dict[tuple[str, int], None] = {}  # insertion-ordered set
        self._view: View | None = None  # whose settings the previews are rendered with
        self._gate: int | None = None  # request whose preview must leave first
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rendering: tuple[str, int] | None = None

    def aim(self, view: View) -> None:
        """A new view: its list replaces what is left; other settings drop everything."""
        settings = _settings(view)
        if settings != self._settings:
            self._settings = settings
            self._sent.clear()
            self._generation += 1
            self._session.outbox.supersede(self._key, self._generation)
            if self._task is not None:
                self._task.cancel()
                self._task = None
            self._rendering = None
        self._view = view
        self._gate = view.request
        skip = {(view.instance, view.frame), self._rendering}
        self._items = deque(
            (view.request, item, uid, frame)
            for item, (uid, frame) in enumerate(view.prefetch)
            if (uid, frame) not in self._sent and (uid, frame) not in skip
        )
        if self._items and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run(self._generation))

    async def push(self, request: int, target: Target) -> None:
        """A whole-frame preview of frame 0 of ``target`` with the file's own rendering, as
        ``prefetch`` item 0 of ``request`` (an ``open_study`` asking for a first picture):
        the viewport's first view then needs no preview of its own."""
        if not target.rows or not target.columns or not target.frames:
            return
        default = View(
            request=request,
            viewport=self._viewport,
            instance=target.sop_instance_uid,
            frame=0,
            region=(0.0, 0.0, float(target.columns), float(target.rows)),
            scale=1.0,
            window=None,
            voi=0,
            function=None,
            invert=False,
            quality="interactive",
            prefetch=(),
        )
        if self._settings != _settings(default):
            self.stop()
            self._settings = _settings(default)
            self._view = default
        if self.has_sent(target.sop_instance_uid, 0):
            return
        generation = self._generation
        whole = Rect(0.0, 0.0, float(target.columns), float(target.rows))
        size, level = preview(target.rows, target.columns)
        self._rendering = (target.sop_instance_uid, 0)
        try:
            bitmap = await whole_preview(self._session, target, 0, default)
            message = _prefetch_message(request, self._viewport, 0, 0, level, whole, bitmap)
            if await self._session.outbox.put_pixels(message, self._key, generation):
                self.mark_sent(target.sop_instance_uid, 0)
        finally:
            if self._rendering == (target.sop_instance_uid, 0):
                self._rendering = None

    def go(self, request: int) -> None:
        """The view ``request`` has sent its preview (or will send none): prefetch may run."""
        if self._gate == request:
            self._gate = None
            self._wake.set()

    def has_sent(self, uid: str, frame: int) -> bool:
        """Whether a whole-frame picture of it with these settings is sent or on its way."""
        return (uid, frame) in self._sent or (uid, frame) == self._rendering

    def has_sent_with(self, view: View, uid: str, frame: int) -> bool:
        """``has_sent``, for a picture rendered with ``view``'s settings."""
        return self._settings == _settings(view) and self.has_sent(uid, frame)

    def note_sent_with(self, view: View, uid: str, frame: int) -> None:
        """Another lane of the viewport (``stack_lane``) sent this picture: a view of it with
        these settings then sends no preview of its own."""
        if self._settings is None:
            self._settings = _settings(view)
        if self._settings == _settings(view):
            self.mark_sent(uid, frame)

    def mark_sent(self, uid: str, frame: int) -> None:
        self._sent[(uid, frame)] = None
        while len(self._sent) > REMEMBER_SENT:
            del self._sent[next(iter(self._sent))]

    def stop(self) -> None:
        """``cancel`` or the socket closed: drop the lane's work and queued messages."""
        self._items.clear()
        self._settings = None
        self._sent.clear()
        self._rendering = None
        self._generation += 1
        self._session.outbox.supersede(self._key, self._generation)
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def close(self) -> None:
        task = self._task
        self.stop()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, generation: int) -> None:
        session = self._session
        while self._items:
            while self._gate is not None:
                self._wake.clear()
                await self._wake.wait()
            if not self._items:
                return
            request, item, uid, frame = self._items.popleft()
            if (uid, frame) in self._sent:
                continue
            view = self._view
            assert view is not None
            # One lookup for the rest of the list: nearly always answered from memory.
            targets = await session.find_targets([uid] + [i[2] for i in self._items])
            target = targets.get(uid)
            if target is None or not target.rows or not target.columns or frame >= target.frames:
                continue
            whole = Rect(0.0, 0.0, float(target.columns), float(target.rows))
            size, level = preview(target.rows, target.columns)
            self._rendering = (uid, frame)
            try:
                bitmap = await whole_preview(session, target, frame, view, speculative=True)
            except ImagingError as error:
                log.info("prefetch of %s frame %d skipped: %s", uid, frame, error)
                self._rendering = None
                continue
            message = _prefetch_message(request, self._viewport, item, frame, level, whole, bitmap)
            if not await session.outbox.put_pixels(message, self._key, generation):
                return  # the settings changed while waiting for room
            self.mark_sent(uid, frame)
            self._rendering = None


def _settings(view: View) -> tuple:
    """What, besides the frame, changes a rendered picture."""
    return (view.window, view.voi, view.function, view.invert)


def _pixels_message(
    request: int,
    viewport: int,
    kind: Kind,
    encoding: str,
    level: int,
    frame: int,
    item: int,
    rect: Rect,
    bitmap: _Bitmap,
) -> bytes:
    """One binary pixel message (PROTOCOL.md: the header, then the encoded bitmap)."""
    header = PixelHeader(
        request=request,
        viewport=viewport,
        kind=kind,
        encoding=ENCODINGS[encoding],
        level=level,
        frame=frame,
        item=item,
        x=rect.x,
        y=rect.y,
        width=rect.width,
        height=rect.height,
        bitmap_width=bitmap.width,
        bitmap_height=bitmap.height,
    )
    return pack_pixels(header, bitmap.data)


def _prefetch_message(
    request: int, viewport: int, item: int, frame: int, level: int, rect: Rect, bitmap: _Bitmap
) -> bytes:
    return _pixels_message(
        request, viewport, Kind.PREFETCH, "jpeg", level, frame, item, rect, bitmap
    )


class _Sender:
    """Queues the messages of one view, tagged so a newer view makes them stale."""

    def __init__(self, outbox: Outbox, view: View, generation: int) -> None:
        self._outbox = outbox
        self._view = view
        self._generation = generation

    async def pixels(
        self,
        kind: Kind,
        encoding: str,
        level: int,
        frame: int,
        item: int,
        rect: Rect,
        bitmap: _Bitmap,
    ) -> None:
        view = self._view
        message = _pixels_message(
            view.request, view.viewport, kind, encoding, level, frame, item, rect, bitmap
        )
        if not await self._outbox.put_pixels(message, self._view.viewport, self._generation):
            raise asyncio.CancelledError  # superseded while waiting for room

    def offer(
        self, kind: Kind, encoding: str, level: int, frame: int, rect: Rect, bitmap: _Bitmap
    ) -> bool:
        """``pixels`` without waiting: False when the view is stale or the queue is full
        (the caller then waits with ``pixels``, or drops it when stale)."""
        return self.offer_message(self.message(kind, encoding, level, frame, rect, bitmap))

    def message(
        self, kind: Kind, encoding: str, level: int, frame: int, rect: Rect, bitmap: _Bitmap
    ) -> bytes:
        """The binary message of ``bitmap`` for this view (any thread may make it)."""
        view = self._view
        return _pixels_message(
            view.request, view.viewport, kind, encoding, level, frame, 0, rect, bitmap
        )

    def offer_message(self, message: bytes) -> bool:
        """``offer`` of a message made by ``message``."""
        return self._outbox.offer_pixels(message, self._view.viewport, self._generation)

    def text(self, message: dict) -> None:
        self._outbox.put_text(dumps(message), self._view.viewport, self._generation)


# The tiles of a full-resolution view are rendered in one job when together they hold at
# most this many pixels (16 tiles of 256²: a few milliseconds); larger views go tile by
# tile, so the centre of a large image sharpens first.
BATCH_PIXELS = 1024 * 1024

# The tiles of such a job leave as blocks of up to 2×2 plan tiles (512² for the renderer's
# 256-px tiles), each block one JPEG covering exactly its tiles (PROTOCOL.md): a 512² frame
# is one message, not four. Every message costs the event loop (queue, frame, send) a
# tenth of a millisecond or more, in the thread the render threads hand their tiles to.
MERGED_TILE = 512


def merged_tiles(tiles: tuple[Tile, ...], block: int = MERGED_TILE) -> tuple[Tile, ...]:
    """Level-0 ``tiles`` grouped by the ``block``-px square they fall in, each group one
    tile covering the union of its members, in the order of each group's first member
    (centre-out stays centre-out at the block's scale). A tile is never larger than its
    members together: a zoomed view of a small region encodes no extra pixels."""
    groups: dict[tuple[int, int], list[Tile]] = {}
    for tile in tiles:
        key = (int(tile.rect.x // block), int(tile.rect.y // block))
        groups.setdefault(key, []).append(tile)
    merged = []
    for members in groups.values():
        first = members[0]
        covered = _union(tuple(members))
        merged.append(Tile(first.level, first.column, first.row, covered))
    return tuple(merged)


# A drag or a scroll asks for the same geometry view after view: plans and blocks are pure
# functions of small immutable values, kept rather than worked out again (~0.1 ms of Python
# per view on a busy server, before its render could start).
_planned = functools.lru_cache(maxsize=256)(plan_view)
_merged = functools.lru_cache(maxsize=256)(merged_tiles)


@dataclass(frozen=True)
class _Shown:
    """Display pixels of a view's tiles at full resolution and the rectangle they cover."""

    pixels: np.ndarray
    rect: Rect

    def crop(self, region: Rect, size: tuple[int, int]) -> np.ndarray | None:
        """``region`` at ``size``, if that is a plain cut of these pixels (whole pixels,
        not resampled), else None."""
        numbers = (region.x, region.y, region.width, region.height)
        if not all(float(n).is_integer() for n in numbers):
            return None
        if size != (int(region.width), int(region.height)):
            return None
        x, y = int(region.x - self.rect.x), int(region.y - self.rect.y)
        width, height = size
        rows, columns = self.pixels.shape[:2]
        if x < 0 or y < 0 or x + width > columns or y + height > rows:
            return None
        return self.pixels[y : y + height, x : x + width]


def _union(tiles: tuple[Tile, ...]) -> Rect:
    if not tiles:
        return Rect(0.0, 0.0, 0.0, 0.0)
    x0 = min(tile.rect.x for tile in tiles)
    y0 = min(tile.rect.y for tile in tiles)
    x1 = max(tile.rect.x + tile.rect.width for tile in tiles)
    y1 = max(tile.rect.y + tile.rect.height for tile in tiles)
    return Rect(x0, y0, x1 - x0, y1 - y0)


# ------------------------------------------------------------- in the render threads


def _full_resolution_tiles(
    renderer: Renderer,
    path: Path,
    frame: int,
    view: View,
    union: Rect,
    tiles: tuple[Tile, ...],
    post: Callable[[int, _Bitmap], None] | None = None,
) -> tuple[_Shown, list[_Bitmap]]:
    """Level-0 tiles cut from one rendering of the rectangle they cover: the same pixels
    as ``_tile`` gives each (a plain crop, one table lookup per pixel, overlays burnt per
    pixel), with one lookup table instead of one per tile. The rows of tiles are split in
    two bands, each looked up and encoded on its own thread (``Renderer.in_two``): a 512²
    window change is half its lookup and half its encodes on each core."""
    size = (int(union.width), int(union.height))
    display = renderer.display(
        path,
        frame,
        window=view.window,
        voi_index=view.voi,
        function=view.function,
        invert=view.invert,
        region=(union.x, union.y, union.width, union.height),
        output_size=size,
    )
    shown = _Shown(np.empty(display.pixels.shape, np.uint8), union)
    bitmaps: list[_Bitmap | None] = [None] * len(tiles)

    def band(rows: list[tuple[int, int]]) -> None:
        for top, bottom in rows:
            display.rows(top, bottom, out=shown.pixels[top:bottom])
            for index, tile in enumerate(tiles):
                if int(tile.rect.y - union.y) == top:
                    cut = shown.crop(tile.rect, (int(tile.rect.width), int(tile.rect.height)))
                    assert cut is not None  # tiles are whole pixels inside their union
                    bitmaps[index] = _encoded(cut, "jpeg")
                    if post is not None:
                        post(index, bitmaps[index])

    rows = sorted(
        {(int(t.rect.y - union.y), int(t.rect.y - union.y + t.rect.height)) for t in tiles}
    )
    half = (len(rows) + 1) // 2
    if len(rows) > 1:
        renderer.in_two(lambda: band(rows[:half]), lambda: band(rows[half:]))
    elif len(tiles) == 1 and jpeg_join.can_split(
        int(tiles[0].rect.height), int(tiles[0].rect.width)
    ):
        bitmaps[0] = _one_tile_in_two(renderer, display, shown, tiles[0], post)
    else:
        band(rows)
    assert all(bitmap is not None for bitmap in bitmaps)  # every tile is in a row of tiles
    return shown, bitmaps  # type: ignore[return-value]


def _one_tile_in_two(
    renderer: Renderer,
    display: Display,
    shown: _Shown,
    tile: Tile,
    post: Callable[[int, _Bitmap], None] | None,
) -> _Bitmap:
    """The one tile of a job (a 512² frame), its top and bottom halves looked up and encoded
    at once on two threads (``Renderer.in_two``) and joined at a restart marker
    (``jpeg_join``: pixel for pixel one encode of the whole tile), by whichever thread
    finishes last, which also hands it to ``post``: no thread waits to be woken before the
    tile can leave. The halves are looked up straight into ``shown`` (kept for the lossless
    image)."""
    x, y = int(tile.rect.x - shown.rect.x), int(tile.rect.y - shown.rect.y)
    width, height = int(tile.rect.width), int(tile.rect.height)
    cut = y + jpeg_join.top_rows(height)
    encoded: list[bytes | None] = [None, None]
    joined: list[_Bitmap | None] = [None]
    lock = threading.Lock()

    def part(half: int, top: int, bottom: int) -> None:
        band = display.rows(top, bottom, out=shown.pixels[top:bottom])
        data = encode(band[:, x : x + width], "jpeg", JPEG_QUALITY)
        with lock:
            encoded[half] = data
            last = None not in encoded
        if last:
            whole = jpeg_join.join(encoded[0], encoded[1], height, width)  # type: ignore[arg-type]
            if whole is not None:
                joined[0] = _Bitmap(whole, width, height)
                if post is not None:
                    post(0, joined[0])

    renderer.in_two(lambda: part(0, y, cut), lambda: part(1, cut, y + height))
    bitmap = joined[0]
    if bitmap is None:  # cannot happen for what ``encode`` writes; never a wrong file
        pixels = shown.pixels[y : y + height, x : x + width]
        bitmap = _Bitmap(encode(pixels, "jpeg", JPEG_QUALITY), width, height)
        if post is not None:
            post(0, bitmap)
    return bitmap


def _rendered_preview_then_tiles(
    renderer: Renderer,
    path: Path,
    frame: int,
    view: View,
    whole: Rect,
    preview_size: tuple[int, int],
    union: Rect,
    tiles: tuple[Tile, ...],
    post: Callable[[_Bitmap], None],
) -> tuple[_Shown, list[_Bitmap]]:
    """``_region``'s whole-frame preview, handed to ``post`` at once, then
    ``_full_resolution_tiles``."""
    post(_region(renderer, path, frame, view, whole, preview_size, "jpeg"))
    return _full_resolution_tiles(renderer, path, frame, view, union, tiles)


def _encoded(pixels: np.ndarray, encoding: str) -> _Bitmap:
    return _Bitmap(encode(pixels, encoding, JPEG_QUALITY), pixels.shape[1], pixels.shape[0])


def _region(
    renderer: Renderer,
    path: Path,
    frame: int,
    view: View,
    rect: Rect,
    size: tuple[int, int],
    encoding: str,
) -> _Bitmap:
    return _encoded(_view_pixels(renderer, path, frame, view, rect, size), encoding)


def _view_pixels(
    renderer: Renderer, path: Path, frame: int, view: View, rect: Rect, size: tuple[int, int]
) -> np.ndarray:
    """Display pixels of ``rect`` of the frame, with the view's settings, at ``size``."""
    return renderer.render_pixels(
        path,
        frame,
        window=view.window,
        voi_index=view.voi,
        function=view.function,
        invert=view.invert,
        region=(rect.x, rect.y, rect.width, rect.height),
        output_size=size,
    )


def _tile(renderer: Renderer, path: Path, frame: int, view: View, tile: Tile) -> _Bitmap:
    pixels = renderer.tile_pixels(
        path,
        frame,
        tile.level,
        tile.column,
        tile.row,
        window=view.window,
        voi_index=view.voi,
        function=view.function,
        invert=view.invert,
    )
    return _Bitmap(encode(pixels, "jpeg", JPEG_QUALITY), pixels.shape[1], pixels.shape[0])
