"""Automatic logoff for websockets: a socket lives no longer than the session that opened it.

Django checks the session on every HTTP request, but a viewer socket stays open for hours
after its one handshake. This ASGI middleware (inside ``AuthMiddlewareStack``, so the scope
carries the session and the resolved user) looks at the session every
``SESSION_SOCKET_CHECK_SECONDS``: once it has expired, or the user logged out (the session
row is gone), the socket is closed with code 4401 and the consumer is told the client left,
so its own clean-up runs.

Using the viewer over the socket is activity too: if the client sent anything since the
last look, the session is saved again, which slides its expiry (``session_idle`` does the
same for HTTP). An idle viewer is logged off like an idle page.
"""

from __future__ import annotations

import asyncio
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY

# 4000-4999 are private-use close codes (RFC 6455 7.4.2); 4401 reads as "401: log in again".
CLOSE_SESSION_ENDED = 4401


class SessionTimeoutMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        user = scope.get("user")
        session = scope.get("session")
        if (
            scope.get("type") != "websocket"
            or session is None
            or user is None
            or not user.is_authenticated
        ):
            await self.app(scope, receive, send)
            return
        await _GuardedSocket(self.app, session.session_key).run(scope, receive, send)


class _GuardedSocket:
    def __init__(self, app: Any, session_key: str | None) -> None:
        self.app = app
        self.session_key = session_key
        self.ended = asyncio.Event()
        self.active = False

    async def run(self, scope: Any, receive: Any, send: Any) -> None:
        self._receive, self._send = receive, send
        watcher = asyncio.get_running_loop().create_task(self._watch())
        try:
            await self.app(scope, self.receive, self.send)
        finally:
            watcher.cancel()

    async def receive(self) -> dict[str, Any]:
        if self.ended.is_set():
            return {"type": "websocket.disconnect", "code": CLOSE_SESSION_ENDED}
        incoming = asyncio.ensure_future(self._receive())
        ended = asyncio.ensure_future(self.ended.wait())
        done, _ = await asyncio.wait({incoming, ended}, return_when=asyncio.FIRST_COMPLETED)
        if incoming in done:
            ended.cancel()
            message = incoming.result()
            if message.get("type") == "websocket.receive":
                self.active = True
            return message
        incoming.cancel()
        return {"type": "websocket.disconnect", "code": CLOSE_SESSION_ENDED}

    async def send(self, message: dict[str, Any]) -> None:
        if self.ended.is_set():
            return  # the socket is closed; late frames of the consumer go nowhere
        await self._send(message)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(settings.SESSION_SOCKET_CHECK_SECONDS)
            touch, self.active = self.active, False
            if not await database_sync_to_async(session_alive)(self.session_key, touch):
                break
        await self._send({"type": "websocket.close", "code": CLOSE_SESSION_ENDED})
        self.ended.set()


def session_alive(session_key: str | None, touch: bool = False) -> bool:
    """Whether the session still holds a logged-in user; ``touch`` slides its expiry."""
    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    # load() answers {} for an expired or deleted session (every backend checks expiry).
    if SESSION_KEY not in store.load():
        return False
    if touch:
        store.save()
    return True
