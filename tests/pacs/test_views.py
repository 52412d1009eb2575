"""The JSON endpoints for the UI: login, CSRF on POST, answers and errors."""

from __future__ import annotations

import pytest
from django.test import Client

from studies.ingest import ingest_bytes
from studies.models import Instance, PacsNode, RetrieveJob
from tests.dicom_files import make_ct, to_bytes
from tests.peers.ports import free_port

pytestmark = pytest.mark.urls("tests.pacs.urls")

STUDY = "1.2.840.99999.7"
CSRF = "a" * 32  # an unmasked CSRF secret is a valid token (Django 4.1+)


@pytest.fixture
def node(db) -> PacsNode:
    return PacsNode.objects.create(name="pacs", ae_title="PACS", host="127.0.0.1", port=104)


@pytest.fixture
def strict_client(clinician) -> Client:
    """A logged-in browser whose POSTs are CSRF-checked like in production."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician)
    client.cookies["csrftoken"] = CSRF
    return client


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/pacs/nodes/"),
        ("get", "/pacs/nodes/pacs/search?patient_id=1"),
        ("get", "/pacs/priors?patient_id=1"),
        ("post", "/pacs/retrieve"),
        ("get", "/pacs/jobs/"),
        ("get", "/pacs/jobs/1"),
        ("post", "/pacs/jobs/1/cancel"),
    ],
)
def test_anonymous_callers_get_401_json(client, db, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 401
    assert response.json() == {"error": "log in first"}


def test_node_list_shows_enabled_nodes_without_addresses(clinician_client, node):
    PacsNode.objects.create(name="off", ae_title="OFF", host="10.0.0.1", port=104, enabled=False)
    answer = clinician_client.get("/pacs/nodes/").json()
    assert answer == {"nodes": [{"name": "pacs", "ae_title": "PACS", "retrieve_method": "move"}]}


def test_search_of_an_unknown_node_is_404(clinician_client, db):
    response = clinician_client.get("/pacs/nodes/nowhere/search?patient_id=1")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "params",
    ["patient_id=a%5Cb", "study_date=2024-99-99", "level=FRAME&patient_id=1", "level=STUDY", ""],
)
def test_search_with_bad_terms_is_400_with_the_reason(clinician_client, node, params):
    response = clinician_client.get(f"/pacs/nodes/pacs/search?{params}")
    assert response.status_code == 400
    assert response.json()["error"]


def test_search_of_a_node_that_is_down_is_502_with_the_reason(clinician_client, node, settings):
    settings.DICOM_CONNECT_TIMEOUT = 5
    PacsNode.objects.filter(pk=node.pk).update(port=free_port())
    response = clinician_client.get("/pacs/nodes/pacs/search?patient_id=1")
    assert response.status_code == 502
    assert "cannot connect to PACS 'pacs'" in response.json()["error"]


@pytest.mark.orthanc
def test_search_answers_remote_rows(clinician_client, pacs):
    study, _, _ = pacs.load_study(patient_id="PID-VIEW")
    response = clinician_client.get("/pacs/nodes/orthanc/search?level=STUDY&patient_id=PID-VIEW")
    assert response.status_code == 200
    answer = response.json()
    assert answer["level"] == "STUDY" and answer["truncated"] is False
    assert [(r["study_instance_uid"], r["remote"]) for r in answer["results"]] == [(study, True)]


def test_retrieve_post_without_csrf_token_is_refused(strict_client, node):
    response = strict_client.post("/pacs/retrieve", {"node": "pacs", "study_instance_uid": STUDY})
    assert response.status_code == 403
    assert not RetrieveJob.objects.exists()


def test_retrieve_queues_a_job_and_a_second_click_joins_it(strict_client, node, clinician):
    body = {"node": "pacs", "study_instance_uid": STUDY}
    first = strict_client.post(
        "/pacs/retrieve", body, content_type="application/json", HTTP_X_CSRFTOKEN=CSRF
    )
    assert first.status_code == 202
    job = first.json()["job"]
    assert first.json()["created"] is True
    assert (job["state"], job["node"], job["study_instance_uid"]) == ("queued", "pacs", STUDY)
    assert RetrieveJob.objects.get().requested_by == clinician

    second = strict_client.post("/pacs/retrieve", body, HTTP_X_CSRFTOKEN=CSRF)  # form-encoded
    assert second.status_code == 202
    assert second.json()["created"] is False and second.json()["job"]["id"] == job["id"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"node": "pacs", "study_instance_uid": "x.y"}, "not a valid UID"),
        ({"node": "elsewhere", "study_instance_uid": STUDY}, "unknown or disabled"),
    ],
)
def test_retrieve_with_bad_input_is_400(strict_client, node, body, message):
    response = strict_client.post(
        "/pacs/retrieve", body, content_type="application/json", HTTP_X_CSRFTOKEN=CSRF
    )
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_retrieve_with_a_body_that_is_not_json_is_400(strict_client, node):
    response = strict_client.post(
        "/pacs/retrieve", "{nope", content_type="application/json", HTTP_X_CSRFTOKEN=CSRF
    )
    assert response.status_code == 400


def test_job_status_and_list(clinician_client, node):
    job = RetrieveJob.objects.create(node=node, study_instance_uid=STUDY, expected_count=4)
    RetrieveJob.objects.create(node=node, study_instance_uid="1.2.3", state="done")
    detail = clinician_client.get(f"/pacs/jobs/{job.pk}").json()["job"]
    assert (detail["id"], detail["expected"], detail["received"]) == (job.pk, 4, 0)
    assert clinician_client.get("/pacs/jobs/999999").status_code == 404
    listed = clinician_client.get(f"/pacs/jobs/?study={STUDY}").json()["jobs"]
    assert [j["id"] for j in listed] == [job.pk]
    active = clinician_client.get("/pacs/jobs/?active=1").json()["jobs"]
    assert [j["id"] for j in active] == [job.pk]


def test_cancel_endpoint_cancels_a_queued_job(strict_client, node):
    job = RetrieveJob.objects.create(node=node, study_instance_uid=STUDY)
    response = strict_client.post(f"/pacs/jobs/{job.pk}/cancel", HTTP_X_CSRFTOKEN=CSRF)
    assert response.status_code == 200
    assert response.json()["job"]["state"] == "cancelled"
    assert strict_client.post("/pacs/jobs/999999/cancel", HTTP_X_CSRFTOKEN=CSRF).status_code == 404


def test_cancel_needs_post(clinician_client, node):
    job = RetrieveJob.objects.create(node=node, study_instance_uid=STUDY)
    assert clinician_client.get(f"/pacs/jobs/{job.pk}/cancel").status_code == 405


def test_priors_need_a_patient_id(clinician_client, db):
    assert clinician_client.get("/pacs/priors").status_code == 400


def test_priors_without_nodes_list_local_studies(clinician_client, db):
    ds = make_ct(patient_id="PID-LOCAL")
    ingest_bytes(to_bytes(ds), Instance.Source.IMPORT)
    answer = clinician_client.get("/pacs/priors?patient_id=PID-LOCAL").json()
    assert [s["study_instance_uid"] for s in answer["studies"]] == [ds.StudyInstanceUID]
    assert answer["studies"][0]["remote"] is False and answer["errors"] == {}
