"""Who gets into DICOMweb: sessions, HTTP Basic, CSRF, and everyone else."""

from __future__ import annotations

import base64
import re

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern

from studies.dicomweb import urls as dicomweb_urls
from studies.models import Instance
from tests import dicomweb_server
from tests.dicom_files import make_ct, to_bytes
from tests.dicomweb_server import (
    PASSWORD,
    STOW_CONTENT_TYPE,
    USERNAME,
    multipart_body,
)

# Fixtures shared with the other DICOMweb tests: a live server's user and its clients.
peer_session = dicomweb_server.peer_session
peer_user = dicomweb_server.peer_user

UID = "1.2.3"
CHALLENGE = 'Basic realm="DICOMweb"'


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def stow(client: Client, **headers) -> object:
    return client.post(
        "/dicomweb/studies",
        data=multipart_body([to_bytes(make_ct())]),
        content_type=STOW_CONTENT_TYPE,
        headers=headers,
    )


def every_route() -> list[str]:
    paths = []
    for pattern in dicomweb_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        # Every placeholder (<uid:study>, <uid:instance>, <str:frames>...) gets "1.2.3".
        route = re.sub(r"<[^>]+>", UID, str(pattern.pattern))
        paths.append(f"/dicomweb/{route}")
    return paths


@pytest.mark.django_db
@pytest.mark.parametrize("path", every_route())
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_caller_is_challenged_on_every_route(client, path, method):
    response = getattr(client, method)(path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == CHALLENGE


def test_basic_credentials_of_an_active_user_are_accepted(client, peer_user):
    response = client.get("/dicomweb/studies", headers={"Authorization": basic(USERNAME, PASSWORD)})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        basic(USERNAME, "wrong-password"),
        basic("nobody", PASSWORD),
        "Basic not-base64!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Bearer some-token",
    ],
)
def test_bad_or_foreign_credentials_are_challenged(client, peer_user, authorization):
    response = client.get("/dicomweb/studies", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == CHALLENGE


def test_inactive_user_is_refused_by_basic_and_by_session(client, peer_user):
    client.force_login(peer_user)
    peer_user.is_active = False
    peer_user.save()

    by_basic = client.get("/dicomweb/studies", headers={"Authorization": basic(USERNAME, PASSWORD)})
    by_session = client.get("/dicomweb/studies")

    assert by_basic.status_code == 401
    assert by_session.status_code == 401


def test_remembered_basic_login_ends_with_a_password_change_or_deactivation(client, peer_user):
    header = {"Authorization": basic(USERNAME, PASSWORD)}
    assert client.get("/dicomweb/studies", headers=header).status_code == 200

    peer_user.set_password("a-new-password-456")
    peer_user.save()
    after_change = client.get("/dicomweb/studies", headers=header)
    new_header = {"Authorization": basic(USERNAME, "a-new-password-456")}
    assert client.get("/dicomweb/studies", headers=new_header).status_code == 200
    User.objects.filter(pk=peer_user.pk).update(is_active=False)
    after_deactivation = client.get("/dicomweb/studies", headers=new_header)

    assert after_change.status_code == 401
    assert after_deactivation.status_code == 401


def test_wrong_basic_credentials_win_over_a_valid_session(clinician_client):
    response = clinician_client.get(
        "/dicomweb/studies", headers={"Authorization": basic("clinician", "not-it")}
    )

    assert response.status_code == 401


def test_session_post_without_csrf_token_is_forbidden(clinician):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(clinician)

    response = stow(browser)

    assert response.status_code == 403
    assert Instance.objects.count() == 0


def test_session_post_with_csrf_token_stores(clinician):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(clinician)
    token = "A" * 32  # what the login page's cookie would hold
    browser.cookies["csrftoken"] = token

    response = stow(browser, **{"X-CSRFToken": token})

    assert response.status_code == 200
    assert Instance.objects.get().source_detail == "clinician"


def test_basic_post_needs_no_csrf_token(peer_user):
    program = Client(enforce_csrf_checks=True)

    response = stow(program, Authorization=basic(USERNAME, PASSWORD))

    assert response.status_code == 200
    assert Instance.objects.get().source_detail == USERNAME


def test_dicomweb_client_without_credentials_gets_401(live_server, transactional_db):
    anonymous = DICOMwebClient(url=f"{live_server.url}/dicomweb")

    with pytest.raises(requests.HTTPError) as error:
        anonymous.search_for_studies()

    assert error.value.response.status_code == 401
    assert error.value.response.headers["WWW-Authenticate"] == CHALLENGE


def test_dicomweb_client_with_basic_auth_session_is_let_in(live_server, peer_session):
    client = DICOMwebClient(url=f"{live_server.url}/dicomweb", session=peer_session)

    assert client.search_for_studies() == []


def test_method_not_offered_on_a_route_is_405_after_authentication(clinician_client):
    response = clinician_client.delete("/dicomweb/studies")

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
