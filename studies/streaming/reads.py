"""Database reads of the viewer socket, off Channels' one shared database thread.

``database_sync_to_async`` is thread-sensitive: every call of every socket of the process
runs on one thread, one after the other. A view waiting behind another socket's study
outline or audit write is the latency nobody asked for. Hot reads (instance lookups and
access re-checks, ``access_cache``) run here instead, on a small pool of their own, each
thread with its own connection; writes (audit) stay on the shared thread.

Safe because these reads touch no per-request state: each call opens (or reuses) its
thread's connection and closes it when it has gone stale, as Django does around a request.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from channels.db import DatabaseSyncToAsync

P = ParamSpec("P")
T = TypeVar("T")

# Enough that one socket's lookup never waits behind another's; few enough that a
# PostgreSQL deployment holds only this many extra connections per process.
READ_THREADS = 3

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="viewer-db")
        return _pool


def read_async(function: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """``function`` (synchronous Django ORM reads) as a coroutine run on the read pool."""
    return DatabaseSyncToAsync(function, thread_sensitive=False, executor=_executor())
