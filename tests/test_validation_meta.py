"""Validation reads a plain File Meta Information itself and the data set after it with
pydicom's read_dataset (studies.validation._plain_file_meta); every file ends as it did when
pydicom's dcmread read the whole file: the same instance facts and header, or the same
refusal. Over pydicom's sample files and over metas no sample has."""

from __future__ import annotations

import os
import struct

import pytest
from pydicom.data import get_testdata_files

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


def _outcome(data: bytes) -> object:
    try:
        checked = check_file(data, _LIMITS)
    except Rejected as rejection:
        return rejection.code
    return (
        checked.header,
        checked.transfer_syntax_uid,
        checked.sop_class_uid,
        checked.sop_instance_uid,
        checked.study_instance_uid,
        checked.series_instance_uid,
        checked.number_of_frames,
        checked.rows,
        checked.columns,
        checked.instance_number,
        checked.meta_problem,
        checked.dataset.original_encoding,
    )


def _both_ways(data: bytes, monkeypatch) -> tuple[object, object, bool]:
    """(outcome, outcome with pydicom reading all, whether the meta was read here)."""
    plain = validation._plain_file_meta(data) is not None
    ours = _outcome(data)
    with monkeypatch.context() as patched:
        patched.setattr(validation, "_plain_file_meta", lambda data: None)
        theirs = _outcome(data)
    return ours, theirs, plain


def test_every_sample_file_ends_as_with_pydicoms_reading(monkeypatch):
    files = sorted(
        p for p in get_testdata_files() if os.path.isfile(p) and os.path.getsize(p) < _SMALL
    )
    assert len(files) > 100
    read_here = 0
    for path in files:
        with open(path, "rb") as handle:
            data = handle.read()
        ours, theirs, plain = _both_ways(data, monkeypatch)
        assert ours == theirs, path
        read_here += plain
    assert read_here > 100  # most metas are plain


def _with_meta_element(data: bytes, element: bytes) -> bytes:
    """``data`` with ``element`` added at the end of its meta, the group length kept right."""
    (group_length,) = struct.unpack_from("<L", data, 140)
    end = 144 + group_length
    patched = data[:140] + struct.pack("<L", group_length + len(element)) + data[144:end]
    return patched + element + data[end:]


def _replaced(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


_CT = to_bytes(make_ct(sop_uid="1.2.3.4.5.66"))
_META_END = 144 + struct.unpack_from("<L", _CT, 140)[0]
_SOP_IN_META = b"\x03\x00UI\x0c\x001.2.3.4.5.66"


@pytest.mark.parametrize(
    "data, read_here",
    [
        (_CT, True),
        # The meta's SOP Instance UID padded and spaced as senders do: pydicom strips it.
        (
            _replaced(_CT, b"\x03\x00UI\x0c\x001.2.3.4.5.66", b"\x03\x00UI\x0c\x00 1.2.3.4.5.6"),
            True,
        ),
        # Not plain: left to pydicom, which ends it as before.
        (
            _replaced(_CT, b"\x03\x00UI\x0c\x001.2.3.4.5.66", b"\x03\x00UI\x0c\x001.2.3\\4.5.6"),
            False,
        ),
        (_replaced(_CT, b"\x03\x00UI", b"\x03\x00LO"), False),  # another VR
        (_replaced(_CT, b"\x03\x00UI\x0c\x00", b"\x03\x00UI\xff\x00"), False),  # runs past
        (_with_meta_element(_CT, b"\x02\x00\x99\x99UI\x02\x001\x00"), False),  # unknown tag
        (_CT[:140] + b"\x01\x00\x00\x00" + _CT[144:], False),  # group length disagrees
        (_CT[: _META_END + 60], True),  # the data set cut short
        (_CT[: _META_END - 20], False),  # the meta cut short
        (_CT[:132], False),
    ],
)
def test_unusual_metas_end_as_with_pydicoms_reading(data, read_here, monkeypatch):
    ours, theirs, plain = _both_ways(data, monkeypatch)
    assert ours == theirs
    assert plain is read_here


def test_a_command_set_stored_in_the_file_is_left_to_pydicom(monkeypatch):
    # Some writers leave the C-STORE command group (0000) after the meta; pydicom reads it.
    command = b"\x00\x00\x00\x00\x04\x00\x00\x00" + struct.pack("<L", 10)
    command += b"\x00\x00\x02\x00\x02\x00\x00\x00" + b"1\x00"
    data = _CT[:_META_END] + command + _CT[_META_END:]
    ours, theirs, plain = _both_ways(data, monkeypatch)
    assert plain is False
    assert ours == theirs
