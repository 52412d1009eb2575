"""One ``view`` answered progressively: preview, tiles centre-out, prefetch, lossless, done.

Each step renders in a render thread (``RenderSlots``) and queues its message in the socket's
outbox tagged with the viewport's generation. When a newer ``view`` arrives the task running
here is cancelled and its queued messages dropped; nothing below needs to check for that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from studies.imaging import Renderer
from studies.imaging.encode import encode
from studies.imaging.errors import ImagingError, InvalidRequest, NoPixelData

from .lookup import Target
from .outbox import Outbox
from .plan import Plan, Rect, Tile, plan_view, preview
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


@dataclass(frozen=True)
class _Bitmap:
    data: bytes
    width: int
    height: int


async def stream_view(session: Session, view: View, generation: int, arrived: float) -> None:
    """Answer ``view``; raises ``ProtocolError`` or ``ImagingError`` for the error message."""
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
    plan = plan_view(
        target.rows,
        target.columns,
        view.region,
        view.scale,
        renderer.tile_size,
        renderer.limits.max_output_pixels,
    )
    sender = _Sender(session.outbox, view, generation)
    whole = Rect(0.0, 0.0, float(target.columns), float(target.rows))

    preview = await session.slots.run(
        _region, renderer, target.path, view.frame, view, whole, plan.preview_size, "jpeg"
    )
    await sender.pixels(Kind.PREVIEW, "jpeg", plan.preview_level, view.frame, 0, whole, preview)

    for tile in plan.tiles:
        bitmap = await session.slots.run(_tile, renderer, target.path, view.frame, view, tile)
        await sender.pixels(Kind.TILE, "jpeg", tile.level, view.frame, 0, tile.rect, bitmap)

    if view.diagnostic:
        await _lossless(session, sender, target, view, plan)
    await _prefetch(session, sender, view)
    if not view.diagnostic:
        # Any newer request for this viewport has cancelled us by now: the view is idle.
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, arrived + IDLE_SECONDS - loop.time()))
        await _lossless(session, sender, target, view, plan)
    sender.text(
        {"type": "done", "request": view.request, "viewport": view.viewport, "level": plan.level}
    )


async def _lossless(
    session: Session, sender: _Sender, target: Target, view: View, plan: Plan
) -> None:
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
        header = PixelHeader(
            request=self._view.request,
            viewport=self._view.viewport,
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
        message = pack_pixels(header, bitmap.data)
        if not await self._outbox.put_pixels(message, self._view.viewport, self._generation):
            raise asyncio.CancelledError  # superseded while waiting for room

    def text(self, message: dict) -> None:
        self._outbox.put_text(dumps(message), self._view.viewport, self._generation)


# ------------------------------------------------------------- in the render threads


def _region(
    renderer: Renderer,
    path: Path,
    frame: int,
    view: View,
    rect: Rect,
    size: tuple[int, int],
    encoding: str,
) -> _Bitmap:
    pixels = renderer.render_pixels(
        path,
        frame,
        window=view.window,
        voi_index=view.voi,
        function=view.function,
        invert=view.invert,
        region=(rect.x, rect.y, rect.width, rect.height),
        output_size=size,
    )
    return _Bitmap(encode(pixels, encoding, JPEG_QUALITY), pixels.shape[1], pixels.shape[0])


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
