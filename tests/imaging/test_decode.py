"""Stage 1: every transfer syntax of the test sets decodes to the same stored values."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from studies.imaging import InvalidRequest, Limits, Renderer
from studies.imaging.decode import DecodedFrame, decode_frame, sequential_sos_fixed
from studies.imaging.header import read_header
from tests.dicom_files import make_ct, sample_path

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def decoded(source: str | Dataset, frame: int = 0) -> DecodedFrame:
    ds = source if isinstance(source, Dataset) else pydicom.dcmread(sample_path(source))
    return decode_frame(ds, read_header(ds, Limits()), frame)


@pytest.mark.parametrize(
    "name",
    [
        "emri_small_RLE.dcm",
        "emri_small_big_endian.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
    ],
)
def test_every_frame_of_a_compressed_copy_equals_the_native_original(name):
    for frame in range(10):
        original = decoded("emri_small.dcm", frame).pixels
        copy = decoded(name, frame).pixels
        assert copy.dtype.isnative
        np.testing.assert_array_equal(copy, original)
    assert not np.array_equal(decoded(name, 0).pixels, decoded(name, 9).pixels)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_expb.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_padded.dcm",
    ],
)
def test_signed_mr_decodes_identically_in_every_transfer_syntax(name):
    original = decoded("MR_small.dcm").pixels
    assert original.dtype.kind == "i"
    np.testing.assert_array_equal(decoded(name).pixels, original)


def test_deflated_data_set_decodes():
    pixels = decoded("image_dfl.dcm").pixels
    assert pixels.shape == (512, 512)
    assert pixels.min() == 0 and pixels.max() == 255


def test_jpeg_2000_lossless_equals_the_uncompressed_original():
    np.testing.assert_array_equal(decoded("693_J2KR.dcm").pixels, decoded("693_UNCR.dcm").pixels)


def test_jpeg_with_a_bad_spectral_selection_decodes_like_its_fixed_copy():
    # JPEG-lossy.dcm writes Se = 0 in its sequential scan; JPGExtended.dcm is the fixed file.
    np.testing.assert_array_equal(
        decoded("JPEG-lossy.dcm").pixels, decoded("JPGExtended.dcm").pixels
    )


def test_sequential_scan_header_is_rewritten_to_full_spectral_selection():
    sof = b"\xff\xc1\x00\x0b\x0c\x04\x00\x01\x00\x01\x01\x11\x00"
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x00\x00"
    stream = b"\xff\xd8" + sof + sos + b"\x12\x34\xff\xd9"
    fixed = sequential_sos_fixed(stream)
    assert fixed == stream.replace(sos, b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00")
    assert sequential_sos_fixed(fixed) is None  # already correct: nothing to do
    progressive = stream.replace(b"\xff\xc1", b"\xff\xc2")
    assert sequential_sos_fixed(progressive) is None  # Se = 0 is legal there


def test_unused_high_bits_are_ignored_when_bits_stored_is_below_bits_allocated():
    # PS3.5 8.1.1: only Bits Stored bits are the value; the others may hold anything.
    raw = np.array([[0xF123, 0x0FFF], [0xA000, 0x0001]], dtype="<u2")
    ds = make_ct(rows=2, columns=2, BitsStored=12, HighBit=11, PixelData=raw.tobytes())
    np.testing.assert_array_equal(decoded(ds).pixels, [[0x123, 0xFFF], [0x000, 0x001]])


def test_signed_values_are_sign_extended_from_bits_stored():
    raw = np.array([[0x0FFF, 0x0800], [0xF7FF, 0x0001]], dtype="<u2")
    ds = make_ct(
        rows=2, columns=2, BitsStored=12, HighBit=11, PixelRepresentation=1, PixelData=raw.tobytes()
    )
    np.testing.assert_array_equal(decoded(ds).pixels, [[-1, -2048], [2047, 1]])


def test_jpeg_2000_whose_codestream_signedness_differs_is_corrected():
    # J2K_pixelrep_mismatch.dcm: the codestream says unsigned, Pixel Representation says
    # signed 13-bit; the corner is CT padding at -2000, not 6192.
    pixels = decoded("J2K_pixelrep_mismatch.dcm").pixels
    assert pixels[0, 0] == -2000
    assert pixels.min() == -2000


def test_odd_sized_colour_image_keeps_its_shape():
    frame = decoded("SC_rgb_small_odd.dcm")
    assert frame.pixels.shape == (3, 3, 3)
    reference = pydicom.dcmread(sample_path("SC_rgb_small_odd.dcm")).pixel_array
    np.testing.assert_array_equal(frame.pixels, reference)


def test_frames_of_a_multi_frame_image_are_decoded_one_at_a_time():
    reference = pydicom.dcmread(sample_path("SC_rgb_rle_2frame.dcm")).pixel_array
    for frame in (0, 1):
        np.testing.assert_array_equal(
            decoded("SC_rgb_rle_2frame.dcm", frame).pixels, reference[frame]
        )
    assert not np.array_equal(reference[0], reference[1])


def test_one_bit_pixels_unpack_to_zero_and_one():
    pixels = decoded("liver.dcm", 2).pixels
    assert pixels.shape == (512, 512)
    assert set(np.unique(pixels)) == {0, 1}


def test_jpeg_colour_is_reported_as_the_decoder_delivers_it():
    assert decoded("SC_rgb_dcmtk_+eb+cy+np.dcm").photometric == "YBR_FULL_422"
    assert decoded("SC_rgb_dcmtk_+eb+cr.dcm").photometric == "RGB"
    assert decoded("US1_J2KR.dcm").photometric == "RGB"  # YBR_RCT undone by the codec


def test_a_frame_outside_the_image_is_a_request_error():
    with pytest.raises(InvalidRequest, match="frame 3 does not exist"):
        decoded("SC_rgb_rle_2frame.dcm", 2)


def test_unreadable_number_of_frames_is_counted_from_the_pixel_data():
    info = Renderer().frame_info(sample_path("badVR.dcm"))
    assert info.number_of_frames == 15
    assert any("'1A'" in note for note in info.notes)


def test_compressed_frames_decode_the_same_in_a_worker_process():
    renderer = Renderer(decode_processes=1)
    try:
        remote = renderer.render_pixels(sample_path("emri_small_jpeg_2k_lossless.dcm"), 3)
    finally:
        renderer.close()
    local = Renderer().render_pixels(sample_path("emri_small.dcm"), 3)
    np.testing.assert_array_equal(remote, local)


def test_float_pixel_data_renders_over_its_range_with_nan_shown_as_the_lowest():
    ds = make_ct(rows=2, columns=3)
    del ds.PixelData, ds.BitsStored, ds.HighBit, ds.PixelRepresentation
    del ds.RescaleIntercept, ds.RescaleSlope
    ds.BitsAllocated = 32
    values = np.array([[-1.5, 0, 1.5], [3, np.nan, 6]], dtype="<f4")
    ds.FloatPixelData = values.tobytes()
    renderer = Renderer()
    info = renderer.frame_info(ds)
    # LINEAR_EXACT over -1.5..6: c = 2.25, w = 7.5, y = (x + 1.5) / 7.5.
    assert (info.default_window, info.default_function) == ((2.25, 7.5), "LINEAR_EXACT")
    np.testing.assert_array_equal(renderer.render_pixels(ds), [[0, 51, 102], [153, 0, 255]])
