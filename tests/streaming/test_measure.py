"""``measure``: the imaging library's numbers, in mm from Pixel Spacing and HU from the LUT."""

import math

import pytest

from studies.imaging import Ellipse, Polygon, Rectangle
from studies.rendering import get_renderer
from tests.streaming.client import Viewer

pytestmark = pytest.mark.django_db(transaction=True)

SPACING = 400 / 512  # the phantom: 400 mm field of view over 512 pixels


async def measure(viewer, stored, shape, request=1):
    await viewer.send(
        type="measure", request=request, instance=stored.instance, frame=0, shape=shape
    )
    answer = await viewer.receive_json()
    assert answer["type"] == "measurement", answer
    assert answer["request"] == request
    assert answer["kind"] == shape["kind"]
    return answer


async def test_point_gives_the_stored_value_and_hounsfield_units(clinician, phantom_slices):
    stored = phantom_slices[1]
    viewer = await Viewer.open(clinician)
    answer = await measure(viewer, stored, {"kind": "point", "x": 256.4, "y": 300.9})
    await viewer.close()

    expected = get_renderer().pixel_value(stored.path, 0, 256.4, 300.9)
    assert (answer["column"], answer["row"]) == (256, 300)
    assert answer["value"] == expected.value
    assert answer["unit"] == "HU"
    # HU = stored × slope + intercept (slope 1, intercept -1024 in the phantom).
    assert answer["value"] == answer["stored"] - 1024


async def test_line_length_is_in_millimetres_from_pixel_spacing(clinician, phantom_slices):
    stored = phantom_slices[0]
    viewer = await Viewer.open(clinician)
    answer = await measure(viewer, stored, {"kind": "line", "points": [[10, 20], [110, 20]]})
    diagonal = await measure(viewer, stored, {"kind": "line", "points": [[0, 0], [30, 40]]}, 2)
    await viewer.close()

    assert answer["length_px"] == pytest.approx(100)
    assert answer["length_mm"] == pytest.approx(100 * SPACING)
    assert diagonal["length_mm"] == pytest.approx(50 * SPACING)
    library = get_renderer().distance(stored.path, 0, (0, 0), (30, 40))
    assert diagonal["length_mm"] == library.mm


async def test_angle_is_measured_at_the_middle_point(clinician, phantom_slices):
    viewer = await Viewer.open(clinician)
    right = await measure(
        viewer, phantom_slices[0], {"kind": "angle", "points": [[100, 0], [0, 0], [0, 50]]}
    )
    sixty = await measure(
        viewer,
        phantom_slices[0],
        {"kind": "angle", "points": [[10, 0], [0, 0], [5, 5 * math.sqrt(3)]]},
        2,
    )
    await viewer.close()
    assert right["degrees"] == pytest.approx(90)
    assert sixty["degrees"] == pytest.approx(60)


@pytest.mark.parametrize(
    ("shape", "library_shape", "area_px"),
    [
        (
            {"kind": "rectangle", "x": 200, "y": 220, "width": 40, "height": 30},
            Rectangle(200, 220, 40, 30),
            1200,
        ),
        (
            {"kind": "ellipse", "x": 200, "y": 220, "width": 40, "height": 30},
            Ellipse(220, 235, 20, 15),
            math.pi * 20 * 15,
        ),
        (
            {"kind": "polygon", "points": [[200, 220], [260, 220], [200, 280]]},
            Polygon(((200, 220), (260, 220), (200, 280))),
            1800,
        ),
    ],
)
async def test_roi_statistics_are_the_libraries_in_hounsfield_units(
    clinician, phantom_slices, shape, library_shape, area_px
):
    stored = phantom_slices[1]
    viewer = await Viewer.open(clinician)
    answer = await measure(viewer, stored, shape)
    await viewer.close()

    expected = get_renderer().roi_statistics(stored.path, 0, library_shape)
    assert answer["unit"] == "HU"
    assert answer["pixels"] == expected.pixels
    assert answer["mean"] == pytest.approx(expected.mean)
    assert answer["sd"] == pytest.approx(expected.std)
    assert (answer["min"], answer["max"]) == (expected.min, expected.max)
    assert answer["area_px"] == pytest.approx(area_px)
    assert answer["area_mm2"] == pytest.approx(area_px * SPACING * SPACING)
    assert answer["min"] < answer["mean"] < answer["max"]  # real anatomy and noise


async def test_a_roi_outside_the_image_is_a_bad_request(clinician, phantom_slices):
    viewer = await Viewer.open(clinician)
    await viewer.send(
        type="measure",
        request=3,
        instance=phantom_slices[0].instance,
        frame=0,
        shape={"kind": "rectangle", "x": 900, "y": 900, "width": 10, "height": 10},
    )
    error = await viewer.receive_json()
    await viewer.close()
    assert (error["type"], error["code"], error["request"]) == ("error", "bad_request", 3)


async def test_a_colour_pixel_has_its_samples_and_no_modality_value(clinician, transactional_db):
    import pydicom
    from channels.db import database_sync_to_async

    from tests.dicom_files import sample_path
    from tests.streaming.conftest import store

    ds = pydicom.dcmread(sample_path("SC_rgb.dcm"))
    colour = await database_sync_to_async(store)(ds)
    viewer = await Viewer.open(clinician)
    answer = await measure(viewer, colour, {"kind": "point", "x": 5, "y": 5})
    await viewer.send(
        type="measure",
        request=2,
        instance=colour.instance,
        frame=0,
        shape={"kind": "rectangle", "x": 0, "y": 0, "width": 10, "height": 10},
    )
    roi = await viewer.receive_json()
    await viewer.close()

    expected = get_renderer().pixel_value(colour.path, 0, 5, 5)
    assert answer["value"] is None
    assert answer["stored"] == list(expected.stored) and len(answer["stored"]) == 3
    assert (roi["type"], roi["code"]) == ("error", "bad_request")  # no statistics on colour
