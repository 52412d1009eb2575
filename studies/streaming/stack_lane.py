"""A viewport's ``previews`` request: whole-frame previews of a stack, nearest first, at
low priority (PROTOCOL.md ``previews``).

Scrolling at the display's rate (60 images a second) leaves no time for a round trip per
image: the browser must already hold a picture of every slice it may scroll to. This lane
sends them in the order the client listed them (nearest the image on show first), one at a
time, only while the viewport has no view in progress (its tiles and lossless image come
first) and while the socket's send queue is nearly empty, so the pixels of a view that
starts meanwhile never wait behind more than ``LOW_WATER`` bytes of previews. Previews with
the file's own rendering come from the preview store (no decode once stored); others are
rendered one at a time per process, like the prefetch lane's.

A newer ``previews`` request of the viewport replaces the list (its queued messages are
dropped); a ``cancel`` of the viewport stops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from studies.imaging.errors import ImagingError

from .plan import Rect, preview
from .progressive import PrefetchLane, Session, _prefetch_message, whole_preview
from .protocol import Previews, View

log = logging.getLogger(__name__)

# Outbox keys of the stack lanes (views use 0-15, prefetch lanes 1000-1015).
STACK_KEY = 2000
# Previews are queued only while less than this is waiting to be sent: on a 30 Mbit/s line
# a view's first pixels then wait at most ~35 ms behind them.
LOW_WATER = 128 * 1024


class StackLane:
    def __init__(
        self,
        session: Session,
        viewport: int,
        prefetch: PrefetchLane,
        view_idle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._session = session
        self._view_idle = view_idle
        self._viewport = viewport
        self._prefetch = prefetch
        self._key = STACK_KEY + viewport
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self.sent = 0  # observations for tests

    def aim(self, request: Previews) -> None:
        """Serve ``request`` from now on, dropping what an older one left unsent."""
        self.stop()
        if request.items:
            self._task = asyncio.get_running_loop().create_task(
                self._run(request, self._generation)
            )

    def stop(self) -> None:
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

    async def _run(self, request: Previews, generation: int) -> None:
        session = self._session
        outbox = session.outbox
        settings = _as_view(request)
        targets = await session.find_targets(list(dict.fromkeys(uid for uid, _ in request.items)))
        for item, (uid, frame) in enumerate(request.items):
            target = targets.get(uid)
            if target is None or not target.rows or not target.columns or frame >= target.frames:
                continue  # skipped silently: `item` numbers may have gaps
            if self._prefetch.has_sent_with(settings, uid, frame):
                continue
            if self._view_idle is not None:
                await self._view_idle()
            await outbox.wait_below(LOW_WATER)
            try:
                bitmap = await whole_preview(session, target, frame, settings, speculative=True)
            except ImagingError as error:
                log.info("stack preview of %s frame %d skipped: %s", uid, frame, error)
                continue
            whole = Rect(0.0, 0.0, float(target.columns), float(target.rows))
            _, level = preview(target.rows, target.columns)
            message = _prefetch_message(
                request.request, self._viewport, item, frame, level, whole, bitmap
            )
            if not await outbox.put_pixels(message, self._key, generation):
                return
            self._prefetch.note_sent_with(settings, uid, frame)
            self.sent += 1


def _as_view(request: Previews) -> View:
    """The rendering settings of ``request`` in the shape the renderer helpers take."""
    return View(
        request=request.request,
        viewport=request.viewport,
        instance="0",
        frame=0,
        region=(0.0, 0.0, 1.0, 1.0),
        scale=1.0,
        window=request.window,
        voi=request.voi,
        function=request.function,
        invert=request.invert,
        quality="interactive",
        prefetch=(),
    )
