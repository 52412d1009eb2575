"""The stored header that ingest builds from raw elements (studies.raw_header) is the header
pydicom builds when it decodes every element (studies.dicom_text.header_json), file by file,
over pydicom's own sample files (every transfer syntax, character set and VR they hold) and
over hostile values no sample has."""

from __future__ import annotations

import io
import os
import warnings

import pydicom
import pytest
from pydicom.data import get_testdata_files

from studies import raw_header
from studies.dicom_text import header_json
from tests.dicom_files import make_ct, to_bytes

# Headers are what is compared; the larger files add pixels, not elements.
_SMALL = 512_000


def _read(data: bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data), force=True)


def _pydicom_header(data: bytes) -> dict | None:
    """pydicom's header, or None where pydicom cannot build one (ingest rejects the file)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = _read(data)
            list(dataset)
            return header_json(dataset)
    except Exception:
        return None


def _ours(data: bytes) -> dict | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header, error = raw_header.header(_read(data))
    except Exception:
        return None
    return None if error is not None else header


def _sample_files() -> list[str]:
    return sorted(
        p for p in get_testdata_files() if os.path.isfile(p) and os.path.getsize(p) < _SMALL
    )


def test_the_header_is_pydicoms_for_every_sample_file():
    files = _sample_files()
    assert len(files) > 100  # pydicom's test set is there
    compared = 0
    for path in files:
        with open(path, "rb") as handle:
            data = handle.read()
        expected = _pydicom_header(data)
        if expected is None:
            continue
        assert _ours(data) == expected, path
        compared += 1
    assert compared > 100


@pytest.mark.parametrize(
    "attributes",
    [
        # Padding, empty values among several, a NUL inside, spaces pydicom keeps or strips.
        {"ImageType": "ORIGINAL\\\\PRIMARY ", "StudyDescription": " lead\x00ing  "},
        {"PixelSpacing": [" 0.5", "1e-3 "], "SliceThickness": "+.5", "InstanceNumber": " -7 "},
        # Values pydicom decodes its own way: left to it, and the same header results.
        {"InstanceNumber": "2.0", "SeriesNumber": ""},
        {"SpecificCharacterSet": "ISO_IR 192", "StudyDescription": "Thorax – Übersicht"},
        {"SpecificCharacterSet": "ISO_IR 100", "InstitutionName": "H\xf4pital"},
        {"WindowCenter": ["40", "400"], "FrameOfReferenceUID": "1.2.3.4\x00"},
    ],
)
def test_the_header_is_pydicoms_for_unusual_values(attributes):
    ds = make_ct()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    data = to_bytes(ds)
    expected = _pydicom_header(data)
    assert expected is not None
    assert _ours(data) == expected


def test_pixel_data_is_left_out_and_short_binary_values_are_inline():
    ds = make_ct(rows=64, columns=64)
    ds.add_new(0x00091010, "OB", b"\x01\x02\x03")  # a short private binary value
    ds.add_new(0x00090010, "LO", "CREATOR")
    header, error = raw_header.header(_read(to_bytes(ds)))
    assert error is None
    assert "7FE00010" not in header
    # Written padded to an even length (PS3.5 7.1.1).
    assert header["00091010"] == {"vr": "OB", "InlineBinary": "AQIDAA=="}


def test_a_number_pydicom_cannot_read_is_read_by_pydicom():
    ds = make_ct()
    ds.SliceThickness = "1.5"
    data = to_bytes(ds).replace(
        b"\x18\x00\x50\x00DS\x04\x001.5 ", b"\x18\x00\x50\x00DS\x04\x001,5 "
    )
    assert b"1,5 " in data
    # pydicom's JSON of it fails; so does ours, and ingest rejects the file either way.
    assert _pydicom_header(data) is None
    assert _ours(data) is None
