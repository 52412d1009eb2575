"""Stage 3: the VOI LUT. Hand-computed values from the formulas of PS3.3 C.11.2."""

from __future__ import annotations

import math

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from studies.imaging import InvalidRequest, Renderer, Window
from studies.imaging.voi_lut import apply_voi, window_over_range
from tests.dicom_files import make_ct, sample_path

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def ramp(values: list[int], **attributes: object) -> Dataset:
    """A one-row CT whose modality values (intercept 0) are ``values``."""
    pixels = np.asarray(values, dtype="<i2")
    attributes.setdefault("RescaleIntercept", 0)
    return make_ct(
        rows=1,
        columns=len(values),
        PixelRepresentation=1,
        BitsStored=16,
        HighBit=15,
        PixelData=pixels.tobytes(),
        **attributes,
    )


def test_linear_window_follows_c_11_2_1_2_1():
    # c = 40, w = 400: x <= -160 → 0; x > 239 → 1; else ((x - 39.5) / 399 + 0.5).
    x = np.array([-161, -160, -159, 40, 239, 240])
    y = apply_voi(x, Window(40, 400, "LINEAR"))
    expected = [0, 0, -198.5 / 399 + 0.5, 0.5 / 399 + 0.5, 1.0, 1.0]
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


def test_linear_exact_window_follows_c_11_2_1_3_2():
    # c = 40, w = 400: x <= -160 → 0; x > 240 → 1; else ((x - 40) / 400 + 0.5).
    x = np.array([-160, -159, 40, 240, 241])
    y = apply_voi(x, Window(40, 400, "LINEAR_EXACT"))
    np.testing.assert_allclose(y, [0, 0.0025, 0.5, 1.0, 1.0], rtol=0, atol=1e-12)


def test_sigmoid_window_follows_c_11_2_1_3_1():
    # y = 1 / (1 + exp(-4 (x - c) / w)); c = 40, w = 400.
    x = np.array([-160, 40, 240])
    y = apply_voi(x, Window(40, 400, "SIGMOID"))
    expected = [1 / (1 + math.exp(2)), 0.5, 1 / (1 + math.exp(-2))]
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


def test_linear_window_of_width_one_is_a_threshold():
    y = apply_voi(np.array([99, 99.5, 100, 101]), Window(100, 1, "LINEAR"))
    np.testing.assert_array_equal(y, [0, 0, 1, 1])


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        # x = -2..2, c = 0, w = 4, as 8-bit display values (rounded):
        ("LINEAR", [0, 85, 170, 255, 255]),  # 255 * ((x + 0.5) / 3 + 0.5), clipped
        ("LINEAR_EXACT", [0, 64, 128, 191, 255]),  # 255 * (x / 4 + 0.5)
        ("SIGMOID", [30, 69, 128, 186, 225]),  # 255 / (1 + exp(-x))
    ],
)
def test_rendered_window_functions_give_the_hand_computed_grey_levels(function, expected):
    pixels = Renderer().render_pixels(ramp([-2, -1, 0, 1, 2]), window=(0, 4), function=function)
    np.testing.assert_array_equal(pixels[0], expected)


def test_the_files_voi_lut_function_applies_to_its_windows():
    ds = ramp([-2, -1, 0, 1, 2], WindowCenter=0, WindowWidth=4, VOILUTFunction="SIGMOID")
    renderer = Renderer()
    np.testing.assert_array_equal(renderer.render_pixels(ds)[0], [30, 69, 128, 186, 225])
    assert renderer.frame_info(ds).vois[0].function == "SIGMOID"


def test_voi_lut_sequence_maps_through_its_table():
    ds = ramp([-1, 0, 1, 2, 3, 4])
    item = Dataset()
    item.LUTDescriptor = [4, 0, 8]  # 4 entries from 0, 8 bits: output 0..255
    item.LUTData = [0, 255, 0, 100]
    ds.VOILUTSequence = [item]
    renderer = Renderer()
    # Below the first mapped value → first entry; above the last → last entry (C.11.2.1.1).
    np.testing.assert_array_equal(renderer.render_pixels(ds)[0], [0, 0, 255, 0, 100, 100])
    assert renderer.frame_info(ds).vois[0].kind == "lut"


def test_vlut_04_identity_table_renders_the_stored_values():
    path = sample_path("vlut_04.dcm")
    ds = pydicom.dcmread(path)
    data = np.asarray(ds.VOILUTSequence[0].LUTData)
    assert (data == np.arange(256) * 257).all()  # entry i is i/255 of full scale
    np.testing.assert_array_equal(Renderer().render_pixels(path), ds.pixel_array)


def test_each_window_of_the_file_can_be_chosen():
    path = sample_path("examples_overlay.dcm")
    renderer = Renderer()
    info = renderer.frame_info(path)
    assert [(v.center, v.width, v.explanation) for v in info.vois] == [
        (450.0, 790.0, "WINDOW1"),
        (200.0, 443.0, "WINDOW2"),
    ]
    second = renderer.render_pixels(path, voi_index=1, overlays=False)
    explicit = renderer.render_pixels(path, window=(200, 443), overlays=False)
    np.testing.assert_array_equal(second, explicit)
    assert not np.array_equal(second, renderer.render_pixels(path, overlays=False))
    with pytest.raises(InvalidRequest, match="VOI 2 does not exist"):
        renderer.render_pixels(path, voi_index=2)


def test_without_a_window_the_data_range_is_used_ignoring_pixel_padding():
    ds = ramp([-2000, 100, 150, 200], PixelPaddingValue=-2000)
    renderer = Renderer()
    assert renderer.frame_info(ds).default_window == (150.5, 101.0)
    np.testing.assert_array_equal(renderer.render_pixels(ds)[0], [0, 0, 128, 255])


def test_a_pixel_padding_range_is_ignored_as_a_whole():
    ds = ramp([-1500, -2000, 100, 200], PixelPaddingValue=-2000, PixelPaddingRangeLimit=-1000)
    assert Renderer().frame_info(ds).default_window == (150.5, 101.0)


def test_data_range_window_maps_the_extremes_to_black_and_white():
    window = window_over_range(-1024, 3071)
    y = apply_voi(np.array([-1024, 3071]), window)
    np.testing.assert_array_equal(y, [0, 1])


def test_a_window_change_reuses_the_decoded_frame():
    path = sample_path("CT_small.dcm")
    renderer = Renderer()
    renderer.render(path, window=(40, 400))
    before = renderer.cache.stats()
    renderer.render(path, window=(300, 1500), function="SIGMOID")
    after = renderer.cache.stats()
    assert after.misses == before.misses  # nothing decoded or read again
    assert after.hits > before.hits


@pytest.mark.parametrize(
    ("window", "function", "message"),
    [
        ((40, 0.5), "LINEAR", "width ≥ 1"),
        ((40, 0), "LINEAR_EXACT", "width > 0"),
        ((40, -3), "SIGMOID", "width > 0"),
        ((40, 400), "CUBIC", "not one of"),
        ((float("nan"), 400), "LINEAR", "finite"),
    ],
)
def test_impossible_windows_are_refused(window, function, message):
    with pytest.raises(InvalidRequest, match=message):
        Renderer().render_pixels(sample_path("CT_small.dcm"), window=window, function=function)
