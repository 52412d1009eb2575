"""A window change as the viewer makes it, for the render benchmark: one ``view`` over the
viewer's websocket (studies/streaming/PROTOCOL.md), timed from sending it to its first pixels
(the ``preview``) and to its full-resolution pixels (every level-0 ``tile`` of the region).

Synchronous on purpose: the render benchmark alternates each socket request with an HTTP
request to Orthanc, one at a time, so both meet the same load. The socket lives on an event
loop of its own that runs only while a request of ours is in flight; what arrives meanwhile
waits in the kernel's buffer and is read (and discarded by request id) on the next call.

After the timed part the call waits, untimed, for the view's ``done`` (it follows the lossless
PNG, which an interactive view gets after 300 ms without a newer view): the next request
then finds an idle server, as Orthanc's does, and no message of request n is left to be
mistaken for one of n+1 (every pixel message is matched on its request id as well).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import websockets

from studies.streaming.protocol import Encoding, Kind, unpack_pixels
from tests.load.client import login

JPEG_START = b"\xff\xd8"


class SocketError(RuntimeError):
    """The server answered with an ``error`` or closed the socket."""


@dataclass(frozen=True)
class WindowChange:
    """Seconds from sending the ``view`` to its preview (None when it asked for none) and to
    its last full-resolution tile."""

    preview: float | None
    full: float
    tiles: int


class ViewerSocket:
    """``with ViewerSocket(base_url, username, password) as socket: socket.window_change(...)``.

    Logs in through the login form (a session cookie, as the browser), opens
    ``/ws/viewer/`` with the page's Origin, and speaks the protocol's JSON and binary
    messages."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._cookie = login(base_url, username, password)
        self._loop = asyncio.new_event_loop()
        self._connection: Any = None
        self._next_request = 1

    def __enter__(self) -> ViewerSocket:
        try:
            self._connection = self._run(self._open())
        except BaseException:
            self._loop.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._run(self._connection.close())
        except (OSError, websockets.exceptions.WebSocketException):
            pass  # gone already
        finally:
            self._loop.close()

    def open_study(self, study: str) -> dict[str, Any]:
        """``open_study`` (no first picture); answers the ``study`` outline."""
        return self._run(self._open_study(study))

    def ping(self) -> float:
        """Seconds from sending ``ping`` to its ``pong``: the socket's round trip with no
        work (loopback, both websocket stacks, the consumer's dispatch)."""
        return self._run(self._ping())

    def window_change(
        self,
        instance: str,
        rows: int,
        columns: int,
        window: tuple[float, float],
        viewport: int = 0,
        preview: bool = True,
    ) -> WindowChange:
        """One ``view`` of frame 0 with a new window: the whole image at scale 1, quality
        interactive, a fresh request id. ``preview=False`` sends ``"preview": false``, as the
        viewer's window drag does (it re-maps the picture it shows meanwhile); True sends a
        view without the field, which is answered with a preview first."""
        return self._run(self._window_change(instance, rows, columns, window, viewport, preview))

    # ----------------------------------------------------------------------- internals

    def _run(self, work: Any) -> Any:
        return self._loop.run_until_complete(work)

    async def _open(self) -> Any:
        ws_url = "ws" + self.base_url.removeprefix("http") + "/ws/viewer/"
        return await websockets.connect(
            ws_url,
            additional_headers={"Cookie": self._cookie},
            origin=self.base_url,
            open_timeout=self.timeout,
            close_timeout=2,
            max_size=64 * 1024 * 1024,
            ping_interval=None,  # no keepalive pings among the timed messages
            # Offers per-message deflate as a browser does; our server declines it
            # (viewerproject/serve.py).
        )

    def _request_id(self) -> int:
        value = self._next_request
        self._next_request += 1
        return value

    async def _receive(self, deadline: float) -> tuple[float, dict[str, Any] | None, Any, bytes]:
        """The next message: (arrival time, JSON or None, pixel header or None, payload)."""
        try:
            data = await asyncio.wait_for(
                self._connection.recv(), max(0.01, deadline - time.perf_counter())
            )
        except websockets.exceptions.ConnectionClosed as exc:
            raise SocketError(f"the socket closed: {exc}") from exc
        except TimeoutError as exc:
            raise SocketError("no answer within the time limit") from exc
        now = time.perf_counter()
        if isinstance(data, str):
            return now, json.loads(data), None, b""
        header, payload = unpack_pixels(data)
        return now, None, header, payload

    async def _open_study(self, study: str) -> dict[str, Any]:
        request = self._request_id()
        await self._connection.send(
            json.dumps({"type": "open_study", "study": study, "request": request})
        )
        deadline = time.perf_counter() + self.timeout
        while True:
            _, message, _, _ = await self._receive(deadline)
            if message is not None and message.get("request") == request:
                if message["type"] == "error":
                    raise SocketError(
                        f"open_study: {message.get('code')}: {message.get('message')}"
                    )
                if message["type"] == "study":
                    return message

    async def _ping(self) -> float:
        sent = time.perf_counter()
        await self._connection.send('{"type": "ping"}')
        deadline = sent + self.timeout
        while True:
            at, message, _, _ = await self._receive(deadline)
            if message is not None and message.get("type") == "pong":
                return at - sent

    async def _window_change(
        self,
        instance: str,
        rows: int,
        columns: int,
        window: tuple[float, float],
        viewport: int,
        wants_preview: bool,
    ) -> WindowChange:
        request = self._request_id()
        fields: dict[str, Any] = {} if wants_preview else {"preview": False}
        text = json.dumps(
            {
                "type": "view",
                "request": request,
                "viewport": viewport,
                "instance": instance,
                "frame": 0,
                "region": [0, 0, columns, rows],
                "scale": 1,
                "window": list(window),
                "voi": 0,
                "function": None,
                "invert": False,
                "quality": "interactive",
                "prefetch": [],
                **fields,
            }
        )
        sent = time.perf_counter()
        await self._connection.send(text)
        deadline = sent + self.timeout
        preview = full = None
        covered = tiles = 0
        while True:
            at, message, header, payload = await self._receive(deadline)
            if message is not None:
                if message.get("request") != request:
                    continue  # an answer to an earlier request
                if message["type"] == "error":
                    raise SocketError(f"view: {message.get('code')}: {message.get('message')}")
                if message["type"] == "done":
                    break
                continue
            if header.request != request or header.viewport != viewport:
                continue  # pixels of an earlier request: never counted for this one
            if header.kind == Kind.PREVIEW:
                if not wants_preview:
                    raise SocketError("view: a preview came though the view asked for none")
                _check_jpeg(header, payload)
                preview = at - sent if preview is None else preview
            elif header.kind == Kind.TILE and header.level == 0:
                _check_jpeg(header, payload)
                tiles += 1
                covered += round(header.width * header.height)
                if full is None and covered >= rows * columns:
                    full = at - sent
        if preview is None and wants_preview:
            # Every window of the benchmark is new to the socket, so a preview is due.
            raise SocketError("view: no preview arrived")
        if full is None:
            raise SocketError(f"view: its level-0 tiles covered {covered} of {rows * columns} px")
        return WindowChange(preview, full, tiles)


def _check_jpeg(header: Any, payload: bytes) -> None:
    if header.encoding != Encoding.JPEG or not payload.startswith(JPEG_START):
        raise SocketError(f"view: a {header.kind.name.lower()} that is not a JPEG")
