"""Stage 1: one frame of pixel data → a numpy array of stored values.

pydicom's decoders do the work (native, deflated, RLE through pylibjpeg-rle, JPEG and JPEG-LS
through pylibjpeg-libjpeg, JPEG 2000 through pylibjpeg-openjpeg). This module feeds them the
checked header values rather than the data set, so an attribute that pydicom would trip over
has already been answered with a clear error, and turns every decoder failure into
``DecodeError``.

Colour stays as the decoder delivers it: the returned photometric interpretation says whether
a JPEG came out as YBR or RGB (JPEG 2000 with YBR_RCT/ICT is RGB after the decoder's inverse
component transform, PS3.5 8.2.4); ``color`` does any remaining conversion.
"""

from __future__ import annotations

from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, get_frame
from pydicom.pixels import get_decoder
from pydicom.uid import (
    UID,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
)

from .errors import DecodeError, InvalidRequest, UnsupportedImage
from .header import ImageHeader

_SEQUENTIAL_JPEG = (JPEGBaseline8Bit, JPEGExtended12Bit)
_JPEG_FAMILY = (*JPEGTransferSyntaxes, *JPEGLSTransferSyntaxes)


@dataclass(frozen=True, eq=False)
class DecodedFrame:
    pixels: np.ndarray  # (rows, columns) or (rows, columns, 3), native byte order
    photometric: str  # as delivered by the decoder, e.g. YBR_FULL stays YBR_FULL

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes)


def check_frame_index(header: ImageHeader, frame: int) -> None:
    if not isinstance(frame, int) or isinstance(frame, bool):
        raise InvalidRequest(f"frame {frame!r} is not an integer")
    if not 0 <= frame < header.number_of_frames:
        raise InvalidRequest(
            f"frame {frame + 1} does not exist: the image has {header.number_of_frames} frame(s)"
        )


def decode_frame(
    ds: Dataset, header: ImageHeader, frame: int, executor: Executor | None = None
) -> DecodedFrame:
    """Decode frame ``frame`` (0-based) of ``ds``, whose header was read by ``read_header``.

    With an ``executor`` (a process pool), compressed frames are decoded there: the codecs
    hold the GIL for the whole decode (0.8 s for a large JPEG 2000 radiograph), which would
    stall an event loop running in the same process, and a codec crashing on hostile data
    then takes down a worker instead of the server.
    """
    check_frame_index(header, frame)
    syntax = header.transfer_syntax
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise UnsupportedImage(f"no decoder exists for the transfer syntax {syntax.name}")
    if not decoder.is_available:
        raise UnsupportedImage(f"no decoder is installed for the transfer syntax {syntax.name}")
    data = ds[header.pixel_keyword].value
    if not data:
        raise DecodeError("the pixel data element is empty")
    options = _options(ds, header)
    if not syntax.is_encapsulated:
        try:
            array, properties = decoder.as_array(data, index=frame, raw=True, **options)
        except Exception as exc:  # pydicom raises ValueError, AttributeError...
            raise _decode_error(syntax, frame, exc)
        photometric = str(properties["photometric_interpretation"])
        return DecodedFrame(_conform(array, header, frame), photometric)
    try:
        codestream = get_frame(
            data,
            frame,
            number_of_frames=header.number_of_frames,
            extended_offsets=options.pop("extended_offsets", None),
        )
    except Exception as exc:  # broken item tags, offset tables pointing nowhere...
        raise _decode_error(syntax, frame, exc)
    job = (str(syntax), bytes(codestream), dict(options, number_of_frames=1), frame)
    if executor is None:
        array, photometric = decode_codestream(*job)
    else:
        try:
            array, photometric = executor.submit(decode_codestream, *job).result()
        except BrokenExecutor:
            raise DecodeError(
                f"the decoder crashed on frame {frame + 1} ({syntax.name}): corrupt data?"
            )
    return DecodedFrame(_conform(array, header, frame), photometric)


def decode_codestream(
    syntax: str, codestream: bytes, options: dict[str, Any], frame: int
) -> tuple[np.ndarray, str]:
    """Decode one frame's compressed bytes: a plain function, so a process pool can run it."""
    uid = UID(syntax)
    decoder = get_decoder(uid)
    if uid in _JPEG_FAMILY and not codestream.rstrip(b"\x00\xff").endswith(b"\xff\xd9"):
        # ITU-T T.81 B.2.1 (and T.87 for JPEG-LS): a codestream ends with EOI. Without it the
        # data was cut short; the codecs would fill the rest with grey and say nothing.
        raise DecodeError(
            f"frame {frame + 1} cannot be decoded ({uid.name}): the JPEG data has no End of "
            "Image marker, it is truncated"
        )
    if uid in _JPEG_FAMILY and first_scan_is_empty(codestream):
        # With the entropy-coded data gone, the codecs return a flat image without a word.
        raise DecodeError(
            f"frame {frame + 1} cannot be decoded ({uid.name}): the JPEG data has no "
            "compressed image data after its Start of Scan"
        )
    # 8-bit baseline first through Pillow's libjpeg-turbo: the IJG algorithms (islow IDCT,
    # "fancy" chroma upsampling) that DCMTK and most viewers use, so YBR_FULL_422 JPEGs match
    # them; then every installed plugin (pylibjpeg), then the Start of Scan fix below.
    plugins = ("pillow", "") if uid == JPEGBaseline8Bit else ("",)
    first_error: Exception | None = None
    for plugin in plugins:
        try:
            array, properties = decoder.as_array(
                encapsulate([codestream]), index=0, raw=True, decoding_plugin=plugin, **options
            )
            break
        except Exception as exc:  # decoders raise anything from ValueError to RuntimeError
            first_error = first_error or exc
    else:
        fixed = sequential_sos_fixed(codestream) if uid in _SEQUENTIAL_JPEG else None
        assert first_error is not None
        if fixed is None:
            raise _decode_error(uid, frame, first_error)
        try:
            array, properties = decoder.as_array(encapsulate([fixed]), index=0, raw=True, **options)
        except Exception:  # the fix did not help: report the original failure
            raise _decode_error(uid, frame, first_error)
    return array, str(properties["photometric_interpretation"])


def _options(ds: Dataset, header: ImageHeader) -> dict[str, Any]:
    options: dict[str, Any] = {
        "rows": header.rows,
        "columns": header.columns,
        "samples_per_pixel": header.samples_per_pixel,
        "bits_allocated": header.bits_allocated,
        "bits_stored": header.bits_stored,
        "pixel_representation": header.pixel_representation,
        "photometric_interpretation": header.photometric,
        "number_of_frames": header.number_of_frames,
        "pixel_keyword": header.pixel_keyword,
        "pixel_vr": header.pixel_vr,
    }
    if header.samples_per_pixel > 1:
        options["planar_configuration"] = header.planar_configuration
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        options["extended_offsets"] = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    return options


def _decode_error(syntax: UID, frame: int, error: Exception) -> DecodeError:
    lines = str(error).strip().splitlines()
    detail = " ".join(line.strip() for line in lines[:3]) or type(error).__name__
    return DecodeError(f"frame {frame + 1} cannot be decoded ({syntax.name}): {detail}")


def first_scan_is_empty(codestream: bytes) -> bool:
    """Whether the first scan of a JPEG or JPEG-LS codestream holds no entropy-coded data
    (or there is no scan at all).

    ITU-T T.81 B.2.1 and B.2.3 (T.87 keeps the syntax): a scan is its header followed by
    entropy-coded segments, each at least one byte. In that data 0xFF is followed by 0x00
    (T.81 byte stuffing), a restart marker 0xD0-0xD7, or in JPEG-LS a byte below 0x80; any
    other 0xFF xx is a marker, so a marker right after the scan header means the data is
    gone. Only the first scan is checked: the marker segments before it are short, while
    walking the entropy-coded data to find later scans would cost a pass over the frame.
    """
    position = 2  # after SOI
    while position + 1 < len(codestream):
        if codestream[position] != 0xFF:
            return False  # not a marker where one must be: let the decoder judge
        marker = codestream[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD9:  # EOI before any scan
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # standalone markers
            position += 2
            continue
        if position + 4 > len(codestream):
            return True
        length = int.from_bytes(codestream[position + 2 : position + 4], "big")
        if marker != 0xDA:
            position += 2 + length
            continue
        data = position + 2 + length
        while codestream[data : data + 2] == b"\xff\xff":
            data += 1  # fill bytes before a marker
        if data + 1 >= len(codestream):
            return True
        if codestream[data] != 0xFF:
            return False
        follower = codestream[data + 1]
        return follower >= 0xC0 and not 0xD0 <= follower <= 0xD7
    return True


def sequential_sos_fixed(codestream: bytes) -> bytes | None:
    """The codestream with a sequential-DCT Start of Scan corrected, or None if it is fine.

    ITU-T T.81 B.2.3: in sequential DCT scans Ss = 0, Se = 63 and Ah = Al = 0. Some encoders
    write Se = 0 (NEMA WG04's NM1_JPLY, pydicom's JPEG-lossy.dcm); the IJG library warns and
    uses 63, while libjpeg (pylibjpeg) refuses. Rewriting those three bytes does what IJG does.
    """
    position = 2
    sequential = False
    fixed = bytearray(codestream)
    changed = False
    while position + 4 <= len(fixed):
        if fixed[position] != 0xFF:
            return None
        marker = fixed[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        length = int.from_bytes(fixed[position + 2 : position + 4], "big")
        if marker in (0xC0, 0xC1):  # baseline or extended sequential DCT
            sequential = True
        if marker == 0xDA:
            components = fixed[position + 4] if position + 4 < len(fixed) else 0
            spectral = position + 5 + 2 * components
            if not sequential or spectral + 2 >= len(fixed):
                return None
            if fixed[spectral : spectral + 3] != b"\x00\x3f\x00":
                fixed[spectral : spectral + 3] = b"\x00\x3f\x00"
                changed = True
            # Entropy-coded data follows; later scans of a sequential image are rare.
            return bytes(fixed) if changed else None
        position += 2 + length
    return None


def _conform(array: np.ndarray, header: ImageHeader, frame: int) -> np.ndarray:
    expected: tuple[int, ...] = (header.rows, header.columns)
    if header.samples_per_pixel > 1:
        expected = (*expected, header.samples_per_pixel)
    if array.shape != expected:
        raise DecodeError(f"frame {frame + 1} decoded to shape {array.shape}, expected {expected}")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return np.ascontiguousarray(array)
