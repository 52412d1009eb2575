"""DICOM bytes in an S3-compatible bucket, read through a bounded local cache.

The same contract as ``studies.storage.FileStore``, so callers need not know which one they
have (``DICOM_STORAGE=s3``, ``studies.storage.dicom_store``):

- Keys are the store's SHA-256 paths (``ab/cd/<digest>.dcm`` under ``DICOM_S3_PREFIX``),
  never DICOM text.
- ``put`` returns once S3 answered 200 to the PUT: S3 (and MinIO, Ceph RGW) acknowledge a
  PUT only once the object is durably stored, and an object is never visible half written.
  The PUT is conditional (``If-None-Match: *``), so of two writers of a new key exactly one
  creates it, as with the file store's link. An object already under the key is a
  duplicate when it holds the same bytes (its ``sha256`` metadata, written with it, says so
  without downloading it) and is replaced otherwise, reported as not created, like the file
  store's ``_keep_or_replace``.
- ``absolute_path`` is a local file: the renderer, pydicom and the WADO-RS file streams read
  paths. A miss downloads the object into the cache directory (a temp file, synced, renamed
  into place: a reader never sees part of it, and a crash never leaves a short file under
  the name), then evicts the least recently used files while the cache holds more than its
  byte bound. Recency is the file's atime, set by this module on each hit (the mtime, part
  of the renderer's cache key, is left alone), so several processes sharing the directory
  share one LRU order.
- ``delete`` removes the object and this process's cached copy.

Every failure talking to S3 (unreachable endpoint, timeout, refused credentials, missing
bucket) is a ``StorageError``, which ingest turns into a ``storage_error`` quarantine entry.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from studies.storage import StorageError, StoredFile, _holds, content_digest

log = logging.getLogger(__name__)

_HEX = frozenset("0123456789abcdef")
_CHUNK = 1 << 20
# A hit re-stamps the file's atime at most this often: the LRU needs an order, not a clock,
# and a hit should stay one stat (the renderer asks for the path on every request).
_TOUCH_EVERY_NS = 10 * 1_000_000_000
# Once over the bound, evict down to this fraction of it, so the next few misses do not
# each walk the directory again.
_LOW_WATER = 0.9


class ReadCache:
    """Local copies of objects, bounded in bytes, least recently used evicted first.

    The byte count is kept in memory and corrected by a walk of the directory whenever it
    passes the bound. Other processes' downloads are seen only at that walk, so with several
    processes on one directory the bound can be passed by what they downloaded since.
    """

    def __init__(self, root: Path | str, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._bytes: int | None = None  # unknown until the first walk
        self._inflight: dict[str, threading.Event] = {}

    def path_for(self, relative: str) -> Path:
        return self.root / relative

    def get(self, relative: str, fetch: Callable[[IO[bytes]], None]) -> Path:
        """The local copy of ``relative``; ``fetch`` writes the object into a file on a miss."""
        path = self.root / relative
        if self._hit(path):
            return path
        with self._lock:
            busy = self._inflight.get(relative)
            if busy is None:
                self._inflight[relative] = threading.Event()
        if busy is not None:
            # Another thread is downloading it: wait for that copy rather than fetch twice.
            busy.wait()
            if self._hit(path):
                return path
            return self.get(relative, fetch)
        try:
            size = self._fill(path, fetch)
        finally:
            with self._lock:
                self._inflight.pop(relative).set()
        self._added(size, keep=path)
        return path

    def discard(self, relative: str) -> None:
        path = self.root / relative
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return
        with self._lock:
            if self._bytes is not None:
                self._bytes = max(0, self._bytes - size)

    def used_bytes(self) -> int:
        """The bytes on disk now (walks the directory)."""
        return sum(size for _, size, _ in self._entries())

    def _hit(self, path: Path) -> bool:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return False
        now = time.time_ns()
        if now - stat.st_atime_ns > _TOUCH_EVERY_NS:
            with contextlib.suppress(OSError):  # evicted meanwhile: the open will say so
                os.utime(path, ns=(now, stat.st_mtime_ns))
        return True

    def _fill(self, path: Path, fetch: Callable[[IO[bytes]], None]) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                fetch(handle)
                handle.flush()
                # Synced before the rename: after a crash the name holds all the bytes or
                # does not exist; a short copy would be served as the instance forever.
                os.fdatasync(handle.fileno())
                size = handle.tell()
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        return size

    def _added(self, size: int, keep: Path) -> None:
        with self._lock:
            if self._bytes is not None:
                self._bytes += size
                if self._bytes <= self.max_bytes:
                    return
            self._bytes = self._evict(keep)

    def _evict(self, keep: Path) -> int:
        """Delete least recently used files down to the low-water mark; the bytes left."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return total
        target = int(self.max_bytes * _LOW_WATER)
        for _, size, path in entries:
            if total <= target:
                break
            if path == str(keep):
                continue  # the file a caller is about to open
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass  # another process evicted it first
            total -= size
        return total

    def _entries(self) -> Iterator[tuple[int, int, str]]:
        """(atime, size, path) of every cached file, temp files of live downloads left out."""
        stack = [str(self.root)]
        while stack:
            try:
                scan = os.scandir(stack.pop())
            except FileNotFoundError:
                continue
            with scan:
                for entry in scan:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif not entry.name.startswith(".incoming-"):
                        try:
                            stat = entry.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue
                        yield stat.st_atime_ns, stat.st_size, entry.path


class S3Store:
    """Immutable objects addressed by a hex digest in one bucket, behind a ``ReadCache``."""

    def __init__(self, storage: Any, prefix: str, cache: ReadCache, suffix: str = ".dcm") -> None:
        # storage: a storages.backends.s3.S3Storage; it holds the settings and gives each
        # thread its own boto3 connection (boto3 resources are not thread safe).
        self.storage = storage
        self.prefix = prefix.strip("/")
        self.cache = cache
        self.suffix = suffix

    # --- keys -----------------------------------------------------------------------------

    def relative_path_for(self, digest: str) -> str:
        if len(digest) != 64 or not _HEX.issuperset(digest):
            raise ValueError("storage keys are lowercase SHA-256 hex digests")
        return f"{digest[:2]}/{digest[2:4]}/{digest}{self.suffix}"

    def _key(self, relative_path: str) -> str:
        """The object key of a relative path this store made; anything else is refused."""
        digest = relative_path.rpartition("/")[2].removesuffix(self.suffix)
        try:
            well_formed = self.relative_path_for(digest) == relative_path
        except ValueError:
            well_formed = False
        if not well_formed:
            raise ValueError("path escapes the store")
        return f"{self.prefix}/{relative_path}" if self.prefix else relative_path

    @property
    def _client(self) -> Any:
        return self.storage.connection.meta.client

    @property
    def _bucket(self) -> str:
        return self.storage.bucket_name

    # --- writing --------------------------------------------------------------------------

    def put(self, digest: str, data: bytes) -> StoredFile:
        """Store ``data`` under ``digest`` unless it is already there; durable on return."""
        relative = self.relative_path_for(digest)
        key = self._key(relative)
        sha256 = content_digest(data)
        with _as_storage_error("cannot store file"):
            if self._put(key, data, sha256, only_if_new=True):
                return StoredFile(relative, len(data), created=True)
            head = self._client.head_object(Bucket=self._bucket, Key=key)
            if not self._holds(key, head, data, sha256):
                # An object left by an instance whose deletion did not reach the bucket, now
                # sent again with other bytes: the new bytes win, as in the file store.
                self._put(key, data, sha256, only_if_new=False)
                self.cache.discard(relative)
        return StoredFile(relative, len(data), created=False)

    def _put(
        self, key: str, data: bytes, sha256: str, *, only_if_new: bool, retries: int = 3
    ) -> bool:
        """PUT the object; False when ``only_if_new`` and an object is already there."""
        params = {
            **self.storage.get_object_parameters(key),
            "ContentType": "application/dicom",
            "Metadata": {"sha256": sha256},
        }
        if only_if_new:
            params["IfNoneMatch"] = "*"
        try:
            self._client.put_object(Bucket=self._bucket, Key=key, Body=data, **params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if only_if_new and code in {"PreconditionFailed", "412"}:
                return False
            if only_if_new and code == "ConditionalRequestConflict" and retries:
                # 409: another conditional write of this key is in flight; its outcome
                # decides ours (S3 asks the client to retry).
                return self._put(key, data, sha256, only_if_new=True, retries=retries - 1)
            if only_if_new and code == "NotImplemented":
                # A server without conditional writes: ask first, then write (two writers of
                # one new key can then both report "created").
                if self._exists(key):
                    return False
                return self._put(key, data, sha256, only_if_new=False)
            raise
        return True

    def _holds(self, key: str, head: dict[str, Any], data: bytes, sha256: str) -> bool:
        if head.get("ContentLength") != len(data):
            return False
        stored = head.get("Metadata", {}).get("sha256")
        if stored is not None:
            return stored == sha256
        # Written by another tool (no digest kept): compare the bytes themselves.
        body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
        with contextlib.closing(body):
            return _holds(body, data)

    def delete(self, relative_path: str) -> None:
        key = self._key(relative_path)
        self.cache.discard(relative_path)
        with _as_storage_error("cannot delete file"):
            # S3 answers 204 whether or not the key existed, like a missing file here.
            self._client.delete_object(Bucket=self._bucket, Key=key)

    # --- reading --------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Whether an object is stored under ``digest`` (one HEAD)."""
        with _as_storage_error("cannot look up file"):
            return self._exists(self._key(self.relative_path_for(digest)))

    def _exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise
        return True

    def absolute_path(self, relative_path: str) -> Path:
        """The local copy, downloaded on a miss.

        When the object cannot be had (deleted, or the bucket unreachable) the path is
        returned all the same, with no file there: callers meet it as a missing file, as
        with the file store, and answer "cannot read the image file" instead of failing.
        """
        key = self._key(relative_path)

        def fetch(handle: IO[bytes]) -> None:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
            with contextlib.closing(body):
                for chunk in body.iter_chunks(_CHUNK):
                    handle.write(chunk)

        try:
            return self.cache.get(relative_path, fetch)
        except Exception as exc:  # botocore's and the disk's errors alike
            log.error("cannot fetch %s from the bucket: %s", key, exc)
            return self.cache.path_for(relative_path)

    def open(self, relative_path: str) -> IO[bytes]:
        return open(self.absolute_path(relative_path), "rb")  # noqa: SIM115 (caller closes)

    def local(self, relative_path: str) -> LocalCopy:
        """A path-like handle that downloads only when it is opened or stat'ed."""
        self._key(relative_path)  # refuse a path this store did not make, now
        return LocalCopy(self, relative_path)


class LocalCopy(os.PathLike):
    """The local copy of one object, fetched each time it is used as a path.

    For callers that take paths long before they read them, or keep them: the viewer's
    study outline takes the path of every instance of a study when it is opened (downloading
    them all then would delay the first image by the whole study), and a viewer socket and
    the image-fact cache keep paths for minutes, during which the read cache may evict the
    copy. ``os.fspath`` (which ``open``, ``os.stat``, ``Path(...)`` and pydicom call) returns
    the cached file's path, downloading it first if it is not there.
    """

    __slots__ = ("relative_path", "_store")

    def __init__(self, store: S3Store, relative_path: str) -> None:
        self._store = store
        self.relative_path = relative_path

    def __fspath__(self) -> str:
        return str(self._store.absolute_path(self.relative_path))

    def path(self) -> Path:
        """The cached file, fetched if missing."""
        return self._store.absolute_path(self.relative_path)

    # The few Path methods callers of ``instance_path`` use.
    def is_file(self) -> bool:
        return self.path().is_file()

    def exists(self) -> bool:
        return self.path().exists()

    def stat(self) -> os.stat_result:
        return self.path().stat()

    def read_bytes(self) -> bytes:
        return self.path().read_bytes()

    def open(self, mode: str = "rb") -> IO[bytes]:
        if mode != "rb":
            raise ValueError("stored files are read only")
        return open(self.path(), "rb")  # noqa: SIM115 (caller closes)

    def __str__(self) -> str:  # for messages: where it is (or would be) cached, no download
        return str(self._store.cache.path_for(self.relative_path))

    def __repr__(self) -> str:
        return f"LocalCopy({self.relative_path!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LocalCopy)
            and other._store is self._store
            and other.relative_path == self.relative_path
        )

    def __hash__(self) -> int:
        return hash(self.relative_path)


@contextlib.contextmanager
def _as_storage_error(what: str) -> Iterator[None]:
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise StorageError(errno.EIO, f"{what}: {exc}") from exc


_stores: dict[tuple, S3Store] = {}
_stores_lock = threading.Lock()


def s3_dicom_store() -> S3Store:
    """The process's S3 store for the current settings (built once: a boto3 session costs
    tens of milliseconds, and the cache's byte count lives in it)."""
    from django.conf import settings

    config = (
        settings.AWS_STORAGE_BUCKET_NAME,
        settings.AWS_S3_ENDPOINT_URL,
        settings.AWS_S3_REGION_NAME,
        settings.AWS_S3_ACCESS_KEY_ID,
        settings.AWS_S3_SECRET_ACCESS_KEY,
        settings.AWS_S3_ADDRESSING_STYLE,
        settings.DICOM_S3_PREFIX,
        str(settings.DICOM_S3_CACHE_DIR),
        settings.DICOM_S3_CACHE_BYTES,
        settings.DICOM_S3_TIMEOUT_SECONDS,
        settings.DICOM_S3_MAX_ATTEMPTS,
    )
    store = _stores.get(config)
    if store is None:
        with _stores_lock:
            store = _stores.get(config)
            if store is None:
                store = _stores[config] = _build(*config)
    return store


def _build(
    bucket: str,
    endpoint_url: str | None,
    region: str | None,
    access_key: str | None,
    secret_key: str | None,
    addressing_style: str | None,
    prefix: str,
    cache_dir: str,
    cache_bytes: int,
    timeout: int,
    attempts: int,
) -> S3Store:
    from botocore.config import Config
    from storages.backends.s3 import S3Storage

    storage = S3Storage(
        bucket_name=bucket,
        endpoint_url=endpoint_url,
        region_name=region,
        access_key=access_key,
        secret_key=secret_key,
        client_config=Config(
            s3={"addressing_style": addressing_style} if addressing_style else {},
            signature_version="s3v4",
            connect_timeout=timeout,
            read_timeout=timeout,
            # "standard" retries throttling and transient errors with backoff, at most
            # this many attempts in all: a dead endpoint fails in bounded time.
            retries={"mode": "standard", "total_max_attempts": attempts},
        ),
    )
    return S3Store(storage, prefix, ReadCache(cache_dir, cache_bytes))
