"""The attributes validation reads from raw elements (UIDs, image size, Instance Number) have
the values pydicom decodes, file by file over pydicom's own sample files and over hostile
values no sample has; where they are not plain, pydicom decodes them as before."""

from __future__ import annotations

import io
import os
import warnings

import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.dataelem import RawDataElement

from studies import validation
from studies.validation import Limits, Rejected, check_file
from tests.dicom_files import make_ct, to_bytes

_SMALL = 512_000
_LIMITS = Limits(
    max_file_bytes=64 * 1024**2,
    max_image_bytes=512 * 1024**2,
    max_frames=5000,
    max_inflated_bytes=64 * 1024**2,
)


def _read(data: bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data), force=True)


def _readable(data: bytes) -> bool:
    try:
        _read(data)
    except Exception:  # a sample of something pydicom cannot read: not ours to compare
        return False
    return True


def _pydicoms(data: bytes, keyword: str) -> object:
    """The value as validation read it before: pydicom's, as validation uses it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = _read(data).get(keyword)
    tag, vr = validation._CHECKED[keyword]
    if value is None:
        return None
    return str(value) if vr in ("UI", "CS") else int(value)


def _compare(data: bytes) -> int:
    """Assert that every value read raw is pydicom's; how many were read raw."""
    read_raw = 0
    for keyword in validation._CHECKED:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = validation._raw_value(_read(data), keyword)
        if ours is validation._ASK_PYDICOM:
            continue
        assert ours == _pydicoms(data, keyword), keyword
        assert type(ours) is (int if validation._CHECKED[keyword][1] in ("US", "IS") else str)
        read_raw += 1
    return read_raw


def test_values_read_raw_are_pydicoms_in_every_sample_file():
    files = sorted(
        p for p in get_testdata_files() if os.path.isfile(p) and os.path.getsize(p) < _SMALL
    )
    assert len(files) > 100
    read_raw = 0
    for path in files:
        with open(path, "rb") as handle:
            data = handle.read()
        if _readable(data):
            read_raw += _compare(data)
    # Implicit and explicit VR, little and big endian: most values are read raw.
    assert read_raw > 500


@pytest.mark.parametrize(
    "attributes",
    [
        {"SOPInstanceUID": " 1.2.840.10008.5 "},
        {"SOPInstanceUID": "1.2.840\x0010008"},  # a NUL inside: pydicom keeps it
        {"StudyInstanceUID": "1.2.3\\1.2.4"},  # two values
        {"SeriesInstanceUID": ""},
        {"InstanceNumber": " -7 "},
        {"InstanceNumber": "+7"},
        {"InstanceNumber": "2.0"},
        {"InstanceNumber": "007"},
        {"InstanceNumber": "12345678901"},  # past a 32-bit column
        {"InstanceNumber": ""},
        {"NumberOfFrames": "3 "},  # more frames than the pixel data holds
        {"NumberOfFrames": "1 "},
        {"PhotometricInterpretation": " ybr_full_422"},
        {"PhotometricInterpretation": "MONOCHROME2\\RGB"},
    ],
)
def test_unusual_values_are_read_as_pydicom_reads_them(attributes, monkeypatch):
    ds = make_ct()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    data = to_bytes(ds)
    _compare(data)
    # And the whole check ends as it did when pydicom decoded every value.
    assert _outcome(data) == _outcome(data, monkeypatch, all_by_pydicom=True)


@pytest.mark.parametrize(
    "written",
    [
        b" 1.2.3.4.5.6",  # spaces around a UID: pydicom strips them
        b"1.2.3.4.5 6",
        b"1.2.3.4.5.\x006",
        b"1.2.3.4.5\\6",
        b"1.2.3.4.5.6 ",
        b"1.2.3.4.5.\x00\x00",
    ],
)
def test_a_uid_as_written_is_read_as_pydicom_reads_it(written, monkeypatch):
    # pydicom tidies a UID when it is set, so the hostile bytes are written in its place.
    data = to_bytes(make_ct(sop_uid="1.2.3.4.5.66", series_uid="1.2.3.4.5.66"))
    data = data.replace(b"1.2.3.4.5.66", written)
    assert written in data
    assert _compare(data) >= 0
    assert _outcome(data) == _outcome(data, monkeypatch, all_by_pydicom=True)


def _outcome(data: bytes, monkeypatch=None, all_by_pydicom: bool = False) -> object:
    if all_by_pydicom:
        monkeypatch.setattr(validation, "_raw_value", lambda *_: validation._ASK_PYDICOM)
    try:
        checked = check_file(data, _LIMITS)
    except Rejected as rejection:
        return rejection.code
    finally:
        if all_by_pydicom:
            monkeypatch.undo()
    return (
        checked.sop_instance_uid,
        checked.study_instance_uid,
        checked.series_instance_uid,
        checked.number_of_frames,
        checked.rows,
        checked.instance_number,
    )


def test_a_value_of_another_vr_or_length_is_left_to_pydicom():
    data = to_bytes(make_ct(rows=16))
    dataset = _read(data)
    raw = dataset._dict[0x00280010]
    # Rows written as two values (4 bytes): not plain, pydicom decodes it (a list).
    dataset._dict[0x00280010] = RawDataElement(
        raw.tag, "US", 4, b"\x10\x00\x10\x00", raw.value_tell, True, True
    )
    assert validation._raw_value(dataset, "Rows") is validation._ASK_PYDICOM
    assert list(validation._value(dataset, "Rows")) == [16, 16]
    dataset._dict[0x00280010] = RawDataElement(raw.tag, "SS", 2, b"\x10\x00", 0, True, True)
    assert validation._raw_value(dataset, "Rows") is validation._ASK_PYDICOM
    # Big endian is read as big endian.
    dataset._dict[0x00280010] = RawDataElement(raw.tag, "US", 2, b"\x01\x02", 0, True, False)
    assert validation._raw_value(dataset, "Rows") == 0x0102
