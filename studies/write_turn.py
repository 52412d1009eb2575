"""Ingests of one SQLite archive take turns to write its index, woken as soon as it is theirs.

SQLite lets one connection write at a time; the others (``transaction_mode`` IMMEDIATE, see
settings) wait in its busy handler, which sleeps 1, 2, 5, 10 ms... between tries instead of
being woken when the lock is free. An ingest's write transaction (a few inserts and the WAL
fsync of its commit) takes 1-4 ms, so two associations or ingest processes
(``studies.ingest_pool``) storing side by side lost about that much per collision, sleeping
past the moment the lock came free. Here each ingest first takes an exclusive ``flock`` on a
file beside the database: the kernel wakes the next waiter when it is released.

Threads and processes alike: a flock belongs to an open file, so each turn opens the file
anew (two system calls, microseconds) and closing it ends the turn. Other database engines
lock rows, not the database: no turn is taken there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from django.db import connection


def _lock_path() -> str | None:
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        # Inside a caller's transaction the commit comes later, outside any turn, and that
        # transaction may already hold SQLite's lock: waiting for a turn could deadlock.
        return None
    name = str(connection.settings_dict["NAME"])
    if not name or name == ":memory:" or name.startswith("file:"):
        return None  # an in-memory database has one connection per process anyway
    return f"{name}.write-turn"


@contextlib.contextmanager
def write_turn() -> Iterator[None]:
    """Hold the archive's write turn for the body (a write transaction), if it has one."""
    path = _lock_path()
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
