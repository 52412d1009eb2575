"""Bad requests and broken images give an ``error`` message; the socket stays usable."""

import json

import pydicom
import pytest
from channels.db import database_sync_to_async
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import generate_uid

from tests.dicom_files import make_ct, sample_path
from tests.streaming.client import Viewer, view
from tests.streaming.conftest import store

pytestmark = pytest.mark.django_db(transaction=True)


def broken_jpeg():
    """A real JPEG Baseline sample whose frame lost the second half of its entropy data."""
    ds = pydicom.dcmread(sample_path("SC_rgb_jpeg_dcmtk.dcm"))
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    ds.PixelData = encapsulate([frame[: len(frame) // 2]])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    return store(ds)


async def assert_still_usable(viewer):
    await viewer.send(type="ping")
    assert await viewer.receive_json() == {"type": "pong"}


async def test_a_frame_that_cannot_be_decoded_gives_decode_error(clinician, phantom_slices):
    broken = await database_sync_to_async(broken_jpeg)()
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(3, broken.instance, viewport=2, region=[0, 0, 100, 100]))
    error = await viewer.receive_json()
    assert error["type"] == "error"
    assert (error["code"], error["request"], error["viewport"]) == ("decode_error", 3, 2)
    assert "cannot be decoded" in error["message"]

    await assert_still_usable(viewer)
    # The same viewport then shows a good image.
    await viewer.send(**view(4, phantom_slices[0].instance, viewport=2, quality="diagnostic"))
    messages = await viewer.until_done(4)
    assert messages[0].type == "preview"
    await viewer.close()


async def test_unknown_instance_is_not_found(clinician):
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, "1.2.3.999"))
    error = await viewer.receive_json()
    assert (error["type"], error["code"], error["request"], error["viewport"]) == (
        "error",
        "not_found",
        1,
        0,
    )
    await viewer.send(type="frame_info", request=2, instance="1.2.3.999", frame=0)
    assert (await viewer.receive_json())["code"] == "not_found"
    await assert_still_usable(viewer)
    await viewer.close()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"frame": 1}, "frame 1 does not exist"),
        ({"region": [600, 600, 10, 10]}, "does not overlap"),
        ({"voi": 7}, "VOI 7 does not exist"),
    ],
)
async def test_a_view_that_does_not_fit_the_image_is_a_bad_request(
    clinician, phantom_slices, fields, named
):
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(9, phantom_slices[0].instance, **fields))
    error = await viewer.receive_json()
    assert (error["code"], error["request"]) == ("bad_request", 9)
    assert named in error["message"]
    await assert_still_usable(viewer)
    await viewer.close()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"type": "launch_missiles"}', "unknown message type"),
        ('{"type": "view", "request": 1, "viewport": 0}', "'instance'"),
        (json.dumps(view(1, "1.2.3", scale=0)), "'scale'"),
        (json.dumps(view(1, "1.2.3", viewport=16)), "'viewport'"),
        (json.dumps(view(1, "1.2.3", region=[0, 0, 10])), "'region'"),
        (json.dumps(view(1, "1.2.3", window=[40, 0])), "'window'"),
        (json.dumps(view(1, "../../etc/passwd")), "'instance'"),
        (json.dumps(view(1, "1.2.3", quality="best")), "'quality'"),
        ('{"type": "measure", "request": 1, "instance": "1.2", "shape": {"kind": "star"}}', "kind"),
        ('{"type": "open_study"}', "'study'"),
        ("x" * 70000, "at most"),
    ],
)
async def test_malformed_messages_are_refused_with_the_reason(clinician, text, named):
    viewer = await Viewer.open(clinician)
    await viewer.socket.send_to(text_data=text)
    error = await viewer.receive_json()
    assert (error["type"], error["code"]) == ("error", "bad_request")
    assert named in error["message"]
    await assert_still_usable(viewer)
    await viewer.close()


async def test_binary_requests_are_refused(clinician):
    viewer = await Viewer.open(clinician)
    await viewer.socket.send_to(bytes_data=b"\x00\x01")
    assert (await viewer.receive_json())["code"] == "bad_request"
    await assert_still_usable(viewer)
    await viewer.close()


async def test_an_image_over_the_output_limit_is_too_large(clinician, settings, transactional_db):
    from studies.rendering import reset_renderer

    settings.IMAGING_MAX_OUTPUT_PIXELS = 100 * 100
    reset_renderer()
    try:
        image = await database_sync_to_async(store)(make_ct(rows=512, columns=512))
        viewer = await Viewer.open(clinician)
        await viewer.send(**view(1, image.instance, region=[0, 0, 512, 512], scale=1.0))
        error = await viewer.receive_json()
        assert (error["code"], error["request"]) == ("too_large", 1)
        await assert_still_usable(viewer)
        await viewer.close()
    finally:
        reset_renderer()
