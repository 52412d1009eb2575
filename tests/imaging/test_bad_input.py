"""Hostile and broken input: typed errors with a status hint, never a crash, caps before work."""

from __future__ import annotations

import copy

import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import DeflatedExplicitVRLittleEndian

from studies.imaging import (
    DecodeError,
    ImageTooLarge,
    ImagingError,
    InvalidImage,
    InvalidRequest,
    Limits,
    NoPixelData,
    Renderer,
)
from tests.dicom_files import make_ct, sample_path, to_bytes

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def with_frame(name: str, codestream: bytes) -> pydicom.Dataset:
    ds = copy.deepcopy(pydicom.dcmread(sample_path(name)))
    ds.PixelData = encapsulate([codestream])
    return ds


def first_frame(name: str) -> bytes:
    ds = pydicom.dcmread(sample_path(name))
    return next(generate_frames(ds.PixelData, number_of_frames=1))


@pytest.mark.parametrize(
    "name",
    ["SC_rgb_jpeg_dcmtk.dcm", "JPGExtended.dcm", "JPEG-LL.dcm", "MR_small_jpeg_ls_lossless.dcm"],
)
def test_a_truncated_jpeg_fragment_is_a_decode_error_not_a_grey_image(name):
    codestream = first_frame(name)
    with pytest.raises(DecodeError, match="no End of Image marker") as caught:
        Renderer().render(with_frame(name, codestream[: len(codestream) // 2]))
    assert caught.value.http_status == 422 and caught.value.code == "decode_failed"


def without_scan_data(codestream: bytes) -> bytes:
    """The codestream up to the end of its first Start of Scan header, then End of Image:
    every marker segment kept, the entropy-coded data gone (ITU-T T.81 B.2)."""
    scan = codestream.index(b"\xff\xda")
    header_length = int.from_bytes(codestream[scan + 2 : scan + 4], "big")
    return codestream[: scan + 2 + header_length] + b"\xff\xd9"


@pytest.mark.parametrize(
    "name",
    ["SC_rgb_jpeg_dcmtk.dcm", "JPGExtended.dcm", "JPEG-LL.dcm", "MR_small_jpeg_ls_lossless.dcm"],
)
def test_a_jpeg_without_its_scan_data_is_a_decode_error_not_a_flat_image(name):
    # Every decoder we have returns a flat image (grey, or the lowest value) for this.
    hollow = with_frame(name, without_scan_data(first_frame(name)))
    with pytest.raises(DecodeError, match="no compressed image data") as caught:
        Renderer().render(hollow)
    assert caught.value.http_status == 422


@pytest.mark.parametrize(
    "name", ["SC_rgb_jpeg_dcmtk.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm"]
)
def test_a_garbage_fragment_is_a_decode_error_and_the_renderer_keeps_working(name):
    renderer = Renderer()
    garbage = first_frame(name)[:2] + bytes(range(256)) * 4 + b"\xff\xd9"
    with pytest.raises(DecodeError, match="frame 1 cannot be decoded"):
        renderer.render(with_frame(name, garbage))
    assert renderer.render(sample_path(name))[:2] == b"\xff\xd8"  # still serving


def test_the_corrupt_jpeg_2000_of_pydicoms_test_set_is_a_decode_error():
    with pytest.raises(DecodeError, match="JPEG 2000"):
        Renderer().render(sample_path("JPEG2000-embedded-sequence-delimiter.dcm"))


def test_truncated_native_pixel_data_is_a_decode_error():
    with pytest.raises(DecodeError, match="less than expected"):
        Renderer().render(sample_path("MR_truncated.dcm"))


def test_a_file_cut_inside_its_pixel_data_is_refused_with_a_typed_error():
    with pytest.raises(ImagingError):
        Renderer().render(sample_path("emri_small_jpeg_2k_lossless_too_short.dcm"))


@pytest.mark.parametrize("name", ["meta_missing_tsyntax.dcm", "nested_priv_SQ.dcm"])
def test_pixel_data_without_an_image_pixel_module_is_an_invalid_image(name):
    with pytest.raises(InvalidImage, match="Rows and Columns"):
        Renderer().frame_info(sample_path(name))


def test_an_instance_without_pixels_is_not_an_image():
    with pytest.raises(NoPixelData) as caught:
        Renderer().render(sample_path("rtplan.dcm"))
    assert caught.value.http_status == 406


def test_bytes_that_are_not_dicom_are_an_invalid_image():
    with pytest.raises(InvalidImage):
        Renderer().render(b"GIF89a" + b"\0" * 200)


def test_a_pixel_bomb_header_is_refused_before_any_decoding():
    # 65535 × 65535 × 3 samples × 16 bits = 25.8 GB declared, 32 bytes present: the size
    # cap must answer first, not the decoder (which would complain about the length).
    ds = make_ct(
        rows=2,
        columns=2,
        Rows=65535,
        Columns=65535,
        SamplesPerPixel=3,
        PhotometricInterpretation="RGB",
        PlanarConfiguration=0,
        BitsAllocated=16,
        BitsStored=16,
        HighBit=15,
        PixelData=b"\0" * 32,
    )
    with pytest.raises(ImageTooLarge, match="over the") as caught:
        Renderer().render(to_bytes(ds))
    assert caught.value.http_status == 413


def test_the_frame_size_cap_is_configurable():
    small = Renderer(limits=Limits(max_frame_bytes=16 * 1024))
    with pytest.raises(ImageTooLarge):
        small.render(sample_path("CT_small.dcm"))  # 128 × 128 × 2 bytes = 32 KiB
    assert Renderer().render(sample_path("CT_small.dcm"))


def test_a_deflate_bomb_is_refused_before_it_is_inflated():
    ds = make_ct(rows=4, columns=4, PixelData=b"\0" * 32)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.add_new((0x0009, 0x0010), "LO", "BOMB")
    ds.add_new((0x0009, 0x1001), "OB", b"\0" * (64 * 1024**2))  # 64 MiB of zeros
    data = to_bytes(ds)
    assert len(data) < 1024**2  # deflate squeezes it to a few hundred kilobytes
    renderer = Renderer(limits=Limits(max_inflated_bytes=8 * 1024**2))
    with pytest.raises(ImageTooLarge, match="inflates past"):
        renderer.render(data)


def test_a_deflated_file_under_the_cap_renders():
    deflated = sample_path("image_dfl.dcm")
    meta = pydicom.dcmread(deflated, stop_before_pixels=True).file_meta
    assert meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    pixels = Renderer().render_pixels(deflated.read_bytes())
    assert pixels.shape == (512, 512)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"region": (0, 0, 0, 10)}, "positive size"),
        ({"output_size": (100_000, 100_000)}, "pixel limit"),
        ({"output_size": (0, 10)}, "at least 1"),
        ({"format": "gif"}, "not one of"),
        ({"quality": 0}, "between 1 and 100"),
        ({"window": (40,)}, "not \\(center, width\\)"),
    ],
)
def test_impossible_requests_are_request_errors(options, message):
    with pytest.raises(InvalidRequest, match=message) as caught:
        Renderer().render(sample_path("CT_small.dcm"), **options)
    assert caught.value.http_status == 400


def test_frame_numbers_are_checked():
    renderer = Renderer()
    with pytest.raises(InvalidRequest, match="frame 2 does not exist"):
        renderer.render(sample_path("CT_small.dcm"), 1)
    with pytest.raises(InvalidRequest):
        renderer.render(sample_path("CT_small.dcm"), -1)


def test_a_missing_file_is_an_error_with_the_reason():
    with pytest.raises(InvalidImage, match="cannot read"):
        Renderer().render("/nonexistent/image.dcm")


def test_every_error_type_carries_a_code_and_a_status():
    for error in (DecodeError, ImageTooLarge, InvalidImage, InvalidRequest, NoPixelData):
        instance = error("message")
        assert instance.code and 400 <= instance.http_status < 600
        assert str(instance) == "message"
    assert issubclass(InvalidRequest, ValueError)
