"""Display tables kept for windows shown again (``Renderer._lookup``, ``TABLES_KEPT``)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from studies.imaging import Renderer
from studies.imaging.grayscale import to_gray8
from tests.dicom_files import sample_path

render_module = importlib.import_module("studies.imaging.render")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
CT = sample_path("CT_small.dcm")


def _table(renderer: Renderer, **settings) -> object:
    return renderer.display(CT, **settings).lookup


def test_a_window_shown_again_reuses_its_table_and_its_pixels_are_unchanged():
    renderer = Renderer()
    first = renderer.render_pixels(CT, window=(40, 400))
    table = _table(renderer, window=(40, 400))
    assert _table(renderer, window=(40, 400)) is table
    np.testing.assert_array_equal(renderer.render_pixels(CT, window=(40, 400)), first)
    np.testing.assert_array_equal(Renderer().render_pixels(CT, window=(40, 400)), first)


@pytest.mark.parametrize(
    "other",
    [
        {"window": (41, 400)},
        {"window": (40, 401)},
        {"window": (40, 400), "invert": True},
        {"window": (40, 400), "function": "SIGMOID"},
    ],
)
def test_each_setting_of_the_pipeline_has_its_own_table(other):
    renderer = Renderer()
    table = _table(renderer, window=(40, 400))
    assert _table(renderer, **other) is not table
    pixels = renderer.render_pixels(CT, **other)
    np.testing.assert_array_equal(pixels, Renderer().render_pixels(CT, **other))
    if other.get("invert"):
        expected = 255 - renderer.render_pixels(CT, window=(40, 400))
        np.testing.assert_array_equal(pixels, expected)


def test_the_tables_kept_are_bounded_and_the_oldest_is_built_again():
    renderer = Renderer()
    oldest = _table(renderer, window=(0, 100))
    for center in range(1, render_module.TABLES_KEPT + 1):
        _table(renderer, window=(center, 100))
    assert len(renderer._tables) == render_module.TABLES_KEPT
    rebuilt = _table(renderer, window=(0, 100))
    assert rebuilt is not oldest
    stored = renderer.display(CT).pixels
    np.testing.assert_array_equal(rebuilt(stored), oldest(stored))


def test_the_table_gives_what_the_pipeline_gives_per_pixel():
    renderer = Renderer()
    display = renderer.display(CT, window=(40, 400))
    frame = renderer._frame(renderer._context(CT, None), 0)
    from studies.imaging.voi_lut import Window

    assert frame.modality is not None
    expected = to_gray8(
        display.pixels.astype(np.int64),  # a wide type: the per-range table, not the spread
        int(frame.low),
        int(frame.high),
        frame.modality,
        Window(40, 400),
        frame.inverts,
    )
    np.testing.assert_array_equal(display.rows(0, display.pixels.shape[0]), expected)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("CT_small.dcm", {"window": (40, 400)}),  # signed 16-bit: the bit-pattern table
        ("693_UNCR.dcm", {}),  # unsigned 16-bit, the file's window
        ("MR-SIEMENS-DICOM-WithOverlays.dcm", {}),  # overlays burnt into the band
        ("US1_UNCR.dcm", {}),  # RGB
        ("US1_UNCR.dcm", {"invert": True}),
    ],
)
def test_rows_written_into_an_array_are_the_rows_it_answers(name, options):
    # The viewer's tiles are looked up straight into the pixels kept for the lossless image.
    display = Renderer().display(sample_path(name), **options)
    rows = display.pixels.shape[0]
    middle = rows // 2
    expected = display.rows(0, rows)
    written = np.full(expected.shape, 7, np.uint8)
    assert display.rows(middle, rows, out=written[middle:]) is not None
    display.rows(0, middle, out=written[:middle])
    np.testing.assert_array_equal(written, expected)
