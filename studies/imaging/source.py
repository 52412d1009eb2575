"""Where an image comes from: a path, bytes or an already parsed data set.

Reading is the first place hostile input can hurt, so the caps that need no decoding are
applied here: a deflated data set (PS3.5 A.5) is inflated with a bound before pydicom
inflates it in one call.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_preamble
from pydicom.uid import DeflatedExplicitVRLittleEndian

from .errors import ImageTooLarge, InvalidImage

Source = str | os.PathLike[str] | bytes | bytearray | Dataset

_PREAMBLE_AND_PREFIX = 132
_INFLATE_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Caps that keep one request from taking the server down.

    ``max_frame_bytes`` bounds the decoded size of one frame (rows × columns × samples ×
    bytes per sample), checked from the header before any decoding; ``max_inflated_bytes``
    bounds a deflated data set; ``max_output_pixels`` bounds a requested rendering.
    """

    max_frame_bytes: int = 512 * 1024**2
    max_inflated_bytes: int = 1024**3
    max_output_pixels: int = 8192 * 8192


def source_key(source: Source) -> Hashable | None:
    """A cache key that changes when a file changes; None for in-memory sources."""
    if isinstance(source, Dataset | bytes | bytearray):
        return None
    try:
        stat = os.stat(source)
    except OSError as exc:
        raise InvalidImage(f"cannot read the image file: {exc.strerror}")
    # The file itself (device and inode), not its name: every spelling of a path to it
    # shares the entries, and no resolving of each path component per tile (realpath is
    # one lstat per directory level, for every tile of every view).
    return ("file", stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


def load_dataset(source: Source, limits: Limits) -> Dataset:
    """The parsed data set, pixel data included but not decoded."""
    if isinstance(source, Dataset):
        return source
    if isinstance(source, bytes | bytearray):
        return _read(io.BytesIO(bytes(source)), limits)
    try:
        with open(source, "rb") as stream:
            return _read(stream, limits)
    except OSError as exc:
        raise InvalidImage(f"cannot read the image file: {exc.strerror}")


def _read(stream: BinaryIO, limits: Limits) -> Dataset:
    _check_inflated_size(stream, limits.max_inflated_bytes)
    stream.seek(0)
    try:
        dataset = pydicom.dcmread(stream, force=True)
    except InvalidDicomError as exc:
        raise InvalidImage(f"not a DICOM file: {exc}")
    except Exception as exc:  # pydicom raises many types on broken input
        raise InvalidImage(f"the data set cannot be parsed: {type(exc).__name__}: {exc}")
    # force=True reads anything (a bare data set without Part 10 header is legal on old
    # media); bytes that are not DICOM at all parse into a few random "elements". A real
    # data set has its identifying group 0008 (PS3.3 C.12.1 SOP Common).
    stream.seek(_PREAMBLE_AND_PREFIX - 4)
    part10 = stream.read(4) == b"DICM"
    if not part10 and not any(element.tag.group == 0x0008 for element in dataset):
        raise InvalidImage("not a DICOM file: no 'DICM' prefix and no DICOM attributes")
    return dataset


def _check_inflated_size(stream: BinaryIO, cap: int) -> None:
    stream.seek(0)
    try:
        read_preamble(stream, force=False)
        meta = pydicom.filereader._read_file_meta_info(stream)
    except Exception:
        return  # no Part 10 header: nothing can be deflated
    if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        return
    # PS3.5 A.5: everything after the file meta information is one raw deflate stream.
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = 0
    try:
        while chunk := stream.read(_INFLATE_CHUNK):
            data = inflater.decompress(chunk, cap + 1 - inflated)
            inflated += len(data)
            while inflater.unconsumed_tail and inflated <= cap:
                data = inflater.decompress(inflater.unconsumed_tail, cap + 1 - inflated)
                inflated += len(data)
            if inflated > cap:
                raise ImageTooLarge(f"the deflated data set inflates past the {cap:,} byte limit")
    except zlib.error as exc:
        raise InvalidImage(f"the deflated data set cannot be inflated: {exc}")
