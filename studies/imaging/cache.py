"""A least-recently-used cache bounded in bytes, safe to share between threads.

Decoded frames and pyramid levels are large and unequal (a 16×16 CT slice and a 4k×4k
mammogram), so the bound is on bytes rather than entries. Values report their own size
(``nbytes``). ``get_or_create`` lets concurrent requests for the same frame wait for one
decode instead of each decoding it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
_MISSING = object()


def size_of(value: Any) -> int:
    """Bytes held by a cached value: its ``nbytes`` attribute, or a small constant."""
    size = getattr(value, "nbytes", None)
    return int(size) if isinstance(size, int) else 256


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    max_bytes: int
    hits: int
    misses: int
    evictions: int


class ByteLRU:
    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be 0 or more")
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._pending: dict[Hashable, threading.Lock] = {}
        self._hits = self._misses = self._evictions = 0

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                self._misses += 1
                return default
            self._items.move_to_end(key)
            self._hits += 1
            return entry[0]

    def put(self, key: Hashable, value: Any, nbytes: int | None = None) -> None:
        size = size_of(value) if nbytes is None else nbytes
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return  # would evict everything and still not fit
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= evicted
                self._evictions += 1

    def get_or_create(self, key: Hashable, factory: Callable[[], T]) -> T:
        value = self.get(key, _MISSING)
        if value is not _MISSING:
            return value
        with self._lock:
            gate = self._pending.setdefault(key, threading.Lock())
        with gate:
            # Another thread may have created it while this one waited at the gate.
            with self._lock:
                entry = self._items.get(key)
                if entry is not None:
                    self._items.move_to_end(key)
                    return entry[0]
            try:
                value = factory()
                self.put(key, value)
            finally:
                with self._lock:
                    if self._pending.get(key) is gate:
                        del self._pending[key]
            return value

    def discard(self, key: Hashable) -> None:
        with self._lock:
            entry = self._items.pop(key, None)
            if entry is not None:
                self._bytes -= entry[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                entries=len(self._items),
                bytes=self._bytes,
                max_bytes=self.max_bytes,
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
            )
