"""PNG written by encode_png reads back exactly, in Pillow and in a second, independent decoder."""

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from studies.imaging.encode import encode, encode_png
from studies.imaging.errors import InvalidRequest


def _pictures():
    rng = np.random.default_rng(7)
    yield "gray noise", rng.integers(0, 256, (37, 53), dtype=np.uint8)
    yield "rgb noise", rng.integers(0, 256, (19, 1, 3), dtype=np.uint8)
    ramp = np.tile(np.arange(300, dtype=np.uint16) % 256, (24, 1)).astype(np.uint8)
    yield "gray ramp wrapping past 255", ramp
    yield "one pixel", np.array([[200]], dtype=np.uint8)
    yield "rgb edges", np.dstack([ramp[:9, :11], 255 - ramp[:9, :11], ramp[:9, :11] // 2])


PICTURES = dict(_pictures())


@pytest.mark.parametrize("name", PICTURES)
def test_png_reads_back_exactly(name):
    pixels = PICTURES[name]
    data = encode(pixels, "png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)
    assert np.array_equal(_decode_png_by_the_spec(data), pixels)


def test_png_takes_a_non_contiguous_view():
    pixels = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64).astype(np.uint8)[::2, ::3]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(pixels)))), pixels)


def test_png_refuses_what_it_cannot_write():
    with pytest.raises(InvalidRequest):
        encode_png(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InvalidRequest):
        encode(np.zeros((4, 4), np.uint16), "png")


def _decode_png_by_the_spec(data: bytes) -> np.ndarray:
    """ISO/IEC 15948 read the long way (chunks, CRCs, all five filter types), as a second
    decoder that shares nothing with Pillow's or ours."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", None
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        crc = int.from_bytes(data[position + 8 + length : position + 12 + length], "big")
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    assert header is not None
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    bpp = {0: 1, 2: 3}[header[9]]
    raw = zlib.decompress(idat)
    stride = width * bpp
    out = np.zeros((height, stride), np.int32)
    previous = np.zeros(stride, np.int32)
    for row in range(height):
        kind = raw[row * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, row * (stride + 1) + 1).astype(np.int32)
        current = np.zeros(stride, np.int32)
        for x in range(stride):
            left = current[x - bpp] if x >= bpp else 0
            up = previous[x]
            corner = previous[x - bpp] if x >= bpp else 0
            predictor = {
                0: 0,
                1: left,
                2: up,
                3: (left + up) // 2,
                4: _paeth(left, up, corner),
            }[kind]
            current[x] = (line[x] + predictor) % 256
        out[row] = current
        previous = current
    shape = (height, width) if bpp == 1 else (height, width, 3)
    return out.astype(np.uint8).reshape(shape)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c
