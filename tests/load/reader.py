"""A simulated reader, driving the socket the way today's browser viewer does (frontend
``viewer.js``, ``viewport.js``, ``view-pacer.js``, ``image-stack.js``; PROTOCOL.md
``previews``):

- on opening the stack, and once new window settings have rested 400 ms, one ``previews``
  request for every slice of the stack (at most 384), nearest the slice on show first, minus
  those already held;
- a wheel step to a slice whose preview is held is drawn from memory in the same event; the
  sharp ``view`` is asked for only once scrolling rests 120 ms. A step to a slice not held
  asks for its ``view`` at once;
- at most one ``view`` in flight per viewport: a view waits while the last one has shown no
  pixels (first non-prefetch pixels, ``done`` or ``error``) for up to 400 ms; only the newest
  waiting one leaves (latest wins). Each view carries a ``prefetch`` list of the nearest
  slices not held (12, or 24 while scrolling: a new slice within 500 ms);
- scrolling in bursts at ``fps``, pausing to look, changing the window now and then (the
  browser re-maps the picture it holds at once, then asks for the sharp view), and opening
  the next study every few bursts (a new stack: its previews are not held yet, so the first
  steps through it may wait for them, or find none: stale); ``instance_stored`` for the
  open study asks for its outline again 500 ms after the first of a burst and every
  500 ms while they keep coming (viewer.js, coalesce.js), and a grown stack asks previews
  of its new slices.

Latencies recorded, as the reader sees them:

- ``step``: from a wheel step to a picture of that slice on screen: zero when its preview is
  held, else until its preview (or a prefetch/previews item of it) arrives; infinite when the
  reader scrolled on before any came (the reader saw a stale slice).
- ``sharp``: from sending the view of the slice the reader rests on to its last
  full-resolution tile (the server's part), and ``sharp_from_stop``: from the reader's last
  step (or window change) to that tile, which includes the browser's deliberate 120 ms rest.
  Counted once per rest (a pause to look, at least the shortest pause); a rest ending with
  no sharp tile set is a miss (infinite). Slices passed while scrolling expect none.
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

PREFETCH = 12  # viewer.js PREFETCH
SCROLLING_PREFETCH = 24  # viewer.js CINE_PREFETCH, while scrolling
SCROLLING = 0.5  # viewer.js SCROLLING_MS: a new slice this soon after the last is scrolling
PATIENCE = 0.4  # view-pacer.js patienceMs
SCROLL_REST = 0.12  # viewport.js SCROLL_REST_MS
SETTINGS_REST = 0.4  # viewer.js SETTINGS_REST_MS
REFRESH_EVERY = 0.5  # viewer.js: outline refreshes coalesced per 500 ms (coalesce.js)
STACK_PREVIEWS = 384  # viewer.js STACK_PREVIEWS
REMEMBERED = 256  # requests whose items are still recognised (request-ledger.js)
WINDOWS = [[40, 400], [-600, 1500], [400, 1800], [50, 150]]


@dataclass
class Pace:
    fps: float = 10.0  # wheel steps per second within a burst
    burst: tuple[int, int] = (6, 20)  # slices per burst
    pause: tuple[float, float] = (0.5, 2.5)  # seconds looking between bursts
    window_change: float = 0.3  # chance that a pause ends with a new window
    switch_every: int = 4  # bursts per study before the reader opens the next one (0: never)


@dataclass
class ReaderResult:
    steps: list[float] = field(default_factory=list)  # wheel step -> slice on screen
    sharp: list[float] = field(default_factory=list)  # view sent -> last tile (at rest)
    sharp_from_stop: list[float] = field(default_factory=list)  # last step -> last tile
    views: int = 0
    previews_requests: int = 0
    errors: list[str] = field(default_factory=list)
    events: int = 0
    upstream: str = ""
    held: int = 0  # views replaced by a newer one before being sent (pacer)
    studies_opened: int = 0
    outline_refreshes: int = 0

    # The report's older names: frames are the sharp frames.
    @property
    def frames(self) -> list[float]:
        return self.sharp


@dataclass
class _Request:
    """A sent ``view`` or ``previews``: what its pixel messages refer to."""

    items: list[str]  # prefetch / previews items (instance UIDs, frame 0)
    window_key: str
    instance: str = ""  # a view's own slice
    sent: float = 0.0
    tiles: int = 0
    seen: int = 0
    complete: bool = False
    answered: bool = False


@dataclass
class _Showing:
    """The slice on screen and how it got there."""

    index: int
    window_key: str
    since: float  # the step or window change that put it there
    measured: bool
    step: bool  # a wheel step (its latency counts in ``steps``)
    shown: bool = False  # a picture of it is on screen
    sharp: bool = False  # its tiles are complete
    sharp_sent: float = 0.0  # ... the view that brought them was sent then
    sharp_at: float = 0.0  # ... and its last tile arrived then


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
        self.requests: dict[int, _Request] = {}
        self.cached: set[tuple[str, str]] = set()  # previews held: (instance, window)
        self.window: list[float] | None = None
        self.index = self.rng.randrange(len(self.instances))
        self.direction = 1
        self.showing: _Showing | None = None
        self.in_flight: _Request | None = None  # the pacer's view
        self.waiting = False  # a view for the slice on show waits for the pacer
        self.rest_timer: asyncio.TimerHandle | None = None
        self.settings_timer: asyncio.TimerHandle | None = None
        self.stack_asked: str | None = None  # window key of the last previews request
        self.last_image: tuple[str, float] | None = None
        self._tasks: set[asyncio.Task] = set()
        self._outline: tuple[int, asyncio.Future] | None = None  # an open_study awaited
        self.studies_opened = 1
        self.study_uid = study.get("study", "")
        self.reopen_timer: asyncio.TimerHandle | None = None
        self.refresh_request = 0  # the open_study of the newest outline refresh
        self.refreshes = 0

    @property
    def window_key(self) -> str:
        return repr(self.window)

    def _uid(self, index: int) -> str:
        return self.instances[index]["uid"]

    # ---------------------------------------------------------------- receiving

    async def receive_forever(self) -> None:
        while True:
            message = await self.socket.receive(timeout=60)
            if message.json is not None:
                kind = message.json.get("type")
                outline = self._outline
                if outline is not None and message.json.get("request") == outline[0]:
                    if not outline[1].done():
                        outline[1].set_result(message.json)
                    continue
                if kind == "instance_stored" and message.json.get("study") == self.study_uid:
                    self._instance_stored()
                    continue
                if kind == "study" and message.json.get("request") == self.refresh_request:
                    self._refreshed(message.json)
                    continue
                request = self.requests.get(message.json.get("request") or 0)
                if kind == "error":
                    self.result.errors.append(f"view: {ViewError(message.json)}")
                if kind in ("error", "done") and request is not None:
                    self._answered(request)
                continue
            header = message.header
            assert header is not None
            request = self.requests.get(header.request)
            if request is None:
                continue
            if header.kind == Kind.PREFETCH:
                if header.item < len(request.items):
                    self._picture(request.items[header.item], request.window_key, message.at)
                continue
            self._answered(request)
            if header.kind == Kind.PREVIEW:
                self._picture(request.instance, request.window_key, message.at)
            elif header.kind == Kind.TILE:
                request.seen += 1
                if request.seen == request.tiles and not request.complete:
                    request.complete = True
                    self._sharp(request, message.at)

    def _picture(self, uid: str, window_key: str, at: float) -> None:
        """A whole-frame preview arrived: kept, and on screen if it is of the slice on show."""
        self.cached.add((uid, window_key))
        showing = self.showing
        if showing is None or showing.shown:
            return
        if self._uid(showing.index) == uid and showing.window_key == window_key:
            showing.shown = True
            if showing.step and showing.measured:
                self.result.steps.append(at - showing.since)

    def _sharp(self, request: _Request, at: float) -> None:
        showing = self.showing
        if (
            showing is None
            or showing.sharp
            or self._uid(showing.index) != request.instance
            or showing.window_key != request.window_key
        ):
            return  # tiles of a slice the reader moved on from
        showing.sharp = True
        showing.shown = True
        showing.sharp_sent = request.sent
        showing.sharp_at = at

    def _answered(self, request: _Request) -> None:
        """First pixels (or the end) of a view: the viewport's waiting view leaves now."""
        if request.answered:
            return
        request.answered = True
        if request is self.in_flight:
            self.in_flight = None
            if self.waiting:
                self.waiting = False
                self._send_view()

    # ---------------------------------------------------------------- sending

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remember(self, request_id: int, request: _Request) -> None:
        self.requests[request_id] = request
        while len(self.requests) > REMEMBERED:
            del self.requests[next(iter(self.requests))]

    def _prefetch_list(self, count: int) -> list[str]:
        """image-stack.js prefetchList: two ahead, one behind, nearest first."""
        n = len(self.instances)
        order: list[int] = []
        ahead = behind = 1
        while len(order) < count and (ahead < n or behind < n):
            for _ in range(2):
                if ahead >= n:
                    break
                i = self.index + self.direction * ahead
                if 0 <= i < n:
                    order.append(i)
                ahead += 1
            if behind < n:
                i = self.index - self.direction * behind
                if 0 <= i < n:
                    order.append(i)
                behind += 1
        return [self._uid(i) for i in order[:count]]

    def _request_view(self) -> None:
        """viewer.js requestPixels through the pacer: now, or the newest waiting one."""
        in_flight = self.in_flight
        if in_flight is not None and time.monotonic() - in_flight.sent < PATIENCE:
            self.result.held += self.waiting
            self.waiting = True
            return
        self.waiting = False
        self._send_view()

    def _send_view(self) -> None:
        showing = self.showing
        assert showing is not None
        uid = self._uid(showing.index)
        now = time.monotonic()
        scrolling = (
            self.last_image is not None
            and self.last_image[0] != uid
            and now - self.last_image[1] < SCROLLING
        )
        if self.last_image is None or self.last_image[0] != uid:
            self.last_image = (uid, now)
        window_key = self.window_key
        wanted = SCROLLING_PREFETCH if scrolling else PREFETCH
        ahead = [u for u in self._prefetch_list(wanted) if (u, window_key) not in self.cached]
        instance = self.instances[showing.index]
        rows, columns = instance["rows"], instance["columns"]
        region = (0.0, 0.0, float(columns), float(rows))
        request_id = self.socket.request_id()
        request = _Request(
            items=ahead,
            window_key=window_key,
            instance=uid,
            sent=now,
            tiles=len(plan_view(rows, columns, region, 1.0, TILE_SIZE, 1 << 40).tiles),
        )
        self._remember(request_id, request)
        self.in_flight = request
        self.result.views += now >= self.measure_from
        self._spawn(
            self.socket.send(
                type="view",
                request=request_id,
                viewport=0,
                instance=uid,
                frame=0,
                region=list(region),
                scale=1.0,
                window=self.window,
                voi=0,
                function=None,
                invert=False,
                quality="interactive",
                prefetch=[[u, 0] for u in ahead],
            )
        )
        self._ask_stack_previews()

    def _ask_stack_previews(self) -> None:
        """viewer.js askStackPreviews: once per stack and settings; new settings once they rest."""
        window_key = self.window_key
        if self.stack_asked == window_key:
            return
        first = self.stack_asked is None
        self.stack_asked = window_key
        if self.settings_timer is not None:
            self.settings_timer.cancel()
        if first:
            self._send_stack_previews(window_key)
        else:
            self.settings_timer = asyncio.get_running_loop().call_later(
                SETTINGS_REST, self._send_stack_previews, window_key
            )

    def _send_stack_previews(self, window_key: str) -> None:
        if window_key != self.window_key:
            return
        wanted = min(len(self.instances), STACK_PREVIEWS)
        items = [self._uid(self.index), *self._prefetch_list(wanted - 1)]
        items = [u for u in items if (u, window_key) not in self.cached]
        if not items:
            return
        request_id = self.socket.request_id()
        self._remember(request_id, _Request(items=items, window_key=window_key))
        self.result.previews_requests += 1
        self._spawn(
            self.socket.send(
                type="previews",
                request=request_id,
                viewport=0,
                items=[[u, 0] for u in items],
                window=self.window,
                voi=0,
                function=None,
                invert=False,
            )
        )

    def _leave(self, now: float) -> None:
        """The reader moves on from the slice on show: a rest without a sharp frame is a miss;
        a wheel step never shown is a stale slice."""
        showing = self.showing
        if showing is None or not showing.measured:
            return
        if showing.step and not showing.shown:
            self.result.steps.append(math.inf)
        if now - showing.since < self.pace.pause[0]:
            return  # scrolling on: no sharp frame expected
        if showing.sharp:
            self.result.sharp.append(showing.sharp_at - showing.sharp_sent)
            self.result.sharp_from_stop.append(showing.sharp_at - showing.since)
        else:
            self.result.sharp.append(math.inf)
            self.result.sharp_from_stop.append(math.inf)

    def _show(self, step: bool) -> None:
        """viewport.js pixelsChanged: drawn from memory when held (sharp view after a rest),
        else the view is asked for at once."""
        now = time.monotonic()
        self._leave(now)
        window_key = self.window_key
        held = (self._uid(self.index), window_key) in self.cached
        self.showing = _Showing(
            index=self.index,
            window_key=window_key,
            since=now,
            measured=now >= self.measure_from,
            step=step,
            shown=held,
        )
        if step and held and self.showing.measured:
            self.result.steps.append(0.0)
        if self.rest_timer is not None:
            self.rest_timer.cancel()
            self.rest_timer = None
        if step and held:
            self.rest_timer = asyncio.get_running_loop().call_later(SCROLL_REST, self._request_view)
        else:
            self._request_view()

    def _instance_stored(self) -> None:
        """viewer.js (coalesce.js): the first of a burst starts a 500 ms timer, later ones
        ride on it: one refresh per burst, and one every 500 ms while they keep coming."""
        if self.reopen_timer is None:
            self.reopen_timer = asyncio.get_running_loop().call_later(
                REFRESH_EVERY, self._refresh_outline
            )

    def _refresh_outline(self) -> None:
        self.reopen_timer = None
        self.refresh_request = self.socket.request_id()
        self.refreshes += 1
        self._spawn(
            self.socket.send(type="open_study", study=self.study_uid, request=self.refresh_request)
        )

    def _refreshed(self, outline: dict) -> None:
        """The stack updated in place: the slice on show keeps its place."""
        if outline.get("study") != self.study_uid:
            return
        instances = series_instances(outline)
        if len(instances) == len(self.instances):
            return
        uid = self._uid(self.index)
        self.instances = instances
        uids = [instance["uid"] for instance in instances]
        self.index = uids.index(uid) if uid in uids else min(self.index, len(uids) - 1)
        if self.showing is not None:
            self.showing.index = self.index
        self.stack_asked = None  # viewer.js: the stack's signature includes its length
        self._send_stack_previews(self.window_key)
        self.stack_asked = self.window_key

    async def open_next(self, study_uid: str, deadline: float) -> None:
        """Open another study on this socket and show its first slice (a new stack)."""
        request = self.socket.request_id()
        future = asyncio.get_running_loop().create_future()
        self._outline = (request, future)
        await self.socket.send(type="open_study", study=study_uid, request=request)
        answer = await asyncio.wait_for(future, max(1.0, deadline + 10 - time.monotonic()))
        self._outline = None
        if answer.get("type") == "error":
            raise ViewError(answer)
        self._leave(time.monotonic())
        self.showing = None
        self.study_uid = study_uid
        if self.reopen_timer is not None:
            self.reopen_timer.cancel()
            self.reopen_timer = None
        self.instances = series_instances(answer)
        self.index = 0
        self.direction = 1
        self.stack_asked = None
        self.studies_opened += 1
        self._show(step=False)

    async def read(self, deadline: float, studies: list[str] = ()) -> None:
        pace = self.pace
        self._show(step=False)
        await asyncio.sleep(self.rng.uniform(*pace.pause))
        bursts = 0
        while time.monotonic() < deadline:
            bursts += 1
            if studies and pace.switch_every and bursts % pace.switch_every == 0:
                study = studies[(self.studies_opened - 1) % len(studies)]
                await self.open_next(study, deadline)
                await asyncio.sleep(self.rng.uniform(*pace.pause))
            for _ in range(self.rng.randint(*pace.burst)):
                if time.monotonic() >= deadline:
                    break
                tick = time.monotonic()
                if not 0 <= self.index + self.direction < len(self.instances):
                    self.direction = -self.direction  # scroll back the other way at either end
                self.index += self.direction
                self._show(step=True)
                await asyncio.sleep(max(0.0, tick + 1 / pace.fps - time.monotonic()))
            await asyncio.sleep(self.rng.uniform(*pace.pause))  # looking at the image
            if self.rng.random() < pace.window_change and time.monotonic() < deadline:
                self.window = self.rng.choice(WINDOWS)
                self._show(step=False)  # same slice, new window
                await asyncio.sleep(self.rng.uniform(*pace.pause))
        self._leave(time.monotonic())
        self.showing = None
        if self.rest_timer is not None:
            self.rest_timer.cancel()
        if self.settings_timer is not None:
            self.settings_timer.cancel()
        if self.reopen_timer is not None:
            self.reopen_timer.cancel()


async def run_reader(
    ws_url: str,
    origin: str,
    cookie: str,
    study_uid: str,
    pace: Pace,
    seed: int,
    measure_from: float,
    deadline: float,
    studies: list[str] = (),
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
        # The next studies in turn, starting after the reader's own.
        start = studies.index(study_uid) + 1 if study_uid in studies else 0
        turn = [*studies[start:], *studies[:start]]
        reading = asyncio.get_running_loop().create_task(reader.read(deadline, turn))
        done, _ = await asyncio.wait({receiver, reading}, return_when=asyncio.FIRST_COMPLETED)
        if receiver in done and not reading.done():
            reading.cancel()
            error = receiver.exception()
            reader.result.errors.append(f"socket: {type(error).__name__}: {error}")
        elif reading in done and reading.exception() is not None:
            error = reading.exception()
            reader.result.errors.append(f"reader: {type(error).__name__}: {error}")
    except (websockets.exceptions.WebSocketException, OSError, TimeoutError, ViewError) as exc:
        result = reader.result if reader else ReaderResult()
        result.errors.append(f"socket: {type(exc).__name__}: {exc}")
    finally:
        if receiver is not None:
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)
        await socket.close()
    result = reader.result if reader else ReaderResult(errors=["the study did not open"])
    result.events = len(socket.events)
    result.studies_opened = reader.studies_opened if reader else 0
    result.outline_refreshes = reader.refreshes if reader else 0
    return result
