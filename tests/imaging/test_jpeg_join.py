"""A JPEG encoded in two halves and joined at a restart marker is one valid baseline file
that decodes to exactly the pixels of a single encode (ITU-T T.81 F.1.2.3)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from studies.imaging import jpeg_join
from studies.imaging.encode import encode
from studies.imaging.render import SPLIT_MIN_PIXELS, Renderer
from tests.dicom_files import make_ct


def _image(rows: int, columns: int, channels: int = 0, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(rows) * 3, np.arange(columns) * 2) % 256
    shape = (rows, columns) if not channels else (rows, columns, channels)
    noise = rng.integers(-20, 20, shape)
    base = ramp if not channels else ramp[:, :, None] + np.arange(channels) * 40
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _halves_joined(pixels: np.ndarray, quality: int = 90) -> bytes | None:
    rows, columns = pixels.shape[:2]
    top = jpeg_join.top_rows(rows)
    head = encode(pixels[:top], "jpeg", quality)
    tail = encode(pixels[top:], "jpeg", quality)
    return jpeg_join.join(head, tail, rows, columns)


def _decoded(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as image:
        image.load()
        return np.asarray(image)


@pytest.mark.parametrize(
    "rows, columns",
    [(512, 512), (511, 509), (17, 33), (9, 8), (257, 100), (1024, 640), (24, 1)],
)
def test_joined_halves_decode_to_the_pixels_of_one_encode(rows, columns):
    pixels = _image(rows, columns)

    joined = _halves_joined(pixels)

    assert joined is not None
    with Image.open(io.BytesIO(joined)) as image:
        assert image.size == (columns, rows) and image.mode == "L"
        assert "progressive" not in image.info
    np.testing.assert_array_equal(_decoded(joined), _decoded(encode(pixels, "jpeg", 90)))


def test_joined_colour_halves_decode_to_the_pixels_of_one_encode():
    pixels = _image(300, 200, channels=3)

    joined = _halves_joined(pixels)

    assert joined is not None
    np.testing.assert_array_equal(_decoded(joined), _decoded(encode(pixels, "jpeg", 90)))


def test_the_joined_file_has_one_restart_interval_of_the_top_halfs_mcus():
    pixels = _image(512, 512)

    joined = _halves_joined(pixels)

    assert joined is not None
    dri = joined.index(b"\xff\xdd")
    assert joined[dri + 2 : dri + 6] == bytes((0, 4)) + (64 * 32).to_bytes(2, "big")
    assert joined.count(b"\xff\xd0") == 1 and joined.endswith(b"\xff\xd9")


def test_the_top_half_is_whole_mcu_rows_and_never_shorter_than_the_bottom():
    for rows in range(2, 200):
        top = jpeg_join.top_rows(rows)
        assert top % 8 == 0
        assert -(-(rows - top) // 8) <= top // 8, rows


def test_halves_of_other_quality_or_size_are_not_joined():
    pixels = _image(64, 64)
    top = encode(pixels[:32], "jpeg", 90)

    assert jpeg_join.join(top, encode(pixels[32:], "jpeg", 50), 64, 64) is None
    assert jpeg_join.join(top, encode(pixels[32:], "jpeg", 90), 64, 65) is None
    assert jpeg_join.join(top, b"not a jpeg", 64, 64) is None


def test_an_image_too_small_or_too_wide_for_one_interval_is_not_split():
    assert not jpeg_join.can_split(8, 512)  # one MCU row: nothing to split
    assert jpeg_join.can_split(16, 512)
    # DRI holds at most 65535 MCUs: 4096 columns are 512 MCUs a row, so 127 rows of them
    # in the top half (2032 rows in all), not 128.
    assert jpeg_join.can_split(2032, 4096)
    assert not jpeg_join.can_split(2048, 4096)


@pytest.mark.parametrize("invert", [False, True])
def test_a_window_change_rendered_in_two_halves_shows_the_pixels_of_render_pixels(invert):
    ds = make_ct(rows=512, columns=512)
    renderer = Renderer()
    assert 512 * 512 >= SPLIT_MIN_PIXELS

    jpeg = renderer.render(ds, window=(40, 400), invert=invert, cache_key="ct")
    whole = renderer.render_pixels(ds, window=(40, 400), invert=invert, cache_key="ct")

    assert jpeg.count(b"\xff\xdd") == 1  # the restart interval: it was encoded in halves
    np.testing.assert_array_equal(_decoded(jpeg), _decoded(encode(whole, "jpeg", 90)))
    renderer.close()


def test_a_small_render_is_one_encode():
    ds = make_ct(rows=128, columns=128)
    renderer = Renderer()

    jpeg = renderer.render(ds, window=(40, 400), cache_key="small")

    assert b"\xff\xdd" not in jpeg
    renderer.close()


def test_a_render_while_another_encodes_is_one_encode():
    ds = make_ct(rows=512, columns=512)
    renderer = Renderer()
    renderer._encoding = 1  # another request of this renderer is between lookup and answer

    jpeg = renderer.render(ds, window=(40, 400), cache_key="busy")

    assert b"\xff\xdd" not in jpeg
    renderer._encoding = 0
    assert b"\xff\xdd" in renderer.render(ds, window=(40, 400), cache_key="busy")
    renderer.close()
