"""Structured reports: measurements saved as a TID 1500 Measurement Report and key images as
a Key Object Selection document, both archived through ingest and shown as readable pages."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from pydicom import dcmread

from studies.ingest import ingest_bytes
from studies.models import Instance
from studies.rendering import instance_path
from studies.reports import reading
from tests.dicom_files import make_ct, to_bytes

pytestmark = pytest.mark.django_db

STUDY = "1.2.826.0.1.3680043.8.498.6201"


@pytest.fixture
def images(db) -> list[str]:
    uids = []
    for number in (1, 2):
        ds = make_ct(study_uid=STUDY, series_uid=f"{STUDY}.1", instance_number=number)
        ds.PixelSpacing = [0.5, 0.5]
        result = ingest_bytes(to_bytes(ds), Instance.Source.IMPORT)
        assert result.ok, result.reason
        uids.append(result.sop_instance_uid)
    return uids


def post(client, name: str, body: dict):
    return client.post(
        reverse(f"reports:{name}", args=[STUDY]), json.dumps(body), content_type="application/json"
    )


def line_and_roi(images: list[str]) -> list[dict]:
    return [
        {
            "instance": images[0],
            "frame": 0,
            "shape": {"kind": "line", "points": [[1, 1], [9, 7]]},
            "measurement": {
                "type": "measurement",
                "kind": "line",
                "length_px": 10.0,
                "length_mm": 5.0,
            },
        },
        {
            "instance": images[1],
            "frame": 0,
            "shape": {"kind": "ellipse", "x": 2, "y": 3, "width": 8, "height": 4},
            "measurement": {
                "kind": "ellipse",
                "area_px": 25.1,
                "area_mm2": 6.28,
                "mean": 41.5,
                "sd": 3.25,
                "unit": "HU",
            },
        },
    ]


def test_measurements_are_saved_as_tid_1500_and_read_back_with_the_same_values(
    clinician_client, images
):
    response = post(clinician_client, "save-measurements", {"measurements": line_and_roi(images)})
    assert response.status_code == 201, response.content
    uid = response.json()["sop_instance_uid"]
    instance = Instance.objects.get(sop_instance_uid=uid)
    assert instance.sop_class_uid == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert instance.series.study.study_instance_uid == STUDY
    ds = dcmread(instance_path(instance))
    # TID 1500 Imaging Measurement Report (PS3.16), root concept 126000 (DCM).
    assert ds.ConceptNameCodeSequence[0].CodeValue == "126000"
    values = {
        (m.concept, m.unit): (m.value, [r.sop_instance_uid for r in m.references])
        for m in reading.measurements(reading.content_tree(ds))
    }
    assert values == {
        ("Length", "mm"): (5.0, [images[0]]),
        ("Area", "mm2"): (6.28, [images[1]]),
        ("Mean", "[hnsf'U]"): (41.5, [images[1]]),
        ("Standard Deviation", "[hnsf'U]"): (3.25, [images[1]]),
    }


def test_the_report_page_shows_the_tree_measurements_and_image_links(clinician_client, images):
    uid = post(
        clinician_client, "save-measurements", {"measurements": line_and_roi(images)}
    ).json()["sop_instance_uid"]
    listing = clinician_client.get(reverse("reports:list", args=[STUDY])).content.decode()
    assert f'data-sop-instance-uid="{uid}"' in listing
    page = clinician_client.get(reverse("reports:detail", args=[STUDY, uid]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "Imaging Measurement Report" in content
    assert 'data-value="5.0"' in content and 'data-value="41.5"' in content
    assert f"/studies/{STUDY}/view/?series={STUDY}.1" in content
    assert 'data-value-type="SCOORD"' in content


def test_key_images_are_saved_as_a_key_object_selection(clinician_client, images):
    response = post(
        clinician_client, "save-key-images", {"instances": [images[1]], "note": "lesion"}
    )
    assert response.status_code == 201, response.content
    instance = Instance.objects.get(sop_instance_uid=response.json()["sop_instance_uid"])
    assert instance.sop_class_uid == "1.2.840.10008.5.1.4.1.1.88.59"
    tree = reading.content_tree(dcmread(instance_path(instance)))
    assert tree.concept == "Of Interest"
    assert [r.sop_instance_uid for r in reading.referenced_images(tree)] == [images[1]]
    listing = clinician_client.get(reverse("reports:list", args=[STUDY])).content.decode()
    assert "Key images" in listing


@pytest.mark.parametrize(
    "body, message",
    [
        ({"measurements": []}, "1 to 200"),
        (
            {
                "measurements": [
                    {
                        "instance": "1.2.3",
                        "shape": {"kind": "line", "points": [[0, 0], [1, 1]]},
                        "measurement": {"length_px": 1},
                    }
                ]
            },
            "not in this study",
        ),
        ({"measurements": "x"}, "1 to 200"),
        (
            {
                "measurements": [
                    {"instance": "IMG", "shape": {"kind": "blob"}, "measurement": {"length_px": 1}}
                ]
            },
            "unknown shape",
        ),
        (
            {
                "measurements": [
                    {
                        "instance": "IMG",
                        "shape": {"kind": "line", "points": [[0, 0], [1, 1]]},
                        "measurement": {"length_px": "NaN"},
                    }
                ]
            },
            "not a finite number",
        ),
        (
            {
                "measurements": [
                    {
                        "instance": "IMG",
                        "shape": {"kind": "line", "points": [[0, 0], [1, 1]]},
                        "measurement": {},
                    }
                ]
            },
            "without values",
        ),
        ({"measurements": [], "send_to": "nowhere"}, "unknown or disabled PACS node"),
    ],
)
def test_bad_reports_are_refused_with_a_reason(clinician_client, images, body, message):
    text = json.dumps(body).replace("IMG", images[0])
    response = clinician_client.post(
        reverse("reports:save-measurements", args=[STUDY]), text, content_type="application/json"
    )
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_reports_of_a_study_outside_a_launch_are_not_found(client, images):
    response = client.post(
        reverse("reports:save-measurements", args=[STUDY]), "{}", content_type="application/json"
    )
    assert response.status_code == 401


def test_a_key_images_only_launch_opens_the_series_of_the_key_images(
    client, clinician_client, images
):
    from tests.emr.links import make_integration, signed_link

    other = make_ct(study_uid=STUDY, series_uid=f"{STUDY}.2", instance_number=3)
    key = ingest_bytes(to_bytes(other), Instance.Source.IMPORT).sop_instance_uid
    assert post(clinician_client, "save-key-images", {"instances": [key]}).status_code == 201
    make_integration()
    response = client.get(signed_link(studyUID=STUDY, keyImagesOnly="true"))
    assert response["Location"] == (f"/studies/{STUDY}/view/?series={STUDY}.2&keyImagesOnly=true")
