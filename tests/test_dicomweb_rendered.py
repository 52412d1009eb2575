"""WADO-RS rendered and thumbnail resources (PS3.18 10.4.1.1.3-4), with real files.

Pixels are compared as decoded PNG (lossless) where the test is about which pixels come
back; JPEG only where the test is about the format or its quality.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
import requests
from PIL import Image
from pydicom.encaps import encapsulate, get_frame

from studies.imaging.encode import encode
from studies.ingest import ingest_bytes
from studies.models import Instance
from studies.rendering import get_renderer, instance_path, reset_renderer
from tests import dicomweb_server
from tests.dicom_files import make_ct, sample_path, to_bytes

dicomweb = dicomweb_server.dicomweb
peer_session = dicomweb_server.peer_session
peer_user = dicomweb_server.peer_user

STUDY = "1.2.826.0.1.3680043.9.7433.30.1"
SERIES = "1.2.826.0.1.3680043.9.7433.31.1"
PNG = {"Accept": "image/png"}


def store(data: bytes) -> Instance:
    result = ingest_bytes(data, Instance.Source.IMPORT)
    assert result.ok, result.reason
    return Instance.objects.select_related("series__study").get(pk=result.instance_id)


def store_sample(name: str) -> Instance:
    return store(sample_path(name).read_bytes())


def uids(instance: Instance) -> tuple[str, str, str]:
    series = instance.series
    return series.study.study_instance_uid, series.series_instance_uid, instance.sop_instance_uid


def url(instance: Instance, suffix: str) -> str:
    study, series, sop = uids(instance)
    return f"/dicomweb/studies/{study}/series/{series}/instances/{sop}{suffix}"


def image(response) -> np.ndarray:
    assert response.status_code == 200, response.content[:300]
    return np.asarray(Image.open(io.BytesIO(response.content)))


def with_frame(name: str, codestream: bytes, **attributes: object) -> bytes:
    """A real file with its pixel data replaced by one encapsulated frame."""
    ds = pydicom.dcmread(sample_path(name))
    ds.PixelData = encapsulate([codestream])
    ds.NumberOfFrames = 1
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return to_bytes(ds)


def first_fragment(name: str) -> bytes:
    ds = pydicom.dcmread(sample_path(name))
    return get_frame(ds.PixelData, 0, number_of_frames=int(ds.get("NumberOfFrames", 1)))


@pytest.fixture
def fresh_renderer():
    """A renderer built from the current settings, forgotten again afterwards."""
    reset_renderer()
    yield
    reset_renderer()


# --- through dicomweb-client ---------------------------------------------------------------


def test_dicomweb_client_gets_a_jpeg_of_the_image_size(dicomweb):
    instance = store_sample("CT_small.dcm")

    jpeg = dicomweb.retrieve_instance_rendered(*uids(instance), media_types=("image/jpeg",))

    assert jpeg[:2] == b"\xff\xd8"
    picture = Image.open(io.BytesIO(jpeg))
    assert (picture.format, picture.size, picture.mode) == ("JPEG", (128, 128), "L")


def test_undecodable_frame_is_a_clear_422_and_the_server_goes_on(dicomweb):
    # A real JPEG baseline frame cut in half, as a broken transfer would leave it.
    good_jpeg = first_fragment("SC_rgb_jpeg_dcmtk.dcm")
    broken = store(with_frame("SC_rgb_jpeg_dcmtk.dcm", good_jpeg[: len(good_jpeg) // 2]))
    fine = store_sample("CT_small.dcm")

    failures = []
    for _ in range(2):  # a failure is not remembered as an image, nor breaks the next try
        with pytest.raises(requests.HTTPError) as failure:
            dicomweb.retrieve_instance_rendered(*uids(broken), media_types=("image/jpeg",))
        failures.append(failure.value.response)
    after = dicomweb.retrieve_instance_rendered(*uids(fine), media_types=("image/jpeg",))

    for answer in failures:
        assert answer.status_code == 422
        assert answer.headers["Content-Type"].startswith("text/plain")
        assert "cannot be decoded" in answer.text and "JPEG Baseline" in answer.text
    assert Image.open(io.BytesIO(after)).size == (128, 128)


# --- format and parameters -------------------------------------------------------------------


@pytest.mark.django_db
def test_accept_chooses_jpeg_or_png_and_refuses_the_rest(clinician_client):
    instance = store_sample("CT_small.dcm")
    path = url(instance, "/rendered")

    default = clinician_client.get(path)
    png = clinician_client.get(path, headers=PNG)
    preferred = clinician_client.get(path, headers={"Accept": "image/gif, image/png;q=0.5"})
    by_parameter = clinician_client.get(path, {"accept": "image/png"})
    gif = clinician_client.get(path, headers={"Accept": "image/gif"})

    assert default["Content-Type"] == "image/jpeg"
    assert png["Content-Type"] == "image/png" and png.content[:4] == b"\x89PNG"
    assert preferred["Content-Type"] == "image/png"
    assert by_parameter["Content-Type"] == "image/png"
    assert gif.status_code == 406
    assert "image/jpeg or image/png" in gif.content.decode()


@pytest.mark.django_db
def test_window_maps_values_above_to_white_and_below_to_black(clinician_client):
    instance = store_sample("CT_small.dcm")  # MONOCHROME2, HU roughly -1000..+1000
    path = url(instance, "/rendered")

    below_all = image(clinician_client.get(path, {"window": "-100000,10,linear"}, headers=PNG))
    above_all = image(clinician_client.get(path, {"window": "100000,10,sigmoid"}, headers=PNG))
    soft = image(clinician_client.get(path, {"window": "40,400,linear-exact"}, headers=PNG))

    assert below_all.min() == 255  # every value is above the window
    assert above_all.max() < 5  # every value is far below the window
    expected = get_renderer().render_pixels(
        instance_path(instance), window=(40, 400), function="LINEAR_EXACT"
    )
    np.testing.assert_array_equal(soft, expected)


@pytest.mark.django_db
def test_viewport_fits_the_image_keeping_its_aspect_ratio(clinician_client):
    instance = store_sample("JPEG-lossy.dcm")  # 256 columns × 1024 rows

    fitted = image(clinician_client.get(url(instance, "/rendered"), {"viewport": "200,200"}))

    assert fitted.shape == (200, 50)


@pytest.mark.django_db
def test_viewport_region_crops_and_negative_sizes_flip(clinician_client):
    instance = store_sample("CT_small.dcm")
    path = url(instance, "/rendered")

    def region(value: str) -> np.ndarray:
        return image(clinician_client.get(path, {"viewport": value}, headers=PNG))

    whole = region("128,128")
    crop = region("64,64,32,16,64,64")
    mirrored = region("64,64,32,16,-64,64")
    upside_down = region("64,64,32,16,64,-64")
    rest = region("96,112,32,16,,")  # sw, sh empty: to the image's edge

    np.testing.assert_array_equal(crop, whole[16:80, 32:96])
    np.testing.assert_array_equal(mirrored, crop[:, ::-1])
    np.testing.assert_array_equal(upside_down, crop[::-1])
    np.testing.assert_array_equal(rest, whole[16:, 32:])


@pytest.mark.django_db
def test_quality_trades_size_for_fidelity(clinician_client):
    instance = store_sample("693_J2KR.dcm")  # 512×512 CT, JPEG 2000
    path = url(instance, "/rendered")

    low = clinician_client.get(path, {"quality": "10"})
    high = clinician_client.get(path, {"quality": "95"})

    assert len(low.content) < len(high.content) / 2


@pytest.mark.django_db
def test_a_large_jpeg_encoded_on_two_cores_shows_the_pixels_of_one_encode(clinician_client):
    instance = store(to_bytes(make_ct(rows=512, columns=512)))
    path = url(instance, "/rendered")

    response = clinician_client.get(path, {"window": "40,400", "quality": "90"})

    # Halves joined at a restart marker (studies.imaging.jpeg_join): one restart interval.
    assert response["Content-Type"] == "image/jpeg" and response.content.count(b"\xff\xdd") == 1
    whole = get_renderer().render_pixels(instance_path(instance), window=(40, 400))
    one_encode = Image.open(io.BytesIO(encode(whole, "jpeg", 90)))
    np.testing.assert_array_equal(image(response), np.asarray(one_encode))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"window": "40"},
        {"window": "abc,400"},
        {"window": "40,400,gamma"},
        {"window": "40,0,linear"},  # PS3.3 C.11.2.1.2.1: width ≥ 1
        {"viewport": "0,10"},
        {"viewport": "10,10,0,0"},
        {"viewport": "10,10,0,0,0,5"},
        {"viewport": "10,10,500,500,10,10"},  # outside the 128×128 image
        {"quality": "0"},
        {"quality": "high"},
    ],
)
def test_bad_parameters_are_400_with_a_reason(clinician_client, params):
    instance = store_sample("CT_small.dcm")

    response = clinician_client.get(url(instance, "/rendered"), params)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert len(response.content.decode()) > 10


@pytest.mark.django_db
def test_parameters_we_do_not_implement_are_ignored_with_a_warning(clinician_client):
    instance = store_sample("CT_small.dcm")

    response = clinician_client.get(url(instance, "/rendered"), {"annotation": "patient"})

    assert response.status_code == 200
    assert response["Warning"].startswith("299 ")
    assert "annotation" in response["Warning"]


@pytest.mark.django_db
def test_colour_images_render_in_colour(clinician_client):
    instance = store_sample("US1_UNCI.dcm")  # RGB ultrasound

    picture = image(clinician_client.get(url(instance, "/rendered"), headers=PNG))

    assert picture.ndim == 3 and picture.shape[2] == 3
    assert np.abs(picture[..., 0].astype(int) - picture[..., 2]).max() > 50


# --- levels: frame, instance, series, study --------------------------------------------------


@pytest.mark.django_db
def test_frame_level_renders_that_frame(clinician_client):
    instance = store_sample("emri_small.dcm")  # 10 frames

    fifth = image(clinician_client.get(url(instance, "/frames/5/rendered"), headers=PNG))
    first = image(clinician_client.get(url(instance, "/rendered"), headers=PNG))

    path = instance_path(instance)
    np.testing.assert_array_equal(fifth, get_renderer().render_pixels(path, 4))
    np.testing.assert_array_equal(first, get_renderer().render_pixels(path, 0))
    assert not np.array_equal(fifth, first)


@pytest.mark.django_db
@pytest.mark.parametrize(("frames", "status"), [("2,3", 400), ("x", 400), ("11", 404)])
def test_frame_level_needs_one_existing_frame(clinician_client, frames, status):
    instance = store_sample("emri_small.dcm")

    assert clinician_client.get(url(instance, f"/frames/{frames}/rendered")).status_code == status
    assert clinician_client.get(url(instance, f"/frames/{frames}/thumbnail")).status_code == status


@pytest.mark.django_db
def test_series_and_study_show_the_middle_image_of_the_first_series(clinician_client):
    # Five slices, each a different flat grey, stored out of order; a later series too.
    for number in (5, 1, 4, 2, 3):
        flat = np.full((16, 16), number * 500, dtype=np.uint16).tobytes()
        ds = make_ct(study_uid=STUDY, series_uid=SERIES, instance_number=number, PixelData=flat)
        store(to_bytes(ds))
    store(to_bytes(make_ct(study_uid=STUDY, SeriesNumber=7)))
    middle = Instance.objects.get(instance_number=3, series__series_instance_uid=SERIES)
    window = {"window": "500,3000,linear"}

    expected = image(clinician_client.get(url(middle, "/rendered"), window, headers=PNG))
    series = image(
        clinician_client.get(
            f"/dicomweb/studies/{STUDY}/series/{SERIES}/rendered", window, headers=PNG
        )
    )
    study = image(clinician_client.get(f"/dicomweb/studies/{STUDY}/rendered", window, headers=PNG))

    np.testing.assert_array_equal(series, expected)
    np.testing.assert_array_equal(study, expected)


@pytest.mark.django_db
def test_thumbnails_fit_a_small_square_at_every_level(clinician_client):
    instance = store_sample("693_J2KR.dcm")  # 512×512
    study, series, _ = uids(instance)
    paths = [
        f"/dicomweb/studies/{study}/thumbnail",
        f"/dicomweb/studies/{study}/series/{series}/thumbnail",
        url(instance, "/thumbnail"),
        url(instance, "/frames/1/thumbnail"),
    ]

    sizes = [image(clinician_client.get(path)).shape for path in paths]
    larger = image(clinician_client.get(paths[2], {"viewport": "300,300"}))
    windowed = clinician_client.get(paths[2], {"window": "40,400"})

    assert sizes == [(128, 128)] * 4
    assert larger.shape == (300, 300)
    assert "window" in windowed["Warning"]  # thumbnails take only a viewport


@pytest.mark.django_db
def test_a_study_without_images_has_nothing_to_render(clinician_client):
    ds = make_ct(study_uid=STUDY)
    del ds.PixelData, ds.Rows, ds.Columns
    instance = store(to_bytes(ds))

    study = clinician_client.get(f"/dicomweb/studies/{STUDY}/thumbnail")
    direct = clinician_client.get(url(instance, "/rendered"))

    assert study.status_code == 406
    assert direct.status_code == 406
    assert "no pixel data" in direct.content.decode()


# --- limits and broken data ------------------------------------------------------------------


@pytest.mark.django_db
def test_pixel_bomb_is_refused_from_its_header_before_decoding(clinician_client, fresh_renderer):
    # A real 1024×256 JPEG whose header claims 20000×20000 16-bit pixels: 800 MB decoded,
    # over the default 512 MB cap. Had it been decoded, the size mismatch would be a 422.
    bomb = store(
        with_frame("JPEG-LL.dcm", first_fragment("JPEG-LL.dcm"), Rows=20000, Columns=20000)
    )

    rendered = clinician_client.get(url(bomb, "/rendered"))
    thumbnail = clinician_client.get(url(bomb, "/thumbnail"))
    decoded_frame = clinician_client.get(
        url(bomb, "/frames/1"),
        headers={"Accept": 'multipart/related; type="application/octet-stream"'},
    )

    for response in (rendered, thumbnail, decoded_frame):
        assert response.status_code == 413
        assert "800,000,000 bytes" in response.content.decode()


@pytest.mark.django_db
def test_decoded_size_cap_follows_the_setting(clinician_client, settings, fresh_renderer):
    instance = store_sample("CT_small.dcm")  # 128×128×2 = 32,768 bytes
    settings.IMAGING_MAX_FRAME_BYTES = 16 * 1024
    reset_renderer()

    refused = clinician_client.get(url(instance, "/rendered"))
    settings.IMAGING_MAX_FRAME_BYTES = 64 * 1024
    reset_renderer()
    allowed = clinician_client.get(url(instance, "/rendered"))

    assert refused.status_code == 413
    assert "16,384 byte limit" in refused.content.decode()
    assert allowed.status_code == 200


@pytest.mark.django_db
def test_corrupt_jpeg_data_is_422_for_rendered_thumbnail_and_decoded_frames(clinician_client):
    codestream = bytearray(first_fragment("SC_rgb_jpeg_dcmtk.dcm"))
    scan = codestream.index(b"\xff\xda")
    for position in range(scan + 20, len(codestream) - 2, 7):
        codestream[position] = 0xFF  # markers sprayed through the entropy-coded data
    broken = store(with_frame("SC_rgb_jpeg_dcmtk.dcm", bytes(codestream)))

    responses = [
        clinician_client.get(url(broken, "/rendered")),
        clinician_client.get(url(broken, "/thumbnail")),
        clinician_client.get(
            url(broken, "/frames/1"),
            headers={"Accept": 'multipart/related; type="application/octet-stream"'},
        ),
    ]
    as_stored = clinician_client.get(url(broken, "/frames/1"))  # no decoding needed

    for response in responses:
        assert response.status_code == 422
        assert "cannot be decoded" in response.content.decode()
    assert as_stored.status_code == 200


@pytest.mark.django_db
def test_a_jpeg_without_its_scan_data_is_422_not_a_black_image(clinician_client):
    codestream = first_fragment("SC_rgb_jpeg_dcmtk.dcm")
    scan = codestream.index(b"\xff\xda")
    header_end = scan + 2 + int.from_bytes(codestream[scan + 2 : scan + 4], "big")
    hollow = store(with_frame("SC_rgb_jpeg_dcmtk.dcm", codestream[:header_end] + b"\xff\xd9"))

    for suffix in ("/rendered", "/thumbnail", "/frames/1/rendered"):
        response = clinician_client.get(url(hollow, suffix))
        assert response.status_code == 422
        assert response["Content-Type"].startswith("text/plain")
        assert "no compressed image data" in response.content.decode()


# --- caching ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_same_request_is_a_304_and_any_change_is_a_new_image(clinician_client):
    instance = store_sample("CT_small.dcm")
    path = url(instance, "/rendered")
    first = clinician_client.get(path, {"window": "40,400"})
    tag = {"If-None-Match": first["ETag"]}

    same = clinician_client.get(path, {"window": "40,400"}, headers=tag)
    other_window = clinician_client.get(path, {"window": "40,401"}, headers=tag)
    other_format = clinician_client.get(path, {"window": "40,400"}, headers={**tag, **PNG})
    series = clinician_client.get(
        f"/dicomweb/studies/{uids(instance)[0]}/series/{uids(instance)[1]}/rendered"
    )

    assert first["Cache-Control"] == "private, max-age=3600"
    assert "Accept" in first["Vary"]
    assert same.status_code == 304 and same["ETag"] == first["ETag"]
    assert other_window.status_code == 200 and other_window["ETag"] != first["ETag"]
    assert other_format.status_code == 200
    assert series["Cache-Control"] == "private, no-cache"  # a new series can change it


# --- finding the instance --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_shown_instance_deleted_from_the_archive_is_404(clinician_client):
    instance = store_sample("CT_small.dcm")
    path = url(instance, "/rendered")
    assert clinician_client.get(path).status_code == 200  # its facts are remembered now

    Instance.objects.filter(pk=instance.pk).delete()

    assert clinician_client.get(path).status_code == 404


@pytest.mark.django_db
def test_a_shown_instance_under_another_study_or_series_is_404(clinician_client):
    instance = store_sample("CT_small.dcm")
    other = store(to_bytes(make_ct(study_uid=STUDY, series_uid=SERIES)))
    study, series, sop = uids(instance)
    assert clinician_client.get(url(instance, "/rendered")).status_code == 200

    wrong_study = f"/dicomweb/studies/{STUDY}/series/{series}/instances/{sop}/rendered"
    wrong_series = f"/dicomweb/studies/{study}/series/{SERIES}/instances/{sop}/rendered"

    assert clinician_client.get(wrong_study).status_code == 404
    assert clinician_client.get(wrong_series).status_code == 404
    assert clinician_client.get(url(other, "/rendered")).status_code == 200


@pytest.mark.django_db
def test_a_repeated_image_asks_the_database_only_who_is_asking(
    clinician_client, django_assert_num_queries
):
    instance = store_sample("CT_small.dcm")
    path = url(instance, "/rendered")
    assert clinician_client.get(path, {"window": "40,400"}).status_code == 200

    # 1. the session, 2. its user: access is checked on every request; the instance's
    # facts (file, hash, size, frames) are remembered.
    with django_assert_num_queries(2):
        assert clinician_client.get(path, {"window": "50,400"}).status_code == 200
