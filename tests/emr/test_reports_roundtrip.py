"""SR round trip: a length measured over the viewer socket is saved as a Measurement Report,
reopened with the same value, and sent by C-STORE to Orthanc, which then holds it."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse
from pydicom import dcmread

from studies.models import Instance
from studies.rendering import instance_path
from studies.reports import reading
from tests.pacs.conftest import listener, pacs  # noqa: F401  (fixtures)
from tests.streaming.client import Viewer
from tests.streaming.conftest import phantom_slices  # noqa: F401  (fixture)

pytestmark = [pytest.mark.orthanc, pytest.mark.django_db(transaction=True)]


async def measured_line(user, instance: str) -> tuple[dict, dict]:
    viewer = await Viewer.open(user)
    shape = {"kind": "line", "points": [[100, 200], [400, 200]]}
    await viewer.send(type="measure", request=1, instance=instance, frame=0, shape=shape)
    answer = await viewer.receive_json()
    await viewer.close()
    assert answer["type"] == "measurement", answer
    return shape, answer


def test_measure_save_reopen_and_send_to_orthanc(clinician, phantom_slices, pacs):  # noqa: F811
    stored = phantom_slices[0]
    shape, answer = async_to_sync(measured_line)(clinician, stored.instance)
    assert answer["length_mm"] == pytest.approx(300 * 0.78125)

    client = Client()
    client.force_login(clinician)
    body = {
        "measurements": [
            {"instance": stored.instance, "frame": 0, "shape": shape, "measurement": answer}
        ],
        "send_to": "orthanc",
    }
    response = client.post(
        reverse("reports:save-measurements", args=[stored.study]),
        json.dumps(body),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    saved = response.json()
    assert saved["sent_to"] == "orthanc"

    # Reopened from the archive: the same value, unit and image.
    instance = Instance.objects.get(sop_instance_uid=saved["sop_instance_uid"])
    (length,) = reading.measurements(reading.content_tree(dcmread(instance_path(instance))))
    assert (length.concept, length.unit) == ("Length", "mm")
    assert length.value == pytest.approx(answer["length_mm"])
    assert [r.sop_instance_uid for r in length.references] == [stored.instance]
    page = client.get(saved["url"]).content.decode()
    assert f'data-value="{length.value}"' in page

    # Orthanc holds it.
    found = pacs.peer.request("POST", "/tools/lookup", data=saved["sop_instance_uid"]).json()
    assert [entry["Type"] for entry in found] == ["Instance"]
