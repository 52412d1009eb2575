"""Checks a candidate DICOM file before anything is stored or indexed.

Pure functions over bytes: no Django, no I/O. Every attribute is treated as hostile text;
sizes are computed with Python integers (no overflow) and compared against caps before any
allocation that depends on them. A failed check raises ``Rejected`` with a stable code for
machines and a sentence for people.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass

import pydicom
import pydicom.config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import parse_fragments
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset, read_preamble
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from studies import dicom_text, raw_header

PREAMBLE_LENGTH = 128
# PS3.5 9.1: a UID is dot-separated numbers without leading zeros, at most 64 characters.
_UID_PATTERN = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_ALLOWED_BITS_ALLOCATED = {1, 8, 16, 32, 64}
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


class Rejected(Exception):
    """The file is refused. ``code`` is stable (for APIs and filters); str() is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_image_bytes: int
    max_frames: int
    max_inflated_bytes: int


@dataclass
class CheckedFile:
    dataset: Dataset
    header: dict  # the data set as DICOM JSON without bulk data (studies.dicom_text)
    transfer_syntax_uid: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    number_of_frames: int
    rows: int | None
    columns: int | None
    # As studies.dicom_text.integer reads it for the index: None if missing or not a number.
    instance_number: int | None = None
    # Why the bytes cannot be stored as they came (no preamble, incomplete or contradictory
    # file meta); empty when they can. Ingest then writes a fresh Part 10 header.
    meta_problem: str = ""


def skip_pydicom_value_checks() -> None:
    """Turn off pydicom's check of every value it decodes against its VR, for the whole process.

    In its default mode (WARN) the check can only warn, and ingest ignores those warnings: what
    it refuses, it refuses by its own checks (``check_file``). The check is a regular expression
    per UID and per string, on the sender's header and on every DIMSE command set: ~1.3 ms of
    CPU per CT slice ingested, about a sixth of it. Called by the processes that mostly ingest
    (the DICOM listener, the retrieve worker); elsewhere pydicom keeps its default.
    """
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE


def is_valid_uid(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 64 and bool(_UID_PATTERN.fullmatch(value))


def check_file(data: bytes, limits: Limits) -> CheckedFile:
    """Parse and validate a DICOM file held in memory; raise Rejected if unfit.

    Part 10 files are expected, but a bare data set without preamble and meta (as older
    systems write, and as PS3.5 allows on media before Part 10) is accepted when it parses
    and carries the required UIDs; its transfer syntax is the one it was read with.
    """
    if len(data) > limits.max_file_bytes:
        raise Rejected(
            "too_large",
            f"file is {len(data):,} bytes, over the {limits.max_file_bytes:,} byte limit",
        )
    is_part10 = (
        len(data) >= PREAMBLE_LENGTH + 4 and data[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4] == b"DICM"
    )
    plain = _plain_file_meta(data) if is_part10 else None
    if plain is not None:
        file_meta, meta_end = plain
    else:
        file_meta = _read_file_meta(data) if is_part10 else FileMetaDataset()
    transfer_syntax = file_meta.get("TransferSyntaxUID")
    if transfer_syntax is not None:
        transfer_syntax = _checked_transfer_syntax(transfer_syntax)
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        if plain is not None:
            file_meta = _read_file_meta(data)  # the group length, as pydicom read it
        _check_inflated_size(data, file_meta, limits.max_inflated_bytes)
    dataset = None
    if plain is not None and transfer_syntax not in (None, DeflatedExplicitVRLittleEndian):
        dataset = _read_dataset_after(data, meta_end, transfer_syntax)
    if dataset is None:
        dataset = _read_dataset(data, is_part10)
    # Decodes every top-level element (values are decoded lazily), so a broken one is a typed
    # rejection here rather than an error for whoever reads the header next.
    header, header_error = _decode_header(dataset, is_part10)
    if transfer_syntax is None:
        transfer_syntax = _syntax_read_with(dataset)
    if str(file_meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY:
        raise Rejected(
            "not_an_instance",
            "a DICOMDIR media index (PS3.10 8.6), not an instance; import the folder it indexes",
        )
    try:
        uids = _check_uids(dataset)
    except Rejected as rejection:
        if not is_part10:
            raise Rejected(
                "not_dicom",
                "not a DICOM file: no 'DICM' prefix after the 128-byte preamble (PS3.10 7.1) "
                f"and no usable bare data set ({rejection.message})",
            )
        raise
    frames, rows, columns = _check_pixel_data(dataset, transfer_syntax, limits)
    if header_error is not None:
        exc = header_error
        raise Rejected("malformed", f"header cannot be decoded: {type(exc).__name__}: {exc}")
    return CheckedFile(
        header=header,
        dataset=dataset,
        transfer_syntax_uid=str(transfer_syntax),
        number_of_frames=frames,
        rows=rows,
        columns=columns,
        instance_number=_instance_number(dataset),
        meta_problem=_meta_problem(is_part10, file_meta, uids),
        **uids,
    )


# File Meta Information read here when it is as plain as senders write it (PS3.10 7.1: group
# 0002, Explicit VR Little Endian, each element with its dictionary VR), and the data set after
# it read by pydicom's read_dataset from there: pydicom's dcmread parses the meta again,
# decoding each element through its hooks, and builds a FileDataset; with the meta parse this
# module did first, ~0.5 ms of a CT slice. Anything unusual (a VR other than the dictionary's,
# a value that is not one plain UID, a group length that disagrees, a command set in the
# file, a deflated data set, an error while reading) takes pydicom's whole path as before.
# tests/test_validation_meta.py compares both ways over pydicom's sample files.
_LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_META_UIDS = {
    0x0002: "MediaStorageSOPClassUID",
    0x0003: "MediaStorageSOPInstanceUID",
    0x0010: "TransferSyntaxUID",
}
_NUMBER_SIZES = {b"UL": 4, b"US": 2}
_meta_vrs: dict[int, bytes | None] = {}


def _meta_vr(element: int) -> bytes | None:
    vr = _meta_vrs.get(element, b"")
    if vr == b"":
        try:
            vr = dictionary_VR(0x00020000 | element).encode("ascii")
        except KeyError:
            vr = None
        _meta_vrs[element] = vr
    return vr


def _plain_file_meta(data: bytes) -> tuple[dict[str, str], int] | None:
    """(the meta's UIDs by keyword, where the data set starts), or None: pydicom reads it."""
    start = offset = PREAMBLE_LENGTH + 4
    end = len(data)
    values: dict[str, str] = {}
    group_length = None
    while True:
        if offset + 8 > end:
            return None
        group, element = _GROUP_ELEMENT.unpack_from(data, offset)
        if group != 0x0002:
            break
        vr = data[offset + 4 : offset + 6]
        if vr != _meta_vr(element):
            return None
        if vr in _LONG_LENGTH_VRS:
            length, value_start = int.from_bytes(data[offset + 8 : offset + 12], "little"), 12
        else:
            length, value_start = int.from_bytes(data[offset + 6 : offset + 8], "little"), 8
        value_start += offset
        offset = value_start + length
        if length == 0xFFFFFFFF or offset > end:
            return None
        value = data[value_start:offset]
        if vr in _NUMBER_SIZES:
            if length != _NUMBER_SIZES[vr]:
                return None
            if element == 0x0000:
                group_length = int.from_bytes(value, "little")
        elif element in _META_UIDS:
            text = value.decode("latin-1").rstrip("\0 ")
            if "\\" in text or "\0" in text:
                return None
            values[_META_UIDS[element]] = text.strip()
    if group == 0x0000 or not values or offset == start:
        return None  # a command set in the file, or no meta worth the name: pydicom's
    if group_length is not None and group_length != offset - (start + 12):
        return None
    return values, offset


def _read_dataset_after(data: bytes, meta_end: int, transfer_syntax: UID) -> Dataset | None:
    """The data set after a plain meta, as dcmread reads it (its encoding from the transfer
    syntax as in pydicom's read_partial); None if reading it raised (pydicom's path then)."""
    if transfer_syntax == ImplicitVRLittleEndian:
        implicit, little = True, True
    elif transfer_syntax == ExplicitVRBigEndian:
        implicit, little = False, False
    else:
        implicit, little = False, True  # Explicit VR Little Endian, and every encapsulated one
    stream = io.BytesIO(data)
    stream.seek(meta_end)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = read_dataset(stream, implicit, little)
            # As read_partial: the encoding the transfer syntax names, even where read_dataset
            # found the elements written otherwise (and read them that way).
            dataset.set_original_encoding(implicit, little, dataset._character_set)
            return dataset
    except Exception:  # pydicom raises many types on broken input; its path will say which
        return None


def _read_file_meta(data: bytes) -> FileMetaDataset:
    stream = io.BytesIO(data)
    try:
        read_preamble(stream, force=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta = pydicom.filereader._read_file_meta_info(stream)
            # Elements are decoded lazily; decode them all here, where a broken one (an
            # unknown VR, say) is a typed rejection and not an error in a later .get().
            list(meta)
            return meta
    except Exception as exc:  # pydicom raises many types on broken input
        raise Rejected("bad_file_meta", f"file meta information cannot be read: {exc}")


def _checked_transfer_syntax(value: object) -> UID:
    text = str(value)
    if not is_valid_uid(text):
        raise Rejected("invalid_uid", "Transfer Syntax UID is not a valid UID (PS3.5 9.1)")
    uid = UID(text)
    if not uid.is_transfer_syntax:
        raise Rejected(
            "unsupported_transfer_syntax",
            f"transfer syntax {text} is not one this archive understands",
        )
    return uid


def _syntax_read_with(dataset: Dataset) -> UID:
    implicit, little = dataset.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _meta_problem(is_part10: bool, file_meta: FileMetaDataset, uids: dict[str, str]) -> str:
    if not is_part10:
        return "no preamble or file meta information"
    if str(file_meta.get("MediaStorageSOPInstanceUID", "")) != uids["sop_instance_uid"]:
        # PS3.10 7.1: the meta header names the same SOP instance as the data set.
        return "Media Storage SOP Instance UID missing or different from SOP Instance UID"
    if str(file_meta.get("MediaStorageSOPClassUID", "")) != uids["sop_class_uid"]:
        return "Media Storage SOP Class UID missing or different from SOP Class UID"
    return ""


def _check_inflated_size(data: bytes, file_meta: FileMetaDataset, cap: int) -> None:
    # pydicom inflates the whole body in one call, so a deflate bomb must be caught first.
    group_length = file_meta.get("FileMetaInformationGroupLength", 0)
    if not isinstance(group_length, int):  # present but empty (found by fuzzing)
        raise Rejected("bad_file_meta", "File Meta Information Group Length has no value")
    meta_end = PREAMBLE_LENGTH + 4 + 12 + group_length
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(data[meta_end:], cap + 1)
    except zlib.error as exc:
        raise Rejected("malformed", f"deflated data set cannot be inflated: {exc}")
    if len(inflated) > cap:
        raise Rejected(
            "inflated_too_large",
            f"deflated data set inflates past the {cap:,} byte limit",
        )


def _read_dataset(data: bytes, is_part10: bool) -> Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(io.BytesIO(data), force=not is_part10)
    except InvalidDicomError as exc:
        raise Rejected("not_dicom", f"not a DICOM file: {exc}")
    except Exception as exc:
        raise Rejected("malformed", f"data set cannot be parsed: {type(exc).__name__}: {exc}")
    return dataset


def _decode_header(dataset: Dataset, is_part10: bool) -> tuple[dict, Exception | None]:
    """The header as DICOM JSON (studies.raw_header), decoding every top-level element: one
    that cannot be decoded (an unknown VR, found by fuzzing) is a typed rejection here, not an
    error in a later .get()."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return raw_header.header(dataset)
    except Exception as exc:
        code = "malformed" if is_part10 else "not_dicom"
        raise Rejected(code, f"data set cannot be decoded: {type(exc).__name__}: {exc}")


# Attributes the checks read, by keyword: (tag, VR). Each is read from its raw element when
# that is as plain as almost every sender makes it (one value, the standard VR), by the rules
# pydicom decodes it with (PS3.5 6.2: trailing padding stripped; a UID also stripped of
# spaces, as pydicom.uid.UID does; IS plain digits, pydicom.valuerep.IS); anything else is
# decoded by pydicom as before. Asking pydicom costs ~30 µs an element (its hooks, value
# classes and caching): ~0.4 ms of a CT slice's ingest for the dozen read here.
# tests/test_validation_values.py compares both ways over pydicom's sample files.
_CHECKED = {
    "SOPClassUID": (0x00080016, "UI"),
    "SOPInstanceUID": (0x00080018, "UI"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "InstanceNumber": (0x00200013, "IS"),
    "NumberOfFrames": (0x00280008, "IS"),
    "Rows": (0x00280010, "US"),
    "Columns": (0x00280011, "US"),
    "SamplesPerPixel": (0x00280002, "US"),
    "BitsAllocated": (0x00280100, "US"),
    "PhotometricInterpretation": (0x00280004, "CS"),
}
_PLAIN_IS = re.compile(r" *[0-9]{1,9}")
_ASK_PYDICOM = object()
_GROUP_ELEMENT = struct.Struct("<HH")


def _raw_value(dataset: Dataset, keyword: str) -> object:
    """The value pydicom would give for ``keyword`` when its raw element is plain, else
    ``_ASK_PYDICOM`` (absent, already decoded, another VR, several values, or odd)."""
    tag, vr = _CHECKED[keyword]
    raw = dataset._dict.get(tag)
    # VR None: implicit VR, where pydicom takes the dictionary's (``vr``).
    if type(raw) is not RawDataElement or raw.VR not in (vr, None):
        return _ASK_PYDICOM
    value = raw.value
    if type(value) is not bytes:
        return _ASK_PYDICOM
    if vr == "US":
        if len(value) != 2:
            return _ASK_PYDICOM
        return int.from_bytes(value, "little" if raw.is_little_endian else "big")
    text = value.decode("latin-1").rstrip("\0 ")  # pydicom's default repertoire
    if "\\" in text or "\0" in text:
        return _ASK_PYDICOM
    if vr == "IS":
        return int(text) if _PLAIN_IS.fullmatch(text) else _ASK_PYDICOM
    return text.strip() if vr == "UI" else text


def _value(dataset: Dataset, keyword: str) -> object:
    value = _raw_value(dataset, keyword)
    return dataset.get(keyword) if value is _ASK_PYDICOM else value


def _check_uids(dataset: Dataset) -> dict[str, str]:
    found: dict[str, str] = {}
    for keyword, field in (
        ("SOPClassUID", "sop_class_uid"),
        ("SOPInstanceUID", "sop_instance_uid"),
        ("StudyInstanceUID", "study_instance_uid"),
        ("SeriesInstanceUID", "series_instance_uid"),
    ):
        value = _value(dataset, keyword)
        if value is None or str(value) == "":
            raise Rejected("missing_attribute", f"required attribute {keyword} is missing")
        text = str(value)
        if not is_valid_uid(text):
            raise Rejected(
                "invalid_uid",
                f"{keyword} is not a valid UID (PS3.5 9.1: digits and dots, at most 64 chars)",
            )
        found[field] = text
    return found


def _as_int(dataset: Dataset, keyword: str, default: int | None = None) -> int | None:
    value = _value(dataset, keyword)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Rejected("malformed", f"{keyword} is not a number")


def _instance_number(dataset: Dataset) -> int | None:
    """Instance Number as ``studies.dicom_text.integer`` reads it for the index."""
    value = _raw_value(dataset, "InstanceNumber")
    if value is _ASK_PYDICOM:
        return dicom_text.integer(dataset, "InstanceNumber")
    return value  # at most 9 digits: within the signed 32-bit column


def _check_pixel_data(
    dataset: Dataset, transfer_syntax: UID, limits: Limits
) -> tuple[int, int | None, int | None]:
    frames = _as_int(dataset, "NumberOfFrames", 1)
    rows = _as_int(dataset, "Rows")
    columns = _as_int(dataset, "Columns")
    pixel_keyword = next((k for k in _PIXEL_KEYWORDS if k in dataset), None)
    if pixel_keyword is None:
        return max(frames or 1, 1), rows, columns

    samples = _as_int(dataset, "SamplesPerPixel", 1)
    bits_allocated = _as_int(dataset, "BitsAllocated")
    if not rows or not columns or rows < 0 or columns < 0:
        raise Rejected("malformed", "image has pixel data but no positive Rows and Columns")
    if bits_allocated not in _ALLOWED_BITS_ALLOCATED:
        raise Rejected("malformed", f"Bits Allocated {bits_allocated} is not 1, 8, 16, 32 or 64")
    if samples not in (1, 3, 4):
        raise Rejected("malformed", f"Samples per Pixel {samples} is not 1, 3 or 4")
    if frames is None or frames < 1:
        raise Rejected("malformed", f"Number of Frames {frames} is not a positive number")
    if frames > limits.max_frames:
        raise Rejected(
            "image_too_large", f"{frames:,} frames is over the {limits.max_frames:,} frame limit"
        )
    # Python integers cannot overflow: 65535 × 65535 × 1000 frames is computed exactly.
    decoded_bits = rows * columns * samples * bits_allocated * frames
    decoded_bytes = (decoded_bits + 7) // 8
    if decoded_bytes > limits.max_image_bytes:
        raise Rejected(
            "image_too_large",
            f"declared image {columns}×{rows}×{samples} samples×{bits_allocated} bits×{frames} "
            f"frames is {decoded_bytes:,} bytes, over the {limits.max_image_bytes:,} byte limit",
        )

    value = dataset[pixel_keyword].value
    if transfer_syntax.is_encapsulated and pixel_keyword == "PixelData":
        _check_encapsulated(value)
    else:
        expected = _native_length(dataset, rows, columns, samples, bits_allocated, frames)
        actual = len(value or b"")
        # Too short cannot be displayed; longer (trailing padding, as some modalities write)
        # is harmless because decoders read only the expected length.
        if actual < expected:
            raise Rejected(
                "pixel_data_length",
                f"pixel data is {actual:,} bytes but {columns}×{rows}×{samples} samples×"
                f"{bits_allocated} bits×{frames} frames needs {expected:,}",
            )
    return frames, rows, columns


def _native_length(
    dataset: Dataset, rows: int, columns: int, samples: int, bits_allocated: int, frames: int
) -> int:
    photometric = _value(dataset, "PhotometricInterpretation")
    photometric = str("" if photometric is None else photometric).strip().upper()
    if photometric == "YBR_FULL_422" and samples == 3:
        # PS3.3 C.7.6.3.1.2: two chroma samples are shared by each pair of pixels.
        return rows * columns * 2 * (bits_allocated // 8) * frames
    return (rows * columns * samples * bits_allocated * frames + 7) // 8


def _check_encapsulated(value: bytes | None) -> None:
    if not value:
        raise Rejected("pixel_data_length", "encapsulated pixel data is empty")
    try:
        buffer = io.BytesIO(value)
        # Skip the Basic Offset Table item (PS3.5 A.4), then count the fragments.
        if value[:4] != b"\xfe\xff\x00\xe0":
            raise ValueError("does not start with an item tag")
        table_length = int.from_bytes(value[4:8], "little")
        if 8 + table_length > len(value):
            raise ValueError("basic offset table runs past the end")
        buffer.seek(8 + table_length)
        count, _ = parse_fragments(buffer)
    except Exception as exc:
        raise Rejected("malformed", f"encapsulated pixel data is malformed: {exc}")
    if count < 1:
        raise Rejected("pixel_data_length", "encapsulated pixel data has no fragments")
