"""Pyramid levels, tiles, regions and scaled output."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from PIL import Image

from studies.imaging import InvalidRequest, Renderer
from studies.imaging.pyramid import (
    downsample,
    level_count,
    level_for_scale,
    level_shape,
    tile_bounds,
    tile_grid,
)
from tests.dicom_files import sample_path

CT = sample_path("693_UNCR.dcm")  # 512 × 512, signed 16-bit
RADIOGRAPH = sample_path("RG1_UNCR.dcm")  # 1841 × 1955, MONOCHROME1


def test_levels_halve_until_the_longer_side_is_small():
    assert level_count(1955, 1841) == 6  # 1955 → 978 → 489 → 245 → 123 → 62
    assert level_shape(1955, 1841, 5) == (62, 58)
    assert level_count(64, 64) == 1
    assert level_count(512, 512) == 4  # 512, 256, 128, 64


def test_downsampling_averages_two_by_two_blocks_and_repeats_odd_edges():
    image = np.array([[1, 2, 10], [3, 4, 20], [5, 5, 30]], dtype=np.int16)
    # (1+2+3+4)/4 = 2.5 → 3; (10+10+20+20)/4 = 15; (5+5+5+5)/4 = 5; 30.
    np.testing.assert_array_equal(downsample(image), [[3, 15], [5, 30]])
    assert downsample(image).dtype == np.int16


def test_the_level_chosen_is_the_coarsest_with_enough_resolution():
    assert [level_for_scale(s, 6) for s in (2.0, 1.0, 0.6, 0.5, 0.3, 0.25, 0.01)] == [
        0,
        0,
        0,
        1,
        1,
        2,
        5,
    ]


def test_tile_grid_and_edge_tiles():
    assert tile_grid(1955, 1841, 0, 256) == (8, 8)
    assert tile_bounds(1955, 1841, 6, 0, 256, 7, 7) == (1792, 1792, 49, 163)
    assert tile_bounds(1955, 1841, 6, 2, 512, 0, 0) == (0, 0, 461, 489)
    with pytest.raises(InvalidRequest, match="outside"):
        tile_bounds(1955, 1841, 6, 0, 256, 8, 0)
    with pytest.raises(InvalidRequest, match="level 6 does not exist"):
        tile_bounds(1955, 1841, 6, 6, 256, 0, 0)
    with pytest.raises(InvalidRequest, match="tile size"):
        tile_bounds(1955, 1841, 6, 0, 300, 0, 0)


def test_a_full_resolution_tile_is_that_region_of_the_image():
    renderer = Renderer()
    tile = renderer.tile_pixels(CT, 0, 0, 1, 0)
    np.testing.assert_array_equal(tile, renderer.render_pixels(CT, region=(256, 0, 256, 256)))
    np.testing.assert_array_equal(tile, renderer.render_pixels(CT)[0:256, 256:512])


def test_a_tile_of_a_coarser_level_is_the_half_size_image():
    renderer = Renderer()
    tile = renderer.tile_pixels(CT, 0, 1, 0, 0)
    assert tile.shape == (256, 256)
    np.testing.assert_array_equal(tile, renderer.render_pixels(CT, output_size=(256, 256)))


def test_tiles_use_the_same_window_as_the_full_image():
    renderer = Renderer()
    tile = renderer.tile_pixels(CT, 0, 0, 0, 1, window=(0, 2000), function="SIGMOID")
    whole = renderer.render_pixels(CT, window=(0, 2000), function="SIGMOID")
    np.testing.assert_array_equal(tile, whole[256:512, 0:256])


def test_an_edge_tile_is_smaller():
    renderer = Renderer()
    assert renderer.tile_pixels(RADIOGRAPH, 0, 0, 7, 7).shape == (163, 49)


def test_output_size_is_a_box_the_image_is_fitted_into():
    renderer = Renderer()
    tall = sample_path("JPEG2000_UNC.dcm")  # 256 wide, 1024 high
    assert renderer.render_pixels(tall, output_size=(256, 256)).shape == (256, 64)
    assert renderer.render_pixels(tall, output_size=(512, 4096)).shape == (2048, 512)
    region = renderer.render_pixels(tall, region=(0, 0, 128, 128), output_size=(64, 64))
    assert region.shape == (64, 64)


def test_a_region_renders_only_that_part_clipped_to_the_image():
    renderer = Renderer()
    whole = renderer.render_pixels(CT)
    np.testing.assert_array_equal(
        renderer.render_pixels(CT, region=(100, 50, 30, 20)), whole[50:70, 100:130]
    )
    np.testing.assert_array_equal(
        renderer.render_pixels(CT, region=(500, 500, 40, 40)), whole[500:, 500:]
    )
    with pytest.raises(InvalidRequest, match="does not overlap"):
        renderer.render_pixels(CT, region=(600, 0, 10, 10))


def test_a_thumbnail_from_the_pyramid_looks_like_the_shrunk_full_image():
    renderer = Renderer()
    thumbnail = renderer.render_pixels(RADIOGRAPH, output_size=(128, 128))
    assert thumbnail.shape == (128, 121)  # 1841 × 128 / 1955 = 120.5
    full = Image.fromarray(renderer.render_pixels(RADIOGRAPH))
    reference = np.asarray(full.resize((121, 128), Image.Resampling.BOX))
    assert np.abs(thumbnail.astype(int) - reference.astype(int)).mean() < 2


def test_a_small_view_of_a_large_image_reads_a_small_level(monkeypatch):
    # Cost follows output pixels, not source pixels: a 128-pixel view of the 1955 × 1841
    # radiograph is resampled from a pyramid level near its own size (245 × 231), never from
    # the 3.6 Mpixel frame. (Its speed is measured by `make bench`.)
    render_module = importlib.import_module("studies.imaging.render")  # not the function

    sources: list[tuple[int, ...]] = []
    real_resample = render_module._resample

    def recorded(source, box, size):
        sources.append(source.shape)
        return real_resample(source, box, size)

    monkeypatch.setattr(render_module, "_resample", recorded)
    renderer = Renderer()
    renderer.render(RADIOGRAPH, output_size=(128, 128), window=(15000, 20000))

    assert sources and all(max(shape[:2]) <= 2 * 128 for shape in sources), sources


def test_a_window_change_on_the_same_view_reuses_its_resampled_values():
    renderer = Renderer()
    renderer.render_pixels(RADIOGRAPH, output_size=(300, 300), window=(15000, 20000))
    before = renderer.cache.stats()
    again = renderer.render_pixels(RADIOGRAPH, output_size=(300, 300), window=(16000, 20000))
    same_view = renderer.cache.stats()
    renderer.render_pixels(RADIOGRAPH, output_size=(310, 310), window=(16000, 20000))
    other_view = renderer.cache.stats()

    assert (same_view.misses, same_view.entries) == (before.misses, before.entries)
    assert other_view.entries == same_view.entries + 1  # a new view is resampled and kept
    fresh = Renderer().render_pixels(RADIOGRAPH, output_size=(300, 300), window=(16000, 20000))
    np.testing.assert_array_equal(again, fresh)
