"""A simulated reader, driving the socket the way the browser viewer does (frontend
``viewer.js``, ``view-pacer.js``): a ``view`` per scroll step, but at most one in flight per
viewport (a step taken while the last view has shown no pixels yet waits, and only the newest
waiting step is sent when they come: latest wins), with a ``prefetch`` list of the next slices
whose previews it does not hold yet (12, or 24 while scrolling); scrolling in bursts, pausing
to look (when the server sends the lossless image), changing the window now and then.
Prefetched previews are kept whichever request listed them (the server's prefetch lane
outlives views), and one for the slice on show is its preview.

Per view it records two latencies:

- ``frame``: from sending the view to the last full-resolution tile of it. A view the reader
  scrolled past before it was complete counts as missed (infinite latency), so an overloaded
  server cannot look fast by dropping work.
- ``preview``: from sending the view to the first pixels of that slice on screen: zero when a
  prefetched preview was already there, infinite when none came before the next scroll step.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field

import websockets

from studies.streaming.plan import plan_view
from studies.streaming.protocol import Kind
from tests.load.client import TILE_SIZE, Socket, ViewError, series_instances

PREFETCH = 12  # the browser asks for up to this many neighbours (viewer.js PREFETCH)
SCROLLING_PREFETCH = 24  # ... and this many while scrolling (viewer.js CINE_PREFETCH)
PATIENCE = 0.4  # a view unanswered this long stops holding the next (view-pacer.js)
REMEMBERED = 256  # requests whose prefetch items are still recognised (request-ledger.js)
WINDOWS = [[40, 400], [-600, 1500], [400, 1800], [50, 150]]


@dataclass
class Pace:
    fps: float = 10.0  # scroll steps per second within a burst
    burst: tuple[int, int] = (6, 20)  # slices per burst
    pause: tuple[float, float] = (0.5, 2.5)  # seconds looking between bursts
    window_change: float = 0.3  # chance that a pause ends with a new window


@dataclass
class ReaderResult:
    frames: list[float] = field(default_factory=list)
    previews: list[float] = field(default_factory=list)
    views: int = 0
    errors: list[str] = field(default_factory=list)
    events: int = 0
    upstream: str = ""
    steps: int = 0
    held: int = 0


@dataclass
class _View:
    request: int
    instance: str
    window_key: str
    prefetch: list[str]
    sent: float
    tiles: int
    measured: bool
    seen: int = 0
    complete: bool = False
    preview_recorded: bool = False
    answered: bool = False  # first pixels (or an error) arrived


class Reader:
    def __init__(
        self, socket: Socket, study: dict, pace: Pace, seed: int, measure_from: float
    ) -> None:
        self.socket = socket
        self.instances = series_instances(study)
        self.pace = pace
        self.rng = random.Random(seed)
        self.measure_from = measure_from
        self.result = ReaderResult(upstream=socket.upstream)
        self.views: dict[int, _View] = {}
        self._scrolling = False
        self.cached: set[tuple[str, str]] = set()  # previews held: (instance, window)
        self.current: _View | None = None
        self.window: list[float] | None = None
        self.index = self.rng.randrange(len(self.instances))
        self.step = 1
        self.waiting: dict | None = None  # the newest step held back (one view in flight)
        self.steps = 0  # scroll steps and window changes taken
        self.held = 0  # ... of which were replaced by a newer one before being sent

    # ---------------------------------------------------------------- receiving

    async def receive_forever(self) -> None:
        while True:
            message = await self.socket.receive(timeout=60)
            if message.json is not None:
                if message.json.get("type") == "error":
                    self.result.errors.append(f"view: {ViewError(message.json)}")
                    await self._answered(self.views.get(message.json.get("request") or 0))
                elif message.json.get("type") == "done":
                    await self._answered(self.views.get(message.json.get("request") or 0))
                continue
            header = message.header
            assert header is not None
            view = self.views.get(header.request)
            if view is None:
                continue
            current = self.current
            if header.kind == Kind.PREFETCH:
                if header.item < len(view.prefetch):
                    uid = view.prefetch[header.item]
                    self.cached.add((uid, view.window_key))
                    if (
                        current is not None
                        and current.instance == uid
                        and current.window_key == view.window_key
                    ):
                        self._record_preview(current, message.at - current.sent)
                continue
            await self._answered(view)
            if view is not current:
                continue  # a late message of a view the reader moved on from
            if header.kind == Kind.PREVIEW:
                self.cached.add((view.instance, view.window_key))
                self._record_preview(view, message.at - view.sent)
            elif header.kind == Kind.TILE:
                view.seen += 1
                if view.seen == view.tiles and not view.complete:
                    view.complete = True
                    if view.measured:
                        self.result.frames.append(message.at - view.sent)

    async def _answered(self, view: _View | None) -> None:
        """First pixels (or the end) of ``view``: the step held back, if any, goes now."""
        if view is None or view.answered:
            return
        view.answered = True
        if view is self.current and self.waiting is not None:
            instance, self.waiting = self.waiting, None
            await self._send_view(instance)

    def _record_preview(self, view: _View, seconds: float) -> None:
        if not view.preview_recorded:
            view.preview_recorded = True
            if view.measured:
                self.result.previews.append(seconds)

    def _close_current(self) -> None:
        """The reader moves on: an unfinished view is a miss."""
        view = self.current
        if view is None or not view.measured:
            return
        if not view.complete:
            self.result.frames.append(math.inf)
        if not view.preview_recorded:
            self._record_preview(view, math.inf)

    # ---------------------------------------------------------------- sending

    async def _view(self, instance: dict, scrolling: bool = False) -> None:
        """A scroll step or window change: sent now, or held while the last view is unanswered."""
        self.steps += 1
        current = self.current
        if (
            current is not None
            and not current.answered
            and time.monotonic() - current.sent < PATIENCE
        ):
            self.held += self.waiting is not None
            self.waiting = instance
            self._scrolling = scrolling
            return
        if self.waiting is not None:
            self.held += 1
            self.waiting = None
        self._scrolling = scrolling
        await self._send_view(instance)

    async def _send_view(self, instance: dict) -> None:
        self._close_current()
        window_key = repr(self.window)
        ahead = []
        position = self.index
        wanted = SCROLLING_PREFETCH if self._scrolling else PREFETCH
        while len(ahead) < wanted:
            position += self.step
            if not 0 <= position < len(self.instances):
                break
            uid = self.instances[position]["uid"]
            if (uid, window_key) not in self.cached:
                ahead.append(uid)
        request = self.socket.request_id()
        rows, columns = instance["rows"], instance["columns"]
        region = (0.0, 0.0, float(columns), float(rows))
        view = _View(
            request=request,
            instance=instance["uid"],
            window_key=window_key,
            prefetch=ahead,
            sent=time.monotonic(),
            tiles=len(plan_view(rows, columns, region, 1.0, TILE_SIZE, 1 << 40).tiles),
            measured=time.monotonic() >= self.measure_from,
        )
        self.views[request] = view  # kept for their prefetch items; only `current` draws
        while len(self.views) > REMEMBERED:
            del self.views[next(iter(self.views))]
        self.current = view
        self.result.views += view.measured
        if (view.instance, window_key) in self.cached:
            self._record_preview(view, 0.0)  # the prefetched preview shows at once
        await self.socket.send(
            type="view",
            request=request,
            viewport=0,
            instance=view.instance,
            frame=0,
            region=list(region),
            scale=1.0,
            window=self.window,
            voi=0,
            function=None,
            invert=False,
            quality="interactive",
            prefetch=[[uid, 0] for uid in ahead],
        )

    async def read(self, deadline: float) -> None:
        pace = self.pace
        while time.monotonic() < deadline:
            for _ in range(self.rng.randint(*pace.burst)):
                if time.monotonic() >= deadline:
                    break
                tick = time.monotonic()
                if not 0 <= self.index + self.step < len(self.instances):
                    self.step = -self.step  # scroll back the other way at either end
                self.index += self.step
                await self._view(self.instances[self.index], scrolling=True)
                await asyncio.sleep(max(0.0, tick + 1 / pace.fps - time.monotonic()))
            await asyncio.sleep(self.rng.uniform(*pace.pause))  # looking at the image
            if self.rng.random() < pace.window_change and time.monotonic() < deadline:
                self.window = self.rng.choice(WINDOWS)
                await self._view(self.instances[self.index])  # same slice, new window
                await asyncio.sleep(self.rng.uniform(*pace.pause))
        await asyncio.sleep(1.0)  # let the last view finish before judging it
        self._close_current()
        self.result.steps = self.steps
        self.result.held = self.held


async def run_reader(
    ws_url: str,
    origin: str,
    cookie: str,
    study_uid: str,
    pace: Pace,
    seed: int,
    measure_from: float,
    deadline: float,
) -> ReaderResult:
    try:
        socket = await Socket.open(ws_url, origin, cookie)
    except Exception as exc:
        return ReaderResult(errors=[f"connect: {type(exc).__name__}: {exc}"])
    reader = None
    receiver = None
    try:
        study = await socket.open_study(study_uid)
        reader = Reader(socket, study, pace, seed, measure_from)
        receiver = asyncio.get_running_loop().create_task(reader.receive_forever())
        reading = asyncio.get_running_loop().create_task(reader.read(deadline))
        done, _ = await asyncio.wait({receiver, reading}, return_when=asyncio.FIRST_COMPLETED)
        if receiver in done and not reading.done():
            reading.cancel()
            error = receiver.exception()
            reader.result.errors.append(f"socket: {type(error).__name__}: {error}")
    except (websockets.exceptions.WebSocketException, OSError, TimeoutError) as exc:
        result = reader.result if reader else ReaderResult()
        result.errors.append(f"socket: {type(exc).__name__}: {exc}")
    finally:
        if receiver is not None:
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)
        await socket.close()
    result = reader.result if reader else ReaderResult(errors=["the study did not open"])
    result.events = len(socket.events)
    return result
