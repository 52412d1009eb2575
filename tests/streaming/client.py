"""A small Python client of the viewer protocol over ``WebsocketCommunicator``.

It speaks PROTOCOL.md the way the browser does (JSON requests out; JSON and 44-byte-header
binary messages in) so the tests read as conversations.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from PIL import Image

from studies.streaming.protocol import Encoding, Kind, PixelHeader, unpack_pixels
from viewerproject.asgi import application

ORIGIN = b"http://127.0.0.1:8000"
TIMEOUT = 30


@dataclass
class Received:
    """One server message: ``json`` for text, ``header`` + ``payload`` for pixels."""

    json: dict[str, Any] | None = None
    header: PixelHeader | None = None
    payload: bytes = b""

    @property
    def is_pixels(self) -> bool:
        return self.header is not None

    @property
    def type(self) -> str:
        if self.header is not None:
            return self.header.kind.name.lower()
        assert self.json is not None
        return self.json["type"]

    @property
    def request(self) -> int | None:
        if self.header is not None:
            return self.header.request
        assert self.json is not None
        return self.json.get("request")

    def pixels(self) -> np.ndarray:
        """The decoded bitmap (Pillow), checked against the header's encoding and size."""
        assert self.header is not None
        image = Image.open(io.BytesIO(self.payload))
        expected = {Encoding.JPEG: "JPEG", Encoding.PNG: "PNG"}[self.header.encoding]
        assert image.format == expected
        assert image.size == (self.header.bitmap_width, self.header.bitmap_height)
        return np.asarray(image)


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


async def communicator(
    user=None, *, origin: bytes | None = ORIGIN, app=application, path: str = "/ws/viewer/"
) -> WebsocketCommunicator:
    headers = [(b"host", b"127.0.0.1:8000")]
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        headers.append((b"cookie", await database_sync_to_async(session_cookie)(user)))
    return WebsocketCommunicator(app, path, headers=headers)


class Viewer:
    """A connected socket."""

    def __init__(self, socket: WebsocketCommunicator) -> None:
        self.socket = socket

    @classmethod
    async def open(cls, user, **options: Any) -> Viewer:
        socket = await communicator(user, **options)
        connected, _ = await socket.connect(timeout=TIMEOUT)
        assert connected, "the viewer socket was refused"
        return cls(socket)

    async def send(self, **message: Any) -> None:
        await self.socket.send_to(text_data=json.dumps(message))

    async def receive(self, timeout: float = TIMEOUT) -> Received:
        output = await self.socket.receive_output(timeout)
        assert output["type"] == "websocket.send", output
        if output.get("text") is not None:
            return Received(json=json.loads(output["text"]))
        header, payload = unpack_pixels(output["bytes"])
        return Received(header=header, payload=payload)

    async def receive_json(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        message = await self.receive(timeout)
        assert message.json is not None, f"expected JSON, got {message.type}"
        return message.json

    async def until_done(self, request: int, timeout: float = TIMEOUT) -> list[Received]:
        """Every message up to and including the ``done`` or ``error`` of ``request``."""
        messages = []
        while True:
            message = await self.receive(timeout)
            messages.append(message)
            if message.json and message.json["type"] in ("done", "error"):
                if message.json.get("request") == request:
                    return messages

    async def close(self) -> None:
        await self.socket.disconnect()


def view(request: int, instance: str, **fields: Any) -> dict[str, Any]:
    """A ``view`` request with the defaults a browser would send for a fitted 512² image."""
    message = {
        "type": "view",
        "request": request,
        "viewport": 0,
        "instance": instance,
        "frame": 0,
        "region": [0, 0, 512, 512],
        "scale": 1.0,
        "window": None,
        "voi": 0,
        "function": None,
        "invert": False,
        "quality": "interactive",
    }
    message.update(fields)
    return message


def of_kind(messages: list[Received], kind: Kind) -> list[Received]:
    return [m for m in messages if m.header is not None and m.header.kind == kind]
