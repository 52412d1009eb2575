"""Where DICOM bytes live.

Paths are derived from a SHA-256 digest, never from DICOM text: PatientID and UIDs come from
strangers (see pynetdicom issue #823). Writes are atomic: the whole file is written to a temp
file in the same directory, then hard-linked into place, so a reader never sees half a file and
two writers of the same key end with one file (the second link fails with FileExistsError).

``put`` returns only once the file's bytes and its name are on stable storage, so a caller may
promise the sender its file is kept (a C-STORE success). The file is synced after it is linked:
on ext4 (and other journaling file systems) that one journal commit carries the data, the new
inode and the new name together, and the directory sync that follows finds little left to do;
syncing before linking cost a second commit per file. The price is that a crash between the
link and the sync can leave a name whose bytes never reached the disk; such a file was never
acknowledged (put had not returned), and a later ``put`` of the same key finds it, sees that it
does not hold the bytes being stored, and replaces it.

``DICOM_STORAGE=s3`` keeps the same keys in an S3-compatible bucket instead
(``studies.storage_s3``), behind the same interface, so that several servers can share one
archive; the quarantine stays in a directory (see ``quarantine_store``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol


@dataclass(frozen=True)
class StoredFile:
    relative_path: str
    size: int
    created: bool  # False when a file with this key was already there


class StorageError(OSError):
    """The bytes could not be made durable (disk full, permissions, I/O error)."""


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def content_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store(Protocol):
    """What callers may rely on, whichever store holds the bytes.

    ``absolute_path`` is a local file the caller may open (the S3 store downloads it into
    its read cache first); ``local`` is a path-like to open later, possibly much later (the
    S3 store downloads when it is used, again if its cache evicted it meanwhile). ``put``
    returns once the bytes are durable, with ``created`` False when the key already held
    them or something else that was replaced.
    """

    def relative_path_for(self, digest: str) -> str: ...
    def absolute_path(self, relative_path: str) -> Path: ...
    def put(self, digest: str, data: bytes) -> StoredFile: ...
    def exists(self, digest: str) -> bool: ...
    def open(self, relative_path: str) -> IO[bytes]: ...
    def delete(self, relative_path: str) -> None: ...
    def local(self, relative_path: str) -> os.PathLike[str]: ...


@functools.lru_cache(maxsize=64)
def _resolved(root: str) -> Path:
    return Path(root).resolve()


@functools.lru_cache(maxsize=8)
def _own_path_pattern(suffix: str) -> re.Pattern[str]:
    return re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}" + re.escape(suffix), re.ASCII)


class FileStore:
    """A directory of immutable files addressed by a hex digest."""

    def __init__(self, root: Path | str, suffix: str = ".dcm") -> None:
        self.root = Path(root)
        self.suffix = suffix
        # dicom_store() makes a store per call: both are looked up, not recomputed.
        self._resolved_root = _resolved(str(self.root))
        self._own_path = _own_path_pattern(suffix)
        self._root_text = os.fspath(self.root)

    def relative_path_for(self, digest: str) -> str:
        if not _HEX_DIGEST.fullmatch(digest):
            raise ValueError("storage keys are lowercase SHA-256 hex digests")
        return f"{digest[:2]}/{digest[2:4]}/{digest}{self.suffix}"

    def absolute_path(self, relative_path: str) -> Path:
        # A path this store made (two hex directories, a digest) cannot leave the root, so
        # it needs no resolve(): that cost ~130 us of system calls per instance, twice per
        # instance of a study outline. Anything else is resolved and checked.
        if self._own_path.fullmatch(relative_path):
            return self._resolved_root / relative_path
        path = (self.root / relative_path).resolve()
        if not path.is_relative_to(self._resolved_root):
            raise ValueError("path escapes the store")
        return path

    def put(self, digest: str, data: bytes) -> StoredFile:
        """Write ``data`` under ``digest`` unless a file is already there; first writer wins.

        Returns once the file under ``digest`` is durable (see the module docstring).
        """
        relative = self.relative_path_for(digest)
        # Plain strings and os calls: pathlib's objects, mkstemp's name generator and a
        # mkdir per file (the directories almost always exist) cost ~0.3 ms of an instance.
        final = f"{self._root_text}/{relative}"
        directory = final.rpartition("/")[0]
        try:
            if os.path.exists(final):
                return self._keep_or_replace(relative, Path(final), data)
            fd, tmp_name = _incoming_file(directory)
            try:
                # Whole, in the page cache, before the name appears: readers never see part
                # of it (durable: nothing yet).
                _write_all(fd, data)
                try:
                    os.link(tmp_name, final)
                    created = True
                except FileExistsError:
                    created = False
                if created:
                    try:
                        # Durable: the bytes and the size needed to read them back
                        # (fdatasync skips only timestamps); on ext4 also the link, in the
                        # same journal commit.
                        os.fdatasync(fd)
                        # Durable: the name (POSIX asks for the directory separately).
                        _fsync_directory(directory)
                    except OSError:
                        # Not durable (a full disk can show only now, at writeback). Take
                        # the name back: after a failed sync the kernel may report the
                        # next one as a success without the bytes ever reaching the disk.
                        with contextlib.suppress(OSError):
                            os.unlink(final)
                        raise
            finally:
                os.close(fd)
                os.unlink(tmp_name)
            if not created:
                # Another writer linked the same key first and may still be syncing it.
                return self._keep_or_replace(relative, Path(final), data)
        except OSError as exc:
            raise StorageError(exc.errno, f"cannot store file: {exc.strerror or exc}") from exc
        return StoredFile(relative, len(data), created=True)

    def _keep_or_replace(self, relative: str, final: Path, data: bytes) -> StoredFile:
        """A file is already under this key: keep it if it holds ``data``, else replace it.

        Either way it is synced before we return: the writer that made it may not have
        finished syncing it yet, or may have crashed before it did (then it can be short).
        """
        with open(final, "rb") as handle:
            same = os.fstat(handle.fileno()).st_size == len(data) and _holds(handle, data)
            if same:
                os.fdatasync(handle.fileno())
        if not same:
            # Replaced atomically (rename over it) with bytes synced first, so a reader sees
            # the old file or the new one, never a mix.
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fdatasync(handle.fileno())
                os.replace(tmp_name, final)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp_name)
                raise
        _fsync_directory(final.parent)
        # Not "created" even when replaced: another writer may have indexed this path since.
        return StoredFile(relative, len(data), created=False)

    def exists(self, digest: str) -> bool:
        """Whether a file is stored under ``digest`` (one stat, no read)."""
        return os.path.exists(f"{self._root_text}/{self.relative_path_for(digest)}")

    def open(self, relative_path: str):
        return open(self.absolute_path(relative_path), "rb")  # noqa: SIM115 (caller closes)

    def local(self, relative_path: str) -> Path:
        """A path to read later (the S3 store's fetches when used); here the file itself."""
        return self.absolute_path(relative_path)

    def delete(self, relative_path: str) -> None:
        try:
            self.absolute_path(relative_path).unlink()
        except FileNotFoundError:
            pass


def _holds(handle, data: bytes, chunk: int = 1 << 20) -> bool:
    """Whether the open file's bytes equal ``data``, read a chunk at a time."""
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        if handle.read(chunk) != view[start : start + chunk]:
            return False
    return handle.read(1) == b""


_HEX_DIGEST = re.compile(r"[0-9a-f]{64}", re.ASCII)
# As tempfile.mkstemp opens its files: new, private, not through a link, not inherited.
_INCOMING_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _incoming_file(directory: str) -> tuple[int, str]:
    """A new private file in ``directory`` (made, with its parents, if missing): (fd, path)."""
    name = f"{directory}/.incoming-{os.urandom(8).hex()}"
    try:
        return os.open(name, _INCOMING_FLAGS, 0o600), name
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        return os.open(name, _INCOMING_FLAGS, 0o600), name


def _write_all(fd: int, data: bytes) -> None:
    with memoryview(data) as view:
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])


def _fsync_directory(path: Path | str) -> None:
    # The new directory entry must be durable too, or a crash can lose a file we acknowledged.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def dicom_store() -> Store:
    from django.conf import settings

    if settings.DICOM_STORAGE == "s3":
        from studies.storage_s3 import s3_dicom_store

        return s3_dicom_store()
    return FileStore(settings.DICOM_STORE_DIR, suffix=".dcm")


def quarantine_store() -> FileStore:
    # Always a directory, with S3 too: the quarantine is where a file goes when the bucket
    # cannot take it (storage_error), so it must not depend on the bucket; QUARANTINE_DIR
    # may be a shared volume.
    from django.conf import settings

    return FileStore(settings.QUARANTINE_DIR, suffix=".bin")
