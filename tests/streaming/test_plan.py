"""The geometry of a view: preview size, pyramid level, tiles centre-out, lossless size."""

import pytest

from studies.imaging.errors import ImageTooLarge, InvalidRequest
from studies.streaming.plan import Rect, plan_view

LIMIT = 8192 * 8192


def test_preview_keeps_the_aspect_ratio_and_never_enlarges():
    assert plan_view(1024, 512, (0, 0, 512, 1024), 1, 256, LIMIT).preview_size == (128, 256)
    assert plan_view(100, 80, (0, 0, 80, 100), 1, 256, LIMIT).preview_size == (80, 100)


def test_level_follows_the_scale():
    assert plan_view(2048, 2048, (0, 0, 2048, 2048), 1, 256, LIMIT).level == 0
    assert plan_view(2048, 2048, (0, 0, 2048, 2048), 0.5, 256, LIMIT).level == 1
    assert plan_view(2048, 2048, (0, 0, 2048, 2048), 0.3, 256, LIMIT).level == 1
    assert plan_view(2048, 2048, (0, 0, 2048, 2048), 0.01, 256, LIMIT).level == 5  # coarsest


def test_edge_tiles_are_clipped_to_the_image():
    plan = plan_view(300, 600, (0, 0, 600, 300), 1, 256, LIMIT)
    assert {t.rect for t in plan.tiles} == {
        Rect(0, 0, 256, 256),
        Rect(256, 0, 256, 256),
        Rect(512, 0, 88, 256),
        Rect(0, 256, 256, 44),
        Rect(256, 256, 256, 44),
        Rect(512, 256, 88, 44),
    }


def test_coarser_levels_cover_more_image_per_tile():
    plan = plan_view(1000, 1000, (0, 0, 1000, 1000), 0.25, 256, LIMIT)
    assert [t.rect for t in plan.tiles] == [Rect(0, 0, 1000, 1000)]


def test_tiles_start_at_the_centre_of_the_region():
    plan = plan_view(2048, 2048, (512, 512, 1024, 1024), 1, 256, LIMIT)
    assert len(plan.tiles) == 16
    centres = {(t.column, t.row) for t in plan.tiles[:4]}
    assert centres == {(3, 3), (4, 3), (3, 4), (4, 4)}


def test_lossless_is_at_most_full_resolution():
    assert plan_view(512, 512, (10, 10, 100, 50), 4, 256, LIMIT).lossless_size == (100, 50)
    assert plan_view(512, 512, (0, 0, 512, 512), 0.5, 256, LIMIT).lossless_size == (256, 256)


def test_a_region_outside_the_image_is_refused():
    with pytest.raises(InvalidRequest):
        plan_view(512, 512, (512, 0, 10, 10), 1, 256, LIMIT)


def test_a_view_over_the_output_limit_is_too_large():
    with pytest.raises(ImageTooLarge):
        plan_view(4096, 4096, (0, 0, 4096, 4096), 1, 256, 1024 * 1024)


def test_full_resolution_tiles_merge_into_blocks_that_cover_only_their_tiles():
    from studies.streaming.progressive import merged_tiles

    whole = plan_view(512, 512, (0, 0, 512, 512), 1.0, 256, 10**8)
    assert [t.rect for t in merged_tiles(whole.tiles)] == [Rect(0, 0, 512, 512)]
    # A zoomed region inside one tile stays that tile: a block never adds pixels.
    zoomed = plan_view(512, 512, (300, 300, 100, 100), 4.0, 256, 10**8)
    assert [t.rect for t in merged_tiles(zoomed.tiles)] == [Rect(256, 256, 256, 256)]
    # An edge tile of a 600-px image: blocks stop at the image.
    edge = plan_view(600, 600, (0, 0, 600, 600), 1.0, 256, 10**8)
    assert sorted(
        (t.rect.x, t.rect.y, t.rect.width, t.rect.height) for t in merged_tiles(edge.tiles)
    ) == [
        (0, 0, 512, 512),
        (0, 512, 512, 88),
        (512, 0, 88, 512),
        (512, 512, 88, 88),
    ]
