"""Sliding session expiry without a write on every request.

The inactivity logoff needs the session's expiry to move forward while the user works.
``SESSION_SAVE_EVERY_REQUEST`` would do it with a session write on every request, and the
viewer makes hundreds (thumbnails, WADO-RS); this middleware saves the session at most once
per ``SESSION_TOUCH_SECONDS`` instead, so the logoff happens between
``SESSION_COOKIE_AGE - SESSION_TOUCH_SECONDS`` and ``SESSION_COOKIE_AGE`` after the last
request. The touch time lives in the session itself (no extra query); login sets it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse

TOUCHED = "_security_touched"


def mark_touched(session: Any) -> None:
    session[TOUCHED] = int(time.time())


def on_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        mark_touched(request.session)


class SlidingSessionMiddleware:
    """Place after SessionMiddleware: its response phase runs before the session is saved.

    Sync and async: a sync-only middleware in Django's async chain costs two thread switches
    on every request, and this one needs no thread (it reads a session already loaded)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        response = self.get_response(request)
        session = getattr(request, "session", None)
        # Only sessions the request used anyway (no extra query) and that hold a login.
        if session is None or not session.accessed or SESSION_KEY not in session:
            return response
        if int(time.time()) - session.get(TOUCHED, 0) >= settings.SESSION_TOUCH_SECONDS:
            mark_touched(session)  # modified: SessionMiddleware saves it with a new expiry
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        session = getattr(request, "session", None)
        # A session the request used is loaded already: these calls do not query.
        if session is None or not session.accessed or not await session.ahas_key(SESSION_KEY):
            return response
        if int(time.time()) - await session.aget(TOUCHED, 0) >= settings.SESSION_TOUCH_SECONDS:
            await session.aset(TOUCHED, int(time.time()))
        return response
