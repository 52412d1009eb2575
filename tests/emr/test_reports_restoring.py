"""Saved measurements come back to the viewer: ``saved.json`` reads the newest TID 1500
Measurement Report of a study into the shapes and values the viewer sent, and the newest Key
Object Selection into the key images."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import make_ct, to_bytes
from tests.emr.test_reports import STUDY, images, line_and_roi, post  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def saved(client, study: str = STUDY):
    response = client.get(reverse("reports:saved", args=[study]))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    return response.json()


def every_shape(uids: list[str]) -> list[dict]:
    """One of each shape the viewer draws, with the values its server answer carries."""
    return [
        *line_and_roi(uids),
        {
            "instance": uids[0],
            "frame": 0,
            "shape": {"kind": "angle", "points": [[1, 1], [5, 5], [9, 1]]},
            "measurement": {"kind": "angle", "degrees": 90.0},
        },
        {
            "instance": uids[1],
            "frame": 0,
            "shape": {"kind": "rectangle", "x": 1.5, "y": 2, "width": 4, "height": 3.25},
            "measurement": {"kind": "rectangle", "area_px": 13, "mean": -2.5, "sd": 1, "unit": ""},
        },
    ]


def test_a_study_without_reports_has_nothing_saved(clinician_client, images):  # noqa: F811
    assert saved(clinician_client) == {
        "report": None,
        "measurements": [],
        "key_images": {"sop_instance_uid": "", "instances": []},
    }


def test_saved_measurements_come_back_with_their_shapes_images_and_values(
    clinician_client,
    images,  # noqa: F811
):
    sent = every_shape(images)
    uid = post(clinician_client, "save-measurements", {"measurements": sent}).json()[
        "sop_instance_uid"
    ]
    answer = saved(clinician_client)
    assert answer["report"]["sop_instance_uid"] == uid
    assert answer["report"]["url"] == reverse("reports:detail", args=[STUDY, uid])
    back = answer["measurements"]
    assert [(m["instance"], m["frame"], m["shape"]) for m in back] == [
        (m["instance"], 0, m["shape"]) for m in sent
    ]
    line, ellipse, angle, rectangle = (m["measurement"] for m in back)
    assert (line["kind"], line["length_mm"]) == ("line", 5.0)
    assert "length_px" not in line  # the SR holds the millimetres only, as the viewer shows
    assert (ellipse["area_mm2"], ellipse["mean"], ellipse["sd"], ellipse["unit"]) == (
        6.28,
        41.5,
        3.25,
        "HU",
    )
    assert angle["degrees"] == 90.0
    assert (rectangle["area_px"], rectangle["mean"], rectangle["unit"]) == (13, -2.5, "")


def test_the_newest_report_wins_and_key_images_come_from_the_newest_kos(
    clinician_client,
    images,  # noqa: F811
):
    post(clinician_client, "save-measurements", {"measurements": every_shape(images)})
    newest = post(clinician_client, "save-measurements", {"measurements": line_and_roi(images)[:1]})
    post(clinician_client, "save-key-images", {"instances": [images[0]]})
    kos = post(clinician_client, "save-key-images", {"instances": images}).json()
    answer = saved(clinician_client)
    assert answer["report"]["sop_instance_uid"] == newest.json()["sop_instance_uid"]
    assert len(answer["measurements"]) == 1
    assert answer["key_images"] == {
        "sop_instance_uid": kos["sop_instance_uid"],
        "instances": sorted(images),
    }


def test_a_saved_measurement_of_a_multiframe_image_keeps_its_frame(clinician_client, db):
    ds = make_ct(study_uid=STUDY, series_uid=f"{STUDY}.9", instance_number=1)
    # Multi-frame Grayscale Word SC (PS3.3 A.8.4): an IOD whose frames an SR may name.
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    result = ingest_bytes(to_bytes(ds), Instance.Source.IMPORT)
    assert result.ok, result.reason
    item = {
        "instance": result.sop_instance_uid,
        "frame": 1,
        "shape": {"kind": "line", "points": [[0, 0], [3, 4]]},
        "measurement": {"kind": "line", "length_px": 5.0},
    }
    assert post(clinician_client, "save-measurements", {"measurements": [item]}).status_code == 201
    (back,) = saved(clinician_client)["measurements"]
    assert (back["frame"], back["measurement"]["length_px"]) == (1, 5.0)


def test_a_frame_number_on_a_single_frame_iod_is_dropped_not_a_crash(clinician_client, db):
    ds = make_ct(study_uid=STUDY, series_uid=f"{STUDY}.8", instance_number=1)
    ds.NumberOfFrames = 2  # CT Image Storage is a single-frame IOD whatever the file says
    ds.PixelData = ds.PixelData * 2
    uid = ingest_bytes(to_bytes(ds), Instance.Source.IMPORT).sop_instance_uid
    item = {
        "instance": uid,
        "frame": 1,
        "shape": {"kind": "line", "points": [[0, 0], [3, 4]]},
        "measurement": {"kind": "line", "length_px": 5.0},
    }
    assert post(clinician_client, "save-measurements", {"measurements": [item]}).status_code == 201
    (back,) = saved(clinician_client)["measurements"]
    assert (back["instance"], back["frame"]) == (uid, 0)


def test_saved_measurements_of_an_unknown_or_hidden_study_are_not_found(client, images):  # noqa: F811
    assert client.get(reverse("reports:saved", args=[STUDY])).status_code == 401
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user("other"))
    unknown = "1.2.826.0.1.3680043.8.498.6299"
    response = client.get(reverse("reports:saved", args=[unknown]))
    assert response.status_code == 404
    assert json.loads(response.content)["error"]


def test_the_viewer_offers_save_key_image_and_the_pacs_nodes_to_send_to(clinician_client, images):  # noqa: F811
    from studies.models import PacsNode

    page = clinician_client.get(reverse("frontend:study-viewer", args=[STUDY])).content.decode()
    for action in ("save-measurements", "toggle-key-image", "save-key-images"):
        assert f'data-action="{action}"' in page
    assert f'data-reports-root="/studies/{STUDY}/reports/"' in page
    assert 'data-control="send-to"' not in page  # no PACS node to send to
    PacsNode.objects.create(name="orthanc", ae_title="ORTHANC", host="127.0.0.1", port=4242)
    PacsNode.objects.create(name="off", ae_title="OFF", host="127.0.0.1", port=4243, enabled=False)
    page = clinician_client.get(reverse("frontend:study-viewer", args=[STUDY])).content.decode()
    assert '<option value="orthanc">Also send to orthanc</option>' in page
    assert 'value="off"' not in page


def test_a_launched_session_saves_and_reads_back_the_measurements_of_its_study(
    client,
    images,  # noqa: F811
):
    from tests.emr.links import make_integration, signed_link

    make_integration()
    assert client.get(signed_link(studyUID=STUDY)).status_code == 302
    response = post(client, "save-measurements", {"measurements": line_and_roi(images)})
    assert response.status_code == 201, response.content
    assert len(saved(client)["measurements"]) == 2
