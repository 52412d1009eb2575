"""Frames of a stored file for WADO-RS (PS3.18 10.4.1.1.2, 8.7.3.5), read without the rest.

The header is parsed up to the Pixel Data element and its value is then read where it lies
in the file: a native frame is one slice of it, an encapsulated frame is found through the
Basic (or Extended) Offset Table or the fragments (PS3.5 A.4). A 2 GB multi-frame file is
never loaded to send one frame.

Two ways out, chosen by the caller from the Accept header:

- ``stored_frame``: the bytes as stored. Native little-endian pixel data is already what
  PS3.18 calls the uncompressed bulk data (Explicit VR Little Endian byte order); a
  compressed frame is its bitstream, sent with the media type of its transfer syntax.
- ``decoded_frame``: the frame decoded by the imaging library into little-endian samples,
  for a caller that asks for ``application/octet-stream`` of a compressed image, and for the
  storage forms that have no frame slices on disk (deflated, big endian). Samples come out
  as the decoder delivers them: a YBR JPEG stays YBR_FULL, interleaved (planar
  configuration 0), 1-bit data is packed again. The decoded size is checked against the
  renderer's cap before decoding.

Django-free, like ``studies.imaging``; failures are the imaging library's typed errors so
every caller maps them to the same HTTP status.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from studies.imaging.decode import decode_frame
from studies.imaging.errors import DecodeError, ImageTooLarge, InvalidImage, NoPixelData
from studies.imaging.header import read_header
from studies.imaging.source import Limits, load_dataset

OCTET_STREAM = "application/octet-stream"

# PS3.18 Table 8.7.3-2 (frames and bulk data): the media type of each compressed syntax.
# Video syntaxes are left out: their "frames" are not separable bitstreams.
_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.1.98": OCTET_STREAM,  # Encapsulated Uncompressed Explicit VR LE
}
# Native syntaxes whose frames are slices of the value in the file, already little endian.
_SLICEABLE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
_PIXEL_TAGS = {
    (0x7FE0, 0x0010): "PixelData",
    (0x7FE0, 0x0009): "DoubleFloatPixelData",
    (0x7FE0, 0x0008): "FloatPixelData",
}
# PS3.5 7.1.2: explicit VRs with a 2-byte reserved field and a 4-byte length.
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}
_UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class PixelLayout:
    """Where the pixel data of a file is and how its frames are shaped."""

    transfer_syntax: UID
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    photometric: str
    number_of_frames: int
    value_offset: int  # file offset of the first byte of the Pixel Data value
    value_length: int | None  # None: undefined length (encapsulated)
    extended_offsets: tuple[bytes, bytes] | None

    @property
    def encapsulated(self) -> bool:
        return self.value_length is None

    @property
    def stored_media_type(self) -> str | None:
        """The media type frames are sent with as stored; None if they cannot be."""
        if not self.encapsulated:
            return OCTET_STREAM if self.transfer_syntax in _SLICEABLE else None
        return _MEDIA_TYPES.get(str(self.transfer_syntax))

    @property
    def stored_syntax(self) -> UID:
        """The transfer syntax a frame sent as stored is in (native: Explicit VR LE)."""
        return ExplicitVRLittleEndian if not self.encapsulated else self.transfer_syntax

    @property
    def frame_bits(self) -> int:
        samples = self.samples_per_pixel
        if self.photometric == "YBR_FULL_422" and samples == 3:
            # PS3.3 C.7.6.3.1.2: two chroma samples are shared by each pair of pixels.
            samples = 2
        return self.rows * self.columns * samples * self.bits_allocated

    @property
    def decoded_frame_bytes(self) -> int:
        return (self.rows * self.columns * self.samples_per_pixel * self.bits_allocated + 7) // 8


def locate(path: str | Path) -> PixelLayout:
    """Read the header of ``path`` up to its pixel data; where and what the frames are."""
    try:
        with open(path, "rb") as stream:
            try:
                ds = pydicom.dcmread(stream, stop_before_pixels=True, force=True)
            except Exception as exc:  # pydicom raises many types on broken input
                raise InvalidImage(f"the stored file cannot be parsed: {exc}")
            # pydicom leaves the stream at the tag of the top-level pixel data element.
            position = stream.tell()
            element_header = stream.read(12)
            file_size = stream.seek(0, 2)
    except OSError as exc:
        raise InvalidImage(f"cannot read the stored file: {exc.strerror}")
    syntax = _transfer_syntax(ds)
    if syntax == DeflatedExplicitVRLittleEndian:
        # PS3.5 A.5: the data set is one deflate stream; nothing lies at a file offset.
        return _layout(ds, syntax, value_offset=-1, value_length=0)
    implicit, little = ds.original_encoding
    if implicit is None:
        implicit, little = syntax.is_implicit_VR, syntax.is_little_endian
    endian = "<" if little else ">"
    if len(element_header) < 8:
        raise NoPixelData("the instance has no pixel data")
    tag = struct.unpack(endian + "HH", element_header[:4])
    if tag not in _PIXEL_TAGS:
        raise NoPixelData("the instance has no pixel data")
    if implicit:
        (length,) = struct.unpack(endian + "L", element_header[4:8])
        value_offset = position + 8
    elif element_header[4:6] in _LONG_VRS:
        (length,) = struct.unpack(endian + "L", element_header[8:12])
        value_offset = position + 12
    else:
        (length,) = struct.unpack(endian + "H", element_header[6:8])
        value_offset = position + 8
    if length != _UNDEFINED_LENGTH and value_offset + length > file_size:
        raise InvalidImage("the pixel data runs past the end of the stored file")
    return _layout(ds, syntax, value_offset, None if length == _UNDEFINED_LENGTH else length)


def _layout(ds: Dataset, syntax: UID, value_offset: int, value_length: int | None) -> PixelLayout:
    extended = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    return PixelLayout(
        transfer_syntax=syntax,
        rows=_positive(ds, "Rows"),
        columns=_positive(ds, "Columns"),
        samples_per_pixel=_positive(ds, "SamplesPerPixel", 1),
        bits_allocated=_positive(ds, "BitsAllocated"),
        photometric=str(ds.get("PhotometricInterpretation", "") or "").strip().upper(),
        number_of_frames=_positive(ds, "NumberOfFrames", 1),
        value_offset=value_offset,
        value_length=value_length,
        extended_offsets=extended,
    )


def check_size(layout: PixelLayout, limits: Limits) -> None:
    """Refuse a frame whose decoded size passes the cap, before reading or decoding it."""
    size = layout.decoded_frame_bytes
    if size > limits.max_frame_bytes:
        raise ImageTooLarge(
            f"one {layout.columns}×{layout.rows}×{layout.samples_per_pixel} frame of "
            f"{layout.bits_allocated}-bit samples is {size:,} bytes, over the "
            f"{limits.max_frame_bytes:,} byte limit"
        )


def stored_frame(path: str | Path, layout: PixelLayout, index: int) -> bytes:
    """Frame ``index`` (0-based) as stored; see ``PixelLayout.stored_media_type``."""
    if layout.stored_media_type is None:
        raise InvalidImage(f"frames of {layout.transfer_syntax.name} cannot be sent as stored")
    try:
        with open(path, "rb") as stream:
            stream.seek(layout.value_offset)
            if layout.encapsulated:
                return _encapsulated_frame(stream, layout, index)
            return _native_frame(stream, layout, index)
    except OSError as exc:
        raise InvalidImage(f"cannot read the stored file: {exc.strerror}")


def _encapsulated_frame(stream, layout: PixelLayout, index: int) -> bytes:
    try:
        return get_frame(
            stream,
            index,
            extended_offsets=layout.extended_offsets,
            number_of_frames=layout.number_of_frames,
        )
    except Exception as exc:  # malformed items, a short offset table...
        raise DecodeError(f"frame {index + 1} cannot be found in the encapsulated data: {exc}")


def _native_frame(stream, layout: PixelLayout, index: int) -> bytes:
    bits = layout.frame_bits
    start_bit, end_bit = index * bits, (index + 1) * bits
    assert layout.value_length is not None
    if (end_bit + 7) // 8 > layout.value_length:
        raise InvalidImage(f"the pixel data is too short for frame {index + 1}")
    if bits % 8 == 0:
        stream.seek(layout.value_offset + start_bit // 8)
        return stream.read(bits // 8)
    # PS3.5 8.1.1: 1-bit frames are packed back to back, so a frame can start mid-byte.
    first, last = start_bit // 8, (end_bit + 7) // 8
    stream.seek(layout.value_offset + first)
    packed = np.frombuffer(stream.read(last - first), dtype=np.uint8)
    unpacked = np.unpackbits(packed, bitorder="little")
    offset = start_bit - first * 8
    return np.packbits(unpacked[offset : offset + bits], bitorder="little").tobytes()


class Decoded:
    """Frames decoded from one file: the data set is read once for all requested frames."""

    def __init__(self, path: str | Path, limits: Limits) -> None:
        self._dataset = load_dataset(path, limits)
        self._header = read_header(self._dataset, limits)  # the size cap, before decoding

    def frame(self, index: int) -> bytes:
        """Frame ``index`` (0-based) as little-endian samples (Explicit VR Little Endian)."""
        pixels = decode_frame(self._dataset, self._header, index).pixels
        if self._header.bits_allocated == 1:
            return np.packbits(pixels.astype(np.uint8).ravel(), bitorder="little").tobytes()
        return np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("<")).tobytes()


def _transfer_syntax(ds: Dataset) -> UID:
    file_meta = getattr(ds, "file_meta", None)
    uid = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if uid is not None and UID(str(uid)).is_transfer_syntax:
        return UID(str(uid))
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little in (None, True) else ExplicitVRBigEndian


def _positive(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword)
    if value is None or str(value).strip() == "":
        if default is None:
            raise InvalidImage(f"the image has no {keyword}")
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidImage(f"{keyword} {value!r} is not a number")
    if number < 1:
        raise InvalidImage(f"{keyword} {number} is not positive")
    return number
