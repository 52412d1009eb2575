"""Whole-frame previews with the file's own rendering, kept ready: in memory, then on disk.

The first picture of a study and the previews of a whole stack (PROTOCOL.md ``open_study``
``preview`` and ``previews``) are nearly always asked with the file's own settings (window
null, ``voi`` 0, no function, no invert). Rendering one means reading and decoding the whole
frame (a 3036² radiograph: tens of milliseconds, a compressed one far more), which is most
of the time between a socket's ``open`` and its first pixels. A stored instance never
changes (``studies.ingest`` stores a SOP Instance UID once), so its preview never goes
stale: it is rendered once, at its first request, and then read back (a ~10 KB file).

Built lazily, never on the C-STORE acknowledgement path: ingest does not wait for it.
Keys are the stored file's path (chosen by ``studies.storage`` from a hash, never from
DICOM text) and the frame, hashed again into the file name here. The disk copy is a cache:
deleting the directory only costs renders. Memory holds the most recent ones, bounded in
bytes; the directory is bounded too (``VIEWER_PREVIEW_DISK_BYTES``): once this process's
count of what it holds passes the bound, the least recently used files (by mtime, which a
disk hit refreshes) are removed down to 80 % of it. Processes sharing the directory each count
from their own last scan, so together they may pass the bound by what they wrote since.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

# Bumped whenever what a stored preview looks like changes (size, quality, pipeline), so
# old files are simply not found again.
VERSION = 1
_HEAD = struct.Struct("<4sHH")  # magic, bitmap width, height
_MAGIC = b"DVP1"
MEMORY_BYTES = 64 * 1024**2
DISK_BYTES = 2 * 1024**3
_PRUNE_TO = 0.8


@dataclass(frozen=True)
class Bitmap:
    """An encoded picture and its size in pixels."""

    data: bytes
    width: int
    height: int


class PreviewStore:
    """Thread-safe: read and written from the render threads."""

    def __init__(
        self,
        directory: Path | None,
        memory_bytes: int = MEMORY_BYTES,
        disk_bytes: int = DISK_BYTES,
    ) -> None:
        self.directory = directory
        self.memory_bytes = memory_bytes
        self.disk_bytes = disk_bytes
        self._disk_used: int | None = None  # unknown until the first write scans
        self._disk_lock = threading.Lock()
        self._memory: OrderedDict[tuple[str, int], Bitmap] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # Observations for tests and logs.
        self.hits = 0
        self.disk_hits = 0
        self.misses = 0

    def remembered(self, path: Path, frame: int) -> Bitmap | None:
        """From memory only: cheap enough for the event loop."""
        key = (str(path), frame)
        with self._lock:
            bitmap = self._memory.get(key)
            if bitmap is not None:
                self._memory.move_to_end(key)
                self.hits += 1
            return bitmap

    def get(self, path: Path, frame: int) -> Bitmap | None:
        """From memory, else from disk (a file read: call it from a thread)."""
        bitmap = self.remembered(path, frame)
        if bitmap is not None or self.directory is None:
            return bitmap
        file = self._file(path, frame)
        try:
            raw = file.read_bytes()
            os.utime(file)  # recently used: the last to be pruned
        except OSError:
            self.misses += 1
            return None
        if len(raw) <= _HEAD.size:
            return None
        magic, width, height = _HEAD.unpack_from(raw)
        if magic != _MAGIC or not width or not height:
            return None
        bitmap = Bitmap(raw[_HEAD.size :], width, height)
        self.disk_hits += 1
        self._remember((str(path), frame), bitmap)
        return bitmap

    def put(self, path: Path, frame: int, bitmap: Bitmap) -> None:
        """Keep a freshly rendered preview (memory, and disk when it has a directory)."""
        self._remember((str(path), frame), bitmap)
        if self.directory is None:
            return
        target = self._file(path, frame)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Written whole under a temporary name, then renamed: a reader never sees half.
            handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(_HEAD.pack(_MAGIC, bitmap.width, bitmap.height) + bitmap.data)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:  # a full or read-only disk costs renders, not views
            log.warning("preview not stored on disk: %s", error)
            return
        self._count_written(_HEAD.size + len(bitmap.data))

    def _count_written(self, size: int) -> None:
        with self._disk_lock:
            if self._disk_used is None:
                self._disk_used = sum(size for _, size, _ in self._files())
            else:
                self._disk_used += size
            if self._disk_used > self.disk_bytes:
                self._disk_used = self._prune(int(self.disk_bytes * _PRUNE_TO))

    def _files(self) -> list[tuple[float, int, Path]]:
        found = []
        assert self.directory is not None
        for file in self.directory.glob("*/*.dvp"):
            try:
                stat = file.stat()
            except OSError:  # removed by another process meanwhile
                continue
            found.append((stat.st_mtime, stat.st_size, file))
        return found

    def _prune(self, target: int) -> int:
        """Remove the least recently used files until at most ``target`` bytes remain."""
        files = sorted(self._files())
        used = sum(size for _, size, _ in files)
        for _, size, file in files:
            if used <= target:
                break
            file.unlink(missing_ok=True)
            used -= size
        return used

    def _remember(self, key: tuple[str, int], bitmap: Bitmap) -> None:
        size = len(bitmap.data)
        with self._lock:
            old = self._memory.pop(key, None)
            if old is not None:
                self._bytes -= len(old.data)
            self._memory[key] = bitmap
            self._bytes += size
            while self._bytes > self.memory_bytes and len(self._memory) > 1:
                _, dropped = self._memory.popitem(last=False)
                self._bytes -= len(dropped.data)

    def _file(self, path: Path, frame: int) -> Path:
        assert self.directory is not None
        digest = hashlib.sha256(f"{VERSION}\0{path}\0{frame}".encode()).hexdigest()
        return self.directory / digest[:2] / f"{digest[2:]}.dvp"


class FirstInstances:
    """Per study, the first instance of each series (in the outline's order) as the last
    outline built in this process found them, so the next ``open_study`` of the study can
    send its first picture right after the access check, before reading the outline.

    Only a hint: a newer instance may since have become first. The picture is therefore
    named in its own ``first_picture`` message (PROTOCOL.md), never assumed to be the
    outline's first image.
    """

    def __init__(self, limit: int = 1024) -> None:
        self._limit = limit
        self._studies: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, study: str, firsts: dict[str, Any]) -> None:
        with self._lock:
            self._studies[study] = dict(firsts)
            self._studies.move_to_end(study)
            while len(self._studies) > self._limit:
                self._studies.popitem(last=False)

    def get(self, study: str) -> dict[str, Any] | None:
        with self._lock:
            return self._studies.get(study)


first_instances = FirstInstances()

_lock = threading.Lock()
_store: PreviewStore | None = None


def preview_store() -> PreviewStore:
    """The process-wide store, under ``VIEWER_PREVIEW_DIR`` (default: VAR_DIR/previews)."""
    global _store
    with _lock:
        if _store is None:
            directory = getattr(settings, "VIEWER_PREVIEW_DIR", None)
            if directory is None:
                directory = Path(settings.VAR_DIR) / "previews"
            _store = PreviewStore(
                Path(directory) if directory else None,
                disk_bytes=getattr(settings, "VIEWER_PREVIEW_DISK_BYTES", DISK_BYTES),
            )
        return _store


def reset_preview_store() -> None:
    """Forget the store (tests that change where it lives)."""
    global _store
    with _lock:
        _store = None
    first_instances._studies.clear()
