"""A network client of the viewer, as a browser is one: log in over HTTP, then speak
PROTOCOL.md over a real websocket (the ``websockets`` library), through the front proxy.

Shared by the load generator and the fault tests, so both exercise exactly what a browser
does: session cookie, Origin check, JSON requests, 44-byte-header pixel messages.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import websockets

from studies.streaming.plan import plan_view
from studies.streaming.protocol import Kind, PixelHeader, unpack_pixels

TILE_SIZE = 256  # IMAGING_TILE_SIZE's default; the deployments here keep it
_CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


class LoginFailed(RuntimeError):
    pass


def login(base_url: str, username: str, password: str, timeout: float = 15) -> str:
    """Log in through the login form; returns the ``Cookie`` header value for the socket."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_url = f"{base_url}/accounts/login/"
    with opener.open(login_url, timeout=timeout) as response:
        page = response.read()
    match = _CSRF_FIELD.search(page)
    if not match:
        raise LoginFailed("the login page has no CSRF token")
    body = urllib.parse.urlencode(
        {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": match.group(1).decode(),
        }
    ).encode()
    request = urllib.request.Request(login_url, data=body, headers={"Referer": login_url})
    with opener.open(request, timeout=timeout) as response:
        response.read()
    cookies = {cookie.name: cookie.value for cookie in jar}
    if "sessionid" not in cookies:
        raise LoginFailed(f"no session after logging in as {username!r}")
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


@dataclass
class Message:
    json: dict[str, Any] | None = None
    header: PixelHeader | None = None
    size: int = 0
    at: float = 0.0


@dataclass
class FrameTiming:
    """One answered ``view``: seconds from sending it to its preview and to its last tile."""

    request: int
    preview: float
    complete: float
    tiles: int


@dataclass
class Socket:
    """One open viewer socket."""

    connection: Any
    upstream: str = ""  # the ASGI server nginx chose (X-Upstream, test deployments only)
    next_request: int = 1
    events: list[dict[str, Any]] = field(default_factory=list)  # instance_stored seen

    @classmethod
    async def open(cls, ws_url: str, origin: str, cookie: str, timeout: float = 15) -> Socket:
        connection = await websockets.connect(
            ws_url,
            additional_headers={"Cookie": cookie},
            origin=origin,
            open_timeout=timeout,
            close_timeout=2,
            max_size=64 * 1024 * 1024,
            # The server answers; no client-side keepalive pings to muddle timings.
            ping_interval=None,
        )
        upstream = connection.response.headers.get("X-Upstream", "")
        return cls(connection, upstream=upstream)

    def request_id(self) -> int:
        value = self.next_request
        self.next_request += 1
        return value

    async def send(self, **message: Any) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, timeout: float) -> Message:
        data = await asyncio.wait_for(self.connection.recv(), timeout)
        now = time.monotonic()
        if isinstance(data, str):
            payload = json.loads(data)
            if payload.get("type") == "instance_stored":
                self.events.append(payload)
            return Message(json=payload, size=len(data), at=now)
        header, _ = unpack_pixels(data)
        return Message(header=header, size=len(data), at=now)

    async def open_study(self, study: str, timeout: float = 30) -> dict[str, Any]:
        request = self.request_id()
        await self.send(type="open_study", study=study, request=request)
        deadline = time.monotonic() + timeout
        while True:
            message = await self.receive(max(0.01, deadline - time.monotonic()))
            if message.json and message.json.get("request") == request:
                if message.json["type"] == "error":
                    raise ViewError(message.json)
                return message.json

    async def view(
        self,
        instance: str,
        rows: int,
        columns: int,
        *,
        window: list[float] | None = None,
        scale: float = 1.0,
        timeout: float = 30,
    ) -> FrameTiming:
        """Ask for a whole frame and wait until every tile arrived (and its preview, unless
        this socket already received that picture: the server then sends none)."""
        request = self.request_id()
        region = (0.0, 0.0, float(columns), float(rows))
        tiles = len(plan_view(rows, columns, region, scale, TILE_SIZE, 1 << 40).tiles)
        sent = time.monotonic()
        await self.send(
            type="view",
            request=request,
            viewport=0,
            instance=instance,
            frame=0,
            region=list(region),
            scale=scale,
            window=window,
            voi=0,
            function=None,
            invert=False,
            quality="interactive",
        )
        preview = None
        seen = 0
        deadline = sent + timeout
        while True:
            message = await self.receive(max(0.01, deadline - time.monotonic()))
            if message.json is not None:
                if message.json.get("type") == "error" and message.json.get("request") in (
                    request,
                    None,
                ):
                    raise ViewError(message.json)
                continue
            header = message.header
            assert header is not None
            if header.request != request:
                continue  # a late message of an earlier request (latest wins)
            if header.kind == Kind.PREVIEW:
                preview = message.at - sent
            elif header.kind == Kind.TILE:
                seen += 1
                if seen == tiles:
                    # No preview before the tiles: the socket holds it from an earlier view.
                    shown = preview if preview is not None else 0.0
                    return FrameTiming(request, shown, message.at - sent, tiles)

    async def ping(self, timeout: float = 10) -> None:
        await self.send(type="ping")
        deadline = time.monotonic() + timeout
        while True:
            message = await self.receive(max(0.01, deadline - time.monotonic()))
            if message.json and message.json.get("type") == "pong":
                return

    async def close(self) -> None:
        try:
            await self.connection.close()
        except Exception:  # already gone  # noqa: S110
            pass


async def reconnect(
    ws_url: str, origin: str, cookie: str, attempts: int = 20, delay: float = 0.25
) -> Socket:
    """Open a socket again after a drop, as the browser's reconnecting socket does: a
    bounded number of tries with a growing pause."""
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            return await Socket.open(ws_url, origin, cookie, timeout=10)
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
            last = exc
            await asyncio.sleep(min(delay * (attempt + 1), 2.0))
    raise ConnectionError(f"no socket after {attempts} attempts: {last}")


class ViewError(RuntimeError):
    """The server answered a request with an ``error`` message."""

    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__(f"{message.get('code')}: {message.get('message')}")
        self.message = message


def series_instances(study: dict[str, Any]) -> list[dict[str, Any]]:
    """Every instance of the study's first series, in the order the server sorted them."""
    return [instance for instance in study["series"][0]["instances"]]
