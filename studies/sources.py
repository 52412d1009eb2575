"""Where files to import come from: paths, folders and zip archives.

Yields ``Candidate`` objects (a display name and the bytes, or the reason the bytes could not
be read) so that one unreadable file or zip member is reported and kept track of without
stopping the rest of a batch. Zip archives are read with caps on member count, member size and
total inflated size, since a zip is as easy to make into a bomb as a deflated data set.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

ZIP_MAGIC = b"PK\x03\x04"
# Files on DICOM media that are not instances (PS3.10 8: the DICOMDIR index) or are
# operating-system litter; they are skipped rather than reported as rejected.
_SKIPPED_NAMES = {"DICOMDIR", ".DS_Store", "Thumbs.db", "desktop.ini"}


class SourceError(Exception):
    """A whole source (zip archive, folder) cannot be read."""


@dataclass(frozen=True)
class Candidate:
    name: str
    data: bytes | None = None
    problem: str = ""  # why ``data`` could not be read; empty when it could
    size: int | None = None  # on-disk size when the data was not read (over the cap)


@dataclass(frozen=True)
class ZipLimits:
    max_members: int = 100_000
    max_member_bytes: int = 2 * 1024**3
    max_total_bytes: int = 64 * 1024**3


def default_zip_limits() -> ZipLimits:
    from django.conf import settings

    return ZipLimits(
        max_members=settings.ZIP_MAX_MEMBERS,
        max_member_bytes=settings.INGEST_MAX_FILE_BYTES,
        max_total_bytes=settings.ZIP_MAX_TOTAL_BYTES,
    )


def is_skipped(name: str) -> bool:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base in _SKIPPED_NAMES or name.startswith("__MACOSX/") or base.startswith("._")


def iter_zip_candidates(
    fileobj: BinaryIO, archive_name: str, limits: ZipLimits | None = None
) -> Iterator[Candidate]:
    """Each file member of a zip as a Candidate; raises SourceError if the archive is unusable."""
    limits = limits or default_zip_limits()
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SourceError(f"{archive_name}: not a readable zip archive ({exc})")
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > limits.max_members:
            raise SourceError(
                f"{archive_name}: {len(members):,} members, over the {limits.max_members:,} limit"
            )
        total = 0
        for info in members:
            # The member name is text from a stranger: shown to people, never used as a path.
            name = f"{archive_name}/{info.filename}"
            if is_skipped(info.filename):
                continue
            if info.file_size > limits.max_member_bytes:
                yield Candidate(
                    name, problem="member larger than the file size limit", size=info.file_size
                )
                continue
            try:
                with archive.open(info) as member:
                    # Declared sizes can lie; read at most one byte past the cap to know.
                    data = member.read(limits.max_member_bytes + 1)
            except (
                zipfile.BadZipFile,
                OSError,
                ValueError,
                NotImplementedError,
                RuntimeError,
            ) as exc:
                yield Candidate(name, problem=f"zip member cannot be read: {exc}")
                continue
            total += len(data)
            if total > limits.max_total_bytes:
                raise SourceError(
                    f"{archive_name}: inflates past the {limits.max_total_bytes:,} byte limit"
                )
            if len(data) > limits.max_member_bytes:
                yield Candidate(
                    name, problem="member larger than the file size limit", size=len(data)
                )
                continue
            yield Candidate(name, data)


def iter_zip_members(fileobj: BinaryIO, archive_name: str) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) for each readable member; a broken member ends it with SourceError."""
    for candidate in iter_zip_candidates(fileobj, archive_name):
        if candidate.data is None:
            raise SourceError(f"{candidate.name}: {candidate.problem}")
        yield candidate.name, candidate.data


def looks_like_zip(head: bytes) -> bool:
    return head.startswith(ZIP_MAGIC)


def iter_path_candidates(
    paths: Iterable[Path], max_file_bytes: int, zip_limits: ZipLimits | None = None
) -> Iterator[Candidate]:
    """Files, folders (walked in sorted order, links not followed) and zip archives."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path, followlinks=False):
                dirs.sort()
                for file_name in sorted(files):
                    yield from _file_candidates(Path(root) / file_name, max_file_bytes, zip_limits)
        elif path.exists():
            yield from _file_candidates(path, max_file_bytes, zip_limits)
        else:
            yield Candidate(str(path), problem="no such file or folder")


def _file_candidates(
    path: Path, max_file_bytes: int, zip_limits: ZipLimits | None
) -> Iterator[Candidate]:
    name = str(path)
    if is_skipped(path.name) or path.is_symlink() and not path.is_file():
        return
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            if looks_like_zip(handle.read(4)):
                handle.seek(0)
                try:
                    yield from iter_zip_candidates(handle, name, zip_limits)
                except SourceError as exc:
                    yield Candidate(name, problem=str(exc))
                return
            if size > max_file_bytes:
                yield Candidate(name, problem="file larger than the file size limit", size=size)
                return
            handle.seek(0)
            yield Candidate(name, handle.read())
    except OSError as exc:
        yield Candidate(name, problem=f"cannot be read: {exc.strerror or exc}")
