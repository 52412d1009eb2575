"""Where DICOM bytes live.

Paths are derived from a SHA-256 digest, never from DICOM text: PatientID and UIDs come from
strangers (see pynetdicom issue #823). Writes are atomic: a temp file in the same directory is
written and fsynced, then hard-linked into place, so a reader never sees half a file and two
writers of the same key end with one file (the second link fails with FileExistsError).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


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


class FileStore:
    """A directory of immutable files addressed by a hex digest."""

    def __init__(self, root: Path | str, suffix: str = ".dcm") -> None:
        self.root = Path(root)
        self.suffix = suffix

    def relative_path_for(self, digest: str) -> str:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("storage keys are lowercase SHA-256 hex digests")
        return f"{digest[:2]}/{digest[2:4]}/{digest}{self.suffix}"

    def absolute_path(self, relative_path: str) -> Path:
        path = (self.root / relative_path).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("path escapes the store")
        return path

    def put(self, digest: str, data: bytes) -> StoredFile:
        """Write ``data`` under ``digest`` unless a file is already there; first writer wins."""
        relative = self.relative_path_for(digest)
        final = self.root / relative
        if final.exists():
            return StoredFile(relative, final.stat().st_size, created=False)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                try:
                    os.link(tmp_name, final)
                    created = True
                except FileExistsError:
                    created = False
            finally:
                os.unlink(tmp_name)
            if created:
                _fsync_directory(final.parent)
        except OSError as exc:
            raise StorageError(exc.errno, f"cannot store file: {exc.strerror or exc}") from exc
        return StoredFile(relative, final.stat().st_size, created=created)

    def open(self, relative_path: str):
        return open(self.absolute_path(relative_path), "rb")  # noqa: SIM115 (caller closes)

    def delete(self, relative_path: str) -> None:
        try:
            self.absolute_path(relative_path).unlink()
        except FileNotFoundError:
            pass


def _fsync_directory(path: Path) -> None:
    # The new directory entry must be durable too, or a crash can lose a file we acknowledged.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def dicom_store() -> FileStore:
    from django.conf import settings

    return FileStore(settings.DICOM_STORE_DIR, suffix=".dcm")


def quarantine_store() -> FileStore:
    from django.conf import settings

    return FileStore(settings.QUARANTINE_DIR, suffix=".bin")
