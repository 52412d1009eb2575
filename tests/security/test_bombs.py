"""Decompression and pixel bombs are refused before they cost memory."""

from __future__ import annotations

import tracemalloc
import zlib

import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEGBaseline8Bit

from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import make_ct, to_bytes

pytestmark = pytest.mark.django_db
MEMORY_CAP = 64 * 1024**2  # far below what either bomb would need if it went off


def measured(data: bytes):
    tracemalloc.start()
    try:
        result = ingest_bytes(data, Instance.Source.UPLOAD, name="bomb.dcm")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def deflate_bomb(inflated_bytes: int) -> bytes:
    """A valid Part 10 header, then a deflated body (PS3.5 A.5) that inflates to
    ``inflated_bytes`` of zeros: a few hundred kilobytes on the wire."""
    ds = make_ct(rows=8, columns=8)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    honest = to_bytes(ds)
    meta_end = 132 + 12 + int.from_bytes(honest[140:144], "little")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = bytes(16 * 1024**2)
    body = b"".join(compressor.compress(chunk) for _ in range(inflated_bytes // len(chunk)))
    return honest[:meta_end] + body + compressor.flush()


def test_deflate_bomb_is_refused_within_the_memory_cap(settings):
    settings.INGEST_MAX_INFLATED_BYTES = 16 * 1024**2
    bomb = deflate_bomb(1024**3)  # 1 GiB once inflated
    assert len(bomb) < 2 * 1024**2
    result, peak = measured(bomb)
    assert result.status == "rejected"
    assert result.reason_code == "inflated_too_large"
    assert peak < MEMORY_CAP, f"peak {peak / 1024**2:.0f} MiB"


def test_pixel_bomb_is_refused_before_decoding(settings):
    # 65535 x 65535 x 16-bit x 1000 frames would be 8 TiB decoded; the file is tiny.
    ds = make_ct(rows=16, columns=16)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 1000
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"] * 1000)
    ds["PixelData"].VR = "OB"
    result, peak = measured(to_bytes(ds))
    assert result.status == "rejected"
    assert result.reason_code == "image_too_large"
    assert peak < MEMORY_CAP, f"peak {peak / 1024**2:.0f} MiB"


def test_pixel_data_shorter_than_its_declared_matrix_is_refused(settings):
    ds = make_ct(rows=16, columns=16)
    ds.Rows = ds.Columns = 4096  # native pixel data must then be 32 MiB; it is 512 bytes
    result, peak = measured(to_bytes(ds))
    assert result.status == "rejected"
    assert result.reason_code == "pixel_data_length"
    assert peak < MEMORY_CAP
