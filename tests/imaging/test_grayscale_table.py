"""The grayscale lookup (PS3.4 N.2 folded into one table): the fast path that indexes a table
by the stored values' bit patterns gives exactly what indexing by ``stored - low`` gives."""

from __future__ import annotations

import numpy as np
import pytest

from studies.imaging.grayscale import display_table, to_gray8
from studies.imaging.modality_lut import ModalityLut
from studies.imaging.voi_lut import LINEAR_EXACT, SIGMOID, Window


def reference(stored, low, high, modality, voi, invert):
    """The lookup as first written: subtract, then take with clipping."""
    table = display_table(low, high, modality, voi, invert)
    return table.take(np.subtract(stored, low, dtype=np.intp), mode="clip")


@pytest.mark.parametrize(
    ("dtype", "low", "high"),
    [
        ("uint16", 0, 1713),  # CT stored as unsigned with a rescale intercept
        ("int16", -1024, 3071),  # CT stored signed, the range crossing zero
        ("int16", -2000, -5),  # all negative
        ("int16", 12, 4000),  # signed type, all positive
        ("uint8", 3, 250),
        ("int8", -100, 90),
        ("int16", -32768, 32767),  # the whole type
    ],
)
@pytest.mark.parametrize("invert", [False, True])
def test_lookup_by_bit_pattern_matches_lookup_by_offset(dtype, low, high, invert):
    rng = np.random.default_rng(7)
    stored = rng.integers(low, high, size=(64, 48), endpoint=True).astype(dtype)
    stored.flat[:2] = (low, high)  # both ends present, as in a real frame's range
    modality = ModalityLut(slope=1.0, intercept=-1024.0)
    voi = Window(center=40.0, width=400.0)

    result = to_gray8(stored, low, high, modality, voi, invert)

    assert result.dtype == np.uint8 and result.shape == stored.shape
    np.testing.assert_array_equal(result, reference(stored, low, high, modality, voi, invert))


def test_values_outside_the_stated_range_take_the_nearest_end_like_a_clip():
    # A resampled view may round to a value just past the frame's range: never an error,
    # never a wrapped value.
    stored = np.array([[-300, -201, -200, 0, 200, 201, 32767]], dtype=np.int16)
    modality = ModalityLut()
    voi = Window(center=0.0, width=400.0, function=LINEAR_EXACT)

    result = to_gray8(stored, -200, 200, modality, voi, False)

    np.testing.assert_array_equal(result, reference(stored, -200, 200, modality, voi, False))
    assert result[0, 0] == result[0, 2] == 0 and result[0, -1] == result[0, -2] == 255


def test_a_strided_view_and_a_sigmoid_window_go_the_same_way():
    rng = np.random.default_rng(3)
    frame = rng.integers(-1000, 2000, size=(40, 40)).astype(np.int16)
    view = frame[5:35:2, ::3]  # not contiguous, as a flipped or cropped region can be
    low, high = int(frame.min()), int(frame.max())
    voi = Window(center=300.0, width=700.0, function=SIGMOID)

    result = to_gray8(view, low, high, ModalityLut(), voi, False)

    np.testing.assert_array_equal(result, reference(view, low, high, ModalityLut(), voi, False))


def test_byte_swapped_pixels_are_looked_up_by_value_not_by_their_bytes():
    stored = np.array([[0, 300, 600, 1000]], dtype=">u2")
    voi = Window(center=500.0, width=1000.0)

    result = to_gray8(stored, 0, 1000, ModalityLut(), voi, False)

    np.testing.assert_array_equal(result, reference(stored, 0, 1000, ModalityLut(), voi, False))
    assert result[0, 0] < result[0, 1] < result[0, 2] < result[0, 3]


def test_nan_in_float_pixels_still_shows_black():
    stored = np.array([[np.nan, 0.0, 1.0, np.inf, -np.inf]])
    result = to_gray8(stored, 0, 1, ModalityLut(), Window(0.5, 1.0, LINEAR_EXACT), False)
    assert result.tolist() == [[0, 0, 255, 255, 0]]


def test_the_in_place_linear_table_is_bit_for_bit_the_pipelines():
    # display_table's fast path for a rescale and a LINEAR window does the same float
    # operations in place; any reordering would show as an off-by-one level somewhere here.
    from studies.imaging.presentation import to_display
    from studies.imaging.voi_lut import apply_voi

    rng = np.random.default_rng(3)
    for _ in range(400):
        low = int(rng.integers(-40000, 2000))
        high = low + int(rng.integers(0, 6000))
        modality = ModalityLut(
            slope=float(rng.choice([1.0, 0.5, 2.0, -1.0, 1e-4, 3.7])),
            intercept=float(rng.choice([0.0, -1024.0, 12.3, -0.5])),
        )
        window = Window(float(rng.uniform(-3000, 3000)), float(rng.uniform(1.0, 5000.0)))
        invert = bool(rng.integers(0, 2))
        stored = np.arange(low, high + 1, dtype=np.int64)
        pipeline = to_display(apply_voi(modality.apply(stored), window), invert)
        np.testing.assert_array_equal(display_table(low, high, modality, window, invert), pipeline)
