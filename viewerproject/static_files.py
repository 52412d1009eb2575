"""Static files answered on the event loop, in front of Django.

The viewer page loads ~45 small ES modules before its first picture. Django's
``ASGIStaticFilesHandler`` serves each through the ``serve`` view in its one shared sync
thread, so the modules queued behind each other and behind the websocket's login check;
opening a study spent most of its time there. Here a file is found once through the
staticfiles finders (or in STATIC_ROOT), kept in memory while its size and mtime stay the
same (a ``stat`` per request, so an edited file is served fresh in development) and answered
without a thread hop. Only for ``make run`` and the tests: production puts a reverse proxy
in front of STATIC_ROOT (settings.SERVE_STATIC=False).
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import posixpath
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation

# Browsers refuse an ES module served with a non-JavaScript type; some systems map .js oddly.
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("image/svg+xml", ".svg")


@dataclass(frozen=True)
class _Cached:
    body: bytes
    size: int
    mtime_ns: int
    headers: tuple[tuple[bytes, bytes], ...]
    etag: bytes


class StaticFiles:
    """ASGI middleware: GET/HEAD under STATIC_URL from memory; anything else to ``app``."""

    def __init__(
        self, app, *, max_file_bytes: int = 4 * 1024 * 1024, max_total_bytes: int = 64 * 1024 * 1024
    ) -> None:
        self.app = app
        self.prefix = "/" + settings.STATIC_URL.strip("/") + "/"
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self._found: dict[str, Path] = {}
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._cached_bytes = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, b"", [(b"allow", b"GET, HEAD")])
            return
        relative = _safe_relative(scope["path"][len(self.prefix) :])
        path = self._find(relative) if relative else None
        entry = await self._load(relative, path) if path else None
        if entry is None:
            await _answer(send, 404, b"Not found", [(b"content-type", b"text/plain")])
            return
        if _header(scope, b"if-none-match") == entry.etag:
            await _answer(send, 304, b"", [(b"etag", entry.etag)])
            return
        body = b"" if scope["method"] == "HEAD" else entry.body
        await _answer(send, 200, body, list(entry.headers))

    def _find(self, relative: str) -> Path | None:
        if relative in self._found:
            return self._found[relative]
        # finders.find joins safely under each finder's root; STATIC_ROOT covers a collected
        # tree without app finders. Misses are not remembered: request paths are anyone's
        # text, and only real files may take room here.
        try:
            found = finders.find(relative)
        except SuspiciousFileOperation:
            return None
        if not found and settings.STATIC_ROOT:
            candidate = Path(settings.STATIC_ROOT) / relative
            found = str(candidate) if candidate.is_file() else None
        if found:
            self._found[relative] = Path(found)
        return Path(found) if found else None

    async def _load(self, relative: str, path: Path) -> _Cached | None:
        try:
            stat = path.stat()
        except OSError:
            self._found.pop(relative, None)
            return None
        entry = self._cache.get(relative)
        if entry and (entry.size, entry.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            self._cache.move_to_end(relative)
            return entry
        if stat.st_size > self.max_file_bytes:
            return None  # static assets here are small; a big one is not ours to serve
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except OSError:
            return None
        entry = _entry(relative, body, stat)
        self._remember(relative, entry)
        return entry

    def _remember(self, relative: str, entry: _Cached) -> None:
        old = self._cache.pop(relative, None)
        if old:
            self._cached_bytes -= old.size
        self._cache[relative] = entry
        self._cached_bytes += entry.size
        while self._cached_bytes > self.max_total_bytes and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= dropped.size


def _safe_relative(raw: str) -> str | None:
    relative = posixpath.normpath(unquote(raw)).lstrip("/")
    if relative in ("", ".") or relative.startswith("..") or "\x00" in relative:
        return None
    return relative


def _entry(relative: str, body: bytes, stat: os.stat_result) -> _Cached:
    content_type, encoding = mimetypes.guess_type(relative)
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'.encode()
    headers = [
        (b"content-type", (content_type or "application/octet-stream").encode()),
        (b"content-length", str(len(body)).encode()),
        (b"last-modified", formatdate(stat.st_mtime, usegmt=True).encode()),
        (b"etag", etag),
        # Not content-hashed names: revalidate every time (a 304 costs no body).
        (b"cache-control", b"no-cache"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if encoding:
        headers.append((b"content-encoding", encoding.encode()))
    return _Cached(body, stat.st_size, stat.st_mtime_ns, tuple(headers), etag)


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


async def _answer(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    if status != 200:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
