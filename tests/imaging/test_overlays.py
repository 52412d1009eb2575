"""Overlay planes burned into the display image. PS3.3 C.9.2."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.overlays import get_overlay_array

from studies.imaging import Renderer
from tests.dicom_files import make_ct, sample_path


@pytest.mark.parametrize("name", ["MR-SIEMENS-DICOM-WithOverlays.dcm", "examples_overlay.dcm"])
def test_overlay_pixels_are_burned_in_white(name):
    path = sample_path(name)
    bitmap = get_overlay_array(pydicom.dcmread(path), 0x6000).astype(bool)
    assert bitmap.sum() > 100
    renderer = Renderer()
    assert renderer.frame_info(path).has_overlays
    shown = renderer.render_pixels(path)
    plain = renderer.render_pixels(path, overlays=False)
    assert (shown[bitmap] == 255).all()
    np.testing.assert_array_equal(shown[~bitmap], plain[~bitmap])
    assert (plain[bitmap] != 255).any()  # the overlay really changed something


def overlay_ct(frames: int = 1, **overlay: object):
    ds = make_ct(
        rows=8,
        columns=8,
        NumberOfFrames=frames,
        PixelData=np.zeros(64 * frames, "<u2").tobytes(),
    )
    bits = np.zeros((2, 3), dtype=np.uint8)
    bits[0, 0] = bits[1, 2] = 1
    values = {
        0x0010: ("US", 2),
        0x0011: ("US", 3),
        0x0040: ("CS", "G"),
        0x0050: ("SS", [3, 5]),  # row 3, column 5, 1-based
        0x0100: ("US", 1),
        0x0102: ("US", 0),
        0x3000: ("OW", np.packbits(bits.ravel(), bitorder="little").tobytes() + b"\0"),
    }
    for element, (vr, value) in values.items():
        ds.add_new((0x6002, element), vr, value)
    for element, value in overlay.items():
        ds.add_new((0x6002, int(element)), "IS" if int(element) == 0x0015 else "US", value)
    return ds


def test_overlay_origin_places_the_bitmap():
    shown = Renderer().render_pixels(overlay_ct(), window=(100, 10))
    marked = np.argwhere(shown == 255).tolist()
    assert marked == [[2, 4], [3, 6]]  # (row 3, column 5) 1-based, and its (+1, +2) bit


def test_multi_frame_overlay_applies_from_its_image_frame_origin():
    ds = overlay_ct(frames=3, **{str(0x0015): 1, str(0x0051): 2})
    renderer = Renderer()
    assert not (renderer.render_pixels(ds, 0, window=(100, 10)) == 255).any()
    assert (renderer.render_pixels(ds, 1, window=(100, 10)) == 255).sum() == 2
    assert not (renderer.render_pixels(ds, 2, window=(100, 10)) == 255).any()


def test_a_one_pixel_overlay_line_survives_downscaling():
    path = sample_path("MR-SIEMENS-DICOM-WithOverlays.dcm")
    small = Renderer().render_pixels(path, output_size=(121, 121))
    plain = Renderer().render_pixels(path, output_size=(121, 121), overlays=False)
    assert ((small == 255) & (plain != 255)).sum() > 20
