"""``open_study``: the study outline, then live news of instances that arrive."""

import numpy as np
import pytest
from channels.db import database_sync_to_async
from pydicom.uid import generate_uid

from studies.ingest import ingest_bytes
from studies.rendering import get_renderer
from tests.dicom_files import make_ct, to_bytes
from tests.streaming.client import Viewer, view

pytestmark = pytest.mark.django_db(transaction=True)


async def test_open_study_sends_the_outline_with_geometry(clinician, phantom_slices):
    study = phantom_slices[0].study
    viewer = await Viewer.open(clinician)
    await viewer.send(type="open_study", study=study, request=4)
    outline = await viewer.receive_json()
    await viewer.close()

    assert outline["type"] == "study" and outline["study"] == study
    assert outline["request"] == 4
    assert outline["patient"]["birth_date"] == "1964-02-29"
    assert outline["study_date"] == "2024-06-11"
    assert outline["accession"] == "DEMO0001"
    (series,) = outline["series"]
    assert series["uid"] == phantom_slices[0].series
    assert series["modality"] == "CT"
    assert series["frame_of_reference"]
    # Top slice first, as the modality numbered them.
    assert [i["uid"] for i in series["instances"]] == [s.instance for s in phantom_slices]
    first = series["instances"][0]
    assert first["orientation"] == [1, 0, 0, 0, 1, 0]
    assert first["position"][2] == pytest.approx(50.0)
    assert first["pixel_spacing"] == [0.78125, 0.78125]
    assert first["slice_location"] == pytest.approx(50.0)
    assert (first["rows"], first["columns"], first["frames"]) == (512, 512, 1)


async def test_open_study_of_an_unknown_study_is_not_found(clinician):
    viewer = await Viewer.open(clinician)
    await viewer.send(type="open_study", study="1.2.3.4.404")
    error = await viewer.receive_json()
    assert (error["type"], error["code"]) == ("error", "not_found")
    await viewer.send(type="ping")
    assert await viewer.receive_json() == {"type": "pong"}
    await viewer.close()


async def test_an_instance_stored_in_an_open_study_is_announced(clinician, phantom_slices):
    study, series = phantom_slices[0].study, phantom_slices[0].series
    viewer = await Viewer.open(clinician)
    await viewer.send(type="open_study", study=study)
    assert (await viewer.receive_json())["type"] == "study"

    # Another slice of the series arrives (an upload now; C-STORE and retrieve later).
    data = to_bytes(make_ct(study_uid=study, series_uid=series, rows=512, columns=512))
    result = await database_sync_to_async(ingest_bytes)(data, "upload", "tests")
    assert result.status == "stored"

    news = await viewer.receive_json()
    assert news == {
        "type": "instance_stored",
        "study": study,
        "series": series,
        "instance": result.sop_instance_uid,
    }
    # Asking again shows it in the outline.
    await viewer.send(type="open_study", study=study)
    outline = await viewer.receive_json()
    assert result.sop_instance_uid in [i["uid"] for i in outline["series"][0]["instances"]]
    await viewer.close()


async def test_instances_of_other_studies_are_not_announced(clinician, phantom_slices):
    viewer = await Viewer.open(clinician)
    await viewer.send(type="open_study", study=phantom_slices[0].study)
    assert (await viewer.receive_json())["type"] == "study"

    other = to_bytes(make_ct(study_uid=generate_uid()))
    result = await database_sync_to_async(ingest_bytes)(other, "upload", "tests")
    assert result.status == "stored"
    assert await viewer.socket.receive_nothing(timeout=0.3)
    await viewer.close()


async def test_access_is_checked_again_for_every_request(clinician, phantom_slices):
    viewer = await Viewer.open(clinician)
    await viewer.send(type="open_study", study=phantom_slices[0].study)
    assert (await viewer.receive_json())["type"] == "study"

    clinician.is_active = False
    await database_sync_to_async(clinician.save)()
    await viewer.send(type="open_study", study=phantom_slices[0].study)
    assert (await viewer.receive_json())["code"] == "not_found"
    await viewer.send(
        type="view",
        request=2,
        viewport=0,
        instance=phantom_slices[0].instance,
        region=[0, 0, 512, 512],
        scale=1,
    )
    assert (await viewer.receive_json())["code"] == "not_found"
    await viewer.close()


async def test_open_study_with_preview_pushes_the_first_picture_and_the_first_view_skips_it(
    clinician, phantom_slices
):
    first = phantom_slices[0]
    viewer = await Viewer.open(clinician)
    # An unknown series falls back to the first series with images, as the browser does.
    await viewer.send(type="open_study", study=first.study, request=3, preview="1.2.3.404")
    assert (await viewer.receive_json())["type"] == "study"
    named = await viewer.receive_json()
    pushed = await viewer.receive()
    await viewer.send(**view(4, first.instance))
    kinds = [m.type for m in await viewer.until_done(4)]
    await viewer.close()

    header = pushed.header
    assert named == {
        "type": "first_picture",
        "request": 3,
        "study": first.study,
        "instance": first.instance,
        "frame": 0,
    }
    assert pushed.type == "prefetch"
    assert (header.request, header.item, header.viewport, header.frame) == (3, 0, 0, 0)
    own = get_renderer().render_pixels(first.path, 0, output_size=(256, 256))
    assert np.abs(pushed.pixels().astype(int) - own.astype(int)).mean() < 2  # JPEG
    assert kinds[0] == "tile" and "preview" not in kinds


async def test_open_study_without_preview_pushes_no_pixels(clinician, phantom_slices):
    viewer = await Viewer.open(clinician)
    await viewer.send(type="open_study", study=phantom_slices[0].study, request=3, preview=False)
    assert (await viewer.receive_json())["type"] == "study"
    assert await viewer.socket.receive_nothing(timeout=0.3)
    await viewer.send(type="open_study", study=phantom_slices[0].study, preview="not a uid")
    assert (await viewer.receive_json())["code"] == "bad_request"
    await viewer.close()


async def test_a_study_named_in_the_socket_address_is_opened_with_the_handshake(
    clinician, phantom_slices
):
    first = phantom_slices[0]
    path = f"/ws/viewer/?open={first.study}&request=1&preview=true"
    viewer = await Viewer.open(clinician, path=path)
    messages = [await viewer.receive() for _ in range(3)]
    await viewer.send(type="ping")
    assert (await viewer.receive_json()) == {"type": "pong"}
    await viewer.close()
    assert [(m.type, m.request) for m in messages] == [
        ("study", 1),
        ("first_picture", 1),
        ("prefetch", 1),
    ]
    assert messages[1].json["instance"] == first.instance


async def test_a_bad_or_hidden_study_in_the_socket_address_is_an_error_not_a_refusal(
    clinician, phantom_slices
):
    bad = await Viewer.open(clinician, path="/ws/viewer/?open=not-a-uid&request=2")
    error = await bad.receive_json()
    await bad.close()
    assert (error["code"], error["request"]) == ("bad_request", 2)
    hidden = await Viewer.open(clinician, path="/ws/viewer/?open=1.2.3.404&request=3")
    error = await hidden.receive_json()
    await hidden.send(type="ping")
    assert (await hidden.receive_json()) == {"type": "pong"}
    await hidden.close()
    assert (error["code"], error["request"]) == ("not_found", 3)


async def test_an_outline_refresh_is_not_another_image_session(clinician, phantom_slices):
    from studies.models import AuditEvent, Study

    study = phantom_slices[0].study
    patient = await database_sync_to_async(
        lambda: Study.objects.get(study_instance_uid=study).patient.patient_id
    )()
    viewer = await Viewer.open(clinician)
    for request in (1, 2):  # the viewer asks again as instances arrive
        # No first picture: its messages (no request id) could come between the outlines.
        await viewer.send(type="open_study", study=study, request=request, preview=False)
        assert (await viewer.receive_json())["request"] == request
    await viewer.close()
    events = await database_sync_to_async(
        lambda: list(AuditEvent.objects.filter(kind=AuditEvent.Kind.IMAGE_SESSION))
    )()
    assert [(e.study_instance_uid, e.patient_id) for e in events] == [(study, patient)]
