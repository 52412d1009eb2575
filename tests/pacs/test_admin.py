"""The DICOM network in the admin: known senders, PACS nodes with a C-ECHO test, jobs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studies.models import KnownSender, PacsNode, RetrieveJob
from tests.peers.ports import free_port

STUDY = "1.2.840.99999.9"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def changelist(model: str) -> str:
    return reverse(f"admin:studies_{model}_changelist")


@pytest.mark.parametrize("model", ["knownsender", "pacsnode", "retrievejob"])
def test_admin_lists_render_for_an_administrator(admin_client, model):
    node = PacsNode.objects.create(name="main", ae_title="MAIN", host="10.1.2.3", port=104)
    KnownSender.objects.create(ae_title="CT01")
    RetrieveJob.objects.create(node=node, study_instance_uid=STUDY, error="x" * 300)
    response = admin_client.get(changelist(model))
    assert response.status_code == 200


def test_clinicians_cannot_reach_the_network_admin(client, clinician):
    client.force_login(clinician)
    assert client.get(changelist("pacsnode")).status_code == 302


def test_adding_a_node_in_the_admin_validates_the_ae_title(admin_client):
    url = reverse("admin:studies_pacsnode_add")
    form = {
        "name": "main",
        "ae_title": "WAY_TOO_LONG_AE_TITLE",
        "host": "10.1.2.3",
        "port": "104",
        "retrieve_method": "move",
        "local_ae_title": "",
        "may_store": "on",
        "enabled": "on",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200  # the form again, with the error
    assert not PacsNode.objects.exists()
    form["ae_title"] = "MAINPACS"
    assert admin_client.post(url, form).status_code == 302
    assert PacsNode.objects.get().ae_title == "MAINPACS"


@pytest.mark.orthanc
def test_test_connection_action_echoes_and_records_success(admin_client, pacs):
    response = admin_client.post(
        changelist("pacsnode"),
        {"action": "test_connection", "_selected_action": [pacs.node.pk]},
        follow=True,
    )
    assert "C-ECHO answered" in response.content.decode()
    pacs.node.refresh_from_db()
    assert pacs.node.last_echo_ok is True


def test_test_connection_action_reports_a_node_that_is_down(admin_client, settings):
    settings.DICOM_CONNECT_TIMEOUT = 5
    node = PacsNode.objects.create(name="down", ae_title="DOWN", host="127.0.0.1", port=free_port())
    response = admin_client.post(
        changelist("pacsnode"),
        {"action": "test_connection", "_selected_action": [node.pk]},
        follow=True,
    )
    assert "cannot connect" in response.content.decode()
    node.refresh_from_db()
    assert node.last_echo_ok is False and "cannot connect" in node.last_echo_message


def test_cancel_action_cancels_active_jobs_only(admin_client):
    node = PacsNode.objects.create(name="main", ae_title="MAIN", host="10.1.2.3", port=104)
    queued = RetrieveJob.objects.create(node=node, study_instance_uid=STUDY)
    done = RetrieveJob.objects.create(node=node, study_instance_uid="1.2.3", state="done")
    admin_client.post(
        changelist("retrievejob"),
        {"action": "cancel_jobs", "_selected_action": [queued.pk, done.pk]},
    )
    queued.refresh_from_db()
    done.refresh_from_db()
    assert (queued.state, done.state) == ("cancelled", "done")


def test_retry_action_requeues_failed_jobs_unless_the_request_is_active_again(admin_client):
    node = PacsNode.objects.create(name="main", ae_title="MAIN", host="10.1.2.3", port=104)
    failed = RetrieveJob.objects.create(
        node=node, study_instance_uid=STUDY, state="failed", attempts=5, error="gave up"
    )
    other = RetrieveJob.objects.create(node=node, study_instance_uid="1.2.3", state="failed")
    RetrieveJob.objects.create(node=node, study_instance_uid="1.2.3")  # already queued again
    response = admin_client.post(
        changelist("retrievejob"),
        {"action": "retry_jobs", "_selected_action": [failed.pk, other.pk]},
        follow=True,
    )
    failed.refresh_from_db()
    other.refresh_from_db()
    assert (failed.state, failed.attempts, failed.error) == ("queued", 0, "")
    assert other.state == "failed"
    assert "1 skipped" in response.content.decode()
