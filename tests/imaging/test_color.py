"""Colour: palettes (plain and segmented), YBR, planar configuration. PS3.3 C.7.6.3, C.7.9."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut

from studies.imaging import Renderer
from studies.imaging.color import expand_segmented, ybr_full_to_rgb8
from tests.dicom_files import sample_path

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_palette_colour_image_shows_each_index_through_its_16_bit_tables():
    path = sample_path("OT-PAL-8-face.dcm")
    ds = pydicom.dcmread(path, force=True)
    entries, first, bits = ds.RedPaletteColorLookupTableDescriptor
    assert (first, bits) == (0, 16)
    tables = [
        np.frombuffer(ds[f"{colour}PaletteColorLookupTableData"].value, "<u2")
        for colour in ("Red", "Green", "Blue")
    ]
    renderer = Renderer()
    rgb = renderer.render_pixels(path)
    indices = np.frombuffer(ds.PixelData, np.uint8).reshape(ds.Rows, ds.Columns)
    for row, column in [(0, 0), (240, 320), (100, 500), (479, 639)]:
        index = indices[row, column]
        # 16-bit entries keep their 8 most significant bits on an 8-bit display.
        expected = [int(table[index]) >> 8 for table in tables]
        assert list(rgb[row, column]) == expected
    assert renderer.frame_info(path).is_color


def test_segmented_palette_expands_discrete_linear_and_indirect_segments():
    # C.7.9.2: discrete [0, n, v...]; linear [1, n, y1] from the previous entry to y1;
    # indirect [2, n segments, offset low word, offset high word].
    words = np.array([0, 3, 10, 20, 30, 1, 2, 50, 2, 1, 0, 0])
    np.testing.assert_array_equal(expand_segmented(words, 8), [10, 20, 30, 40, 50, 10, 20, 30])


def test_segmented_palette_image_matches_pydicoms_expansion():
    # DCMTK 3.6.7 cannot show segmented palettes: pydicom's implementation is the reference.
    path = sample_path("gdcm-US-ALOKA-16.dcm")
    ds = pydicom.dcmread(path)
    reference = (apply_color_lut(ds.pixel_array, ds) >> 8).astype(np.uint8)
    np.testing.assert_array_equal(Renderer().render_pixels(path), reference)


def test_big_endian_segmented_palette_equals_the_little_endian_one():
    renderer = Renderer()
    np.testing.assert_array_equal(
        renderer.render_pixels(sample_path("gdcm-US-ALOKA-16_big.dcm")),
        renderer.render_pixels(sample_path("gdcm-US-ALOKA-16.dcm")),
    )


def test_ybr_full_converts_with_the_equations_of_c_7_6_3_1_2():
    ybr = np.array([[[128, 128, 128], [76, 85, 255], [255, 128, 128], [29, 255, 107]]], np.uint8)
    # R = Y + 1.402 (Cr - 128); G = Y - 0.344136 (Cb - 128) - 0.714136 (Cr - 128);
    # B = Y + 1.772 (Cb - 128). For (76, 85, 255): R = 76 + 1.402 × 127 = 254.05,
    # G = 76 + 0.344136 × 43 - 0.714136 × 127 = 0.10, B = 76 - 1.772 × 43 = -0.20 → 0.
    # For (29, 255, 107): R = 29 - 1.402 × 21 = -0.44 → 0, G = 0.29, B = 29 + 225.04.
    np.testing.assert_array_equal(
        ybr_full_to_rgb8(ybr, 8)[0],
        [[128, 128, 128], [254, 0, 0], [255, 255, 255], [0, 0, 254]],
    )


def test_native_ybr_full_equals_the_ijg_decompression_of_the_same_jpeg():
    # SC_ybr_full_uncompressed.dcm holds the YCbCr samples of SC_rgb_dcmtk_+eb+cy+n2.dcm;
    # the _dcmd file is that JPEG decompressed to RGB by DCMTK's IJG library.
    renderer = Renderer()
    np.testing.assert_array_equal(
        renderer.render_pixels(sample_path("SC_ybr_full_uncompressed.dcm")),
        renderer.render_pixels(sample_path("SC_rgb_dcmtk_ebcyn2_dcmd.dcm")),
    )


def test_native_ybr_full_422_repeats_chroma_then_converts():
    path = sample_path("SC_ybr_full_422_uncompressed.dcm")
    reference = pydicom.dcmread(path).pixel_array  # pydicom converts to RGB by default
    difference = np.abs(Renderer().render_pixels(path).astype(int) - reference.astype(int))
    assert difference.max() <= 1


def test_planar_configuration_does_not_change_the_image():
    renderer = Renderer()
    np.testing.assert_array_equal(
        renderer.render_pixels(sample_path("color-pl.dcm")),
        renderer.render_pixels(sample_path("color-px.dcm")),
    )


def test_16_bit_rgb_keeps_its_most_significant_byte():
    ds = pydicom.dcmread(sample_path("SC_rgb_16bit.dcm"))
    expected = (ds.pixel_array >> 8).astype(np.uint8)
    np.testing.assert_array_equal(
        Renderer().render_pixels(sample_path("SC_rgb_16bit.dcm")), expected
    )


def test_colour_inversion_inverts_every_channel():
    renderer = Renderer()
    path = sample_path("SC_rgb.dcm")
    np.testing.assert_array_equal(
        renderer.render_pixels(path, invert=True), 255 - renderer.render_pixels(path)
    )
