"""The send queue of one socket: bounded, in order, and stale pixels never leave it.

Rendering is faster than a slow network. Without a bound, a client on a thin line would make
the server hold every tile it ever asked for; with a bound, the renderer of that socket waits
for room (it is the only one that waits: other sockets have their own outbox). Messages that
belong to a superseded request of a viewport are dropped wherever they are queued, so after a
new ``view`` the next pixels on the wire are the new request's.

One sender task drains the queue and awaits the ASGI ``send`` per message, so a server that
applies back-pressure (its ``send`` waits for the socket to drain) slows this queue down
rather than growing its own buffers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 8 * 1024**2
DEFAULT_MAX_MESSAGES = 512

Send = Callable[[str | bytes], Awaitable[None]]


class OutboxOverflow(Exception):
    """The client stopped reading: even small control messages no longer fit."""


@dataclass(eq=False)
class _Item:
    data: str | bytes
    size: int
    viewport: int | None  # None: not tied to a viewport's request (pong, study, ...)
    generation: int


class Outbox:
    def __init__(
        self,
        send: Send,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_messages: int = DEFAULT_MAX_MESSAGES,
    ) -> None:
        self._send = send
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        self._items: deque[_Item] = deque()
        self._bytes = 0  # queued plus the message being sent
        self._current: dict[int, int] = {}  # viewport → generation whose messages may go
        self._changed = asyncio.Event()  # replaced on every change; see _notify
        self._closed = False
        # Observations for logs and tests.
        self.sent = 0
        self.dropped = 0
        self.waiting = 0
        self.high_water = 0

    # --------------------------------------------------------------------- producers

    async def put_pixels(self, data: bytes, viewport: int, generation: int) -> bool:
        """Queue a pixel message, waiting while the queue is full; False if it went stale."""
        self.waiting += 1
        try:
            # An empty queue always takes one message, however large, so progress is
            # guaranteed; otherwise wait for room.
            await self._wait_for(
                lambda: (
                    self._closed
                    or not self.is_current(viewport, generation)
                    or self._bytes == 0
                    or self._bytes + len(data) <= self.max_bytes
                )
            )
        finally:
            self.waiting -= 1
        if self._closed or not self.is_current(viewport, generation):
            self.dropped += 1
            return False
        self._append(_Item(data, len(data), viewport, generation))
        return True

    def offer_pixels(self, data: bytes, viewport: int, generation: int) -> bool:
        """``put_pixels`` when it would not wait: queued if the request is current and the
        queue has room (as ``put_pixels`` judges it), else False and nothing queued."""
        if self._closed or not self.is_current(viewport, generation):
            return False
        if self._bytes and self._bytes + len(data) > self.max_bytes:
            return False
        self._append(_Item(data, len(data), viewport, generation))
        return True

    def put_text(self, text: str, viewport: int | None = None, generation: int = 0) -> bool:
        """Queue a JSON message without waiting (they are small); False if stale.

        Raises ``OutboxOverflow`` when the client has let ``max_messages`` pile up.
        """
        if self._closed:
            return False
        if viewport is not None and not self.is_current(viewport, generation):
            self.dropped += 1
            return False
        if len(self._items) >= self.max_messages:
            raise OutboxOverflow(f"{len(self._items)} messages are waiting for the client")
        self._append(_Item(text, len(text), viewport, generation))
        return True

    async def wait_below(self, limit: int) -> None:
        """Wait until at most ``limit`` bytes are queued (low-priority producers)."""
        await self._wait_for(lambda: self._closed or self._bytes <= limit)

    def supersede(self, viewport: int, generation: int) -> None:
        """From now on only ``generation`` of ``viewport`` may send; drop older messages."""
        self._current[viewport] = generation
        kept = deque(item for item in self._items if not self._stale(item))
        dropped = len(self._items) - len(kept)
        if dropped:
            self.dropped += dropped
            self._bytes -= sum(item.size for item in self._items if self._stale(item))
            self._items = kept
        self._notify()

    def is_current(self, viewport: int, generation: int) -> bool:
        return self._current.get(viewport, 0) == generation

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    # ------------------------------------------------------------------------ sender

    async def run(self) -> None:
        """Send queued messages in order until ``close``; the socket's one sender task."""
        while True:
            await self._wait_for(lambda: self._closed or bool(self._items))
            if self._closed:
                return
            item = self._items.popleft()
            try:
                # The last check before the wire: a view may have arrived since queueing.
                if item.viewport is not None and self._stale(item):
                    self.dropped += 1
                    continue
                await self._send(item.data)
                self.sent += 1
            finally:
                self._bytes -= item.size
                self._notify()

    def close(self) -> None:
        self._closed = True
        self._items.clear()
        self._bytes = 0
        self._notify()

    # --------------------------------------------------------------------- internals

    def _append(self, item: _Item) -> None:
        self._items.append(item)
        self._bytes += item.size
        self.high_water = max(self.high_water, self._bytes)
        self._notify()

    def _stale(self, item: _Item) -> bool:
        return item.viewport is not None and not self.is_current(item.viewport, item.generation)

    def _notify(self) -> None:
        # Wake every waiter; each re-checks its own condition. A fresh event per change
        # means no waiter can miss one between checking and waiting (one thread, one loop).
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_for(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()
