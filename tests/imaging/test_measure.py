"""Measurements from the raw data: values in modality units, ROI statistics, distances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from studies.imaging import (
    Ellipse,
    InvalidRequest,
    NotMeasurable,
    Polygon,
    Rectangle,
    Renderer,
)
from tests.dicom_files import make_ct, sample_path

# 16 × 16, stored value = 16 × row + column, HU = stored - 1024; rows 0.5 mm apart,
# columns 0.25 mm apart (Pixel Spacing is row spacing first, PS3.3 10.7.1.3).
GRID = make_ct(
    rows=16,
    columns=16,
    PixelSpacing=[0.5, 0.25],
    PixelData=np.arange(256, dtype="<u2").tobytes(),
)


def test_value_at_a_point_is_the_modality_value_of_the_pixel_containing_it():
    value = Renderer().pixel_value(GRID, 0, 5.9, 3.0)
    assert (value.column, value.row, value.stored) == (5, 3, 53)
    assert (value.value, value.unit) == (53 - 1024, "HU")


def test_rectangle_statistics_in_hounsfield_units_and_square_millimetres():
    stats = Renderer().roi_statistics(GRID, 0, Rectangle(2, 3, 4, 2))
    values = np.array([16 * r + c for r in (3, 4) for c in (2, 3, 4, 5)]) - 1024.0
    assert stats.pixels == 8
    assert stats.mean == pytest.approx(values.mean())  # -956.5
    assert stats.std == pytest.approx(values.std())  # population SD
    assert (stats.min, stats.max) == (values.min(), values.max())
    assert stats.area_pixels == 8
    assert stats.area_mm2 == pytest.approx(8 * 0.5 * 0.25)
    assert stats.unit == "HU" and stats.spacing.calibrated


def test_ellipse_takes_the_pixels_whose_centres_it_contains():
    stats = Renderer().roi_statistics(GRID, 0, Ellipse(8, 8, 2, 2))
    # Centres (c + .5, r + .5) within 2 of (8, 8): the 12 pixels of a digital disc.
    centres = [
        (r, c) for r in range(16) for c in range(16) if (c + 0.5 - 8) ** 2 + (r + 0.5 - 8) ** 2 <= 4
    ]
    assert stats.pixels == len(centres) == 12
    assert stats.mean == pytest.approx(np.mean([16 * r + c - 1024 for r, c in centres]))
    assert stats.area_mm2 == pytest.approx(math.pi * 4 * 0.5 * 0.25)


def test_polygon_uses_the_even_odd_rule_and_the_shoelace_area():
    stats = Renderer().roi_statistics(GRID, 0, Polygon(((0, 0), (4, 0), (0, 4))))
    # Centres with x + y < 4: (0,0) (1,0) (2,0) (0,1) (1,1) (0,2) as (column, row).
    expected = [16 * r + c - 1024 for c, r in [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (0, 2)]]
    assert stats.pixels == 6
    assert stats.mean == pytest.approx(np.mean(expected))
    assert stats.area_pixels == pytest.approx(8.0)


def test_distance_uses_row_and_column_spacing():
    distance = Renderer().distance(GRID, 0, (0, 0), (4, 3))
    assert distance.pixels == pytest.approx(5.0)
    assert distance.mm == pytest.approx(math.hypot(4 * 0.25, 3 * 0.5))


def test_imager_pixel_spacing_is_used_but_marked_uncalibrated():
    ds = make_ct(rows=4, columns=4, ImagerPixelSpacing=[0.2, 0.2], PixelData=b"\0" * 32)
    distance = Renderer().distance(ds, 0, (0, 0), (3, 4))
    assert distance.mm == pytest.approx(1.0)
    assert not distance.spacing.calibrated
    assert "uncalibrated" in distance.spacing.note
    info = Renderer().frame_info(ds)
    assert any("uncalibrated" in note for note in info.notes)


def test_without_spacing_lengths_stay_in_pixels():
    ds = make_ct(rows=4, columns=4, PixelData=b"\0" * 32)
    assert Renderer().distance(ds, 0, (0, 0), (3, 4)).mm is None
    assert Renderer().roi_statistics(ds, 0, Rectangle(0, 0, 2, 2)).area_mm2 is None


def test_enhanced_images_take_spacing_from_the_pixel_measures_group():
    spacing = Renderer().frame_info(sample_path("eCT_Supplemental.dcm"), 1).pixel_spacing
    assert (spacing.row_mm, spacing.column_mm, spacing.calibrated) == (0.388672, 0.388672, True)


def test_colour_pixels_give_their_samples_but_no_statistics():
    path = sample_path("SC_rgb.dcm")
    value = Renderer().pixel_value(path, 0, 10, 10)
    assert value.value is None and len(value.stored) == 3
    with pytest.raises(NotMeasurable):
        Renderer().roi_statistics(path, 0, Rectangle(0, 0, 5, 5))


def test_shapes_outside_the_image_are_errors_not_crashes():
    renderer = Renderer()
    with pytest.raises(InvalidRequest, match="outside"):
        renderer.pixel_value(GRID, 0, 16, 0)
    with pytest.raises(NotMeasurable, match="no pixel centre"):
        renderer.roi_statistics(GRID, 0, Rectangle(20, 20, 5, 5))
    with pytest.raises(InvalidRequest, match="at least three"):
        renderer.roi_statistics(GRID, 0, Polygon(((0, 0), (1, 1))))
    with pytest.raises(InvalidRequest, match="positive"):
        renderer.roi_statistics(GRID, 0, Ellipse(3, 3, 0, 2))
