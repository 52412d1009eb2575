"""The lean route of WADO-RS rendered, thumbnail and metadata GETs (viewerproject.http_handler):
no URL resolving and no CSRF or messages middleware, yet the same answers, refusals, headers
and audit as the full chain.

A few tests go through the whole ASGI application (which needs a committed database, so they
are slower); the others call the handler's in-thread cycle with the lean chain, in the test's
own thread and transaction, as Django's test client calls its handler.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from studies.ingest import ingest_bytes
from studies.models import AuditEvent, Instance
from tests.dicom_files import make_ct, sample_path, to_bytes
from tests.dicomweb.asgi import asgi_get, basic, http_scope
from tests.emr.conftest import STUDY_A, STUDY_C, integration, studies  # noqa: F401 (fixtures)
from tests.emr.links import signed_link
from viewerproject import http_handler
from viewerproject.asgi import django_asgi_app
from viewerproject.http_handler import LEAN_SKIPPED, Handler
from viewerproject.session_idle import TOUCHED

pytestmark = pytest.mark.django_db
through_asgi = pytest.mark.django_db(transaction=True)

PASSWORD = "reader-pass-123"
JPEG = ("Accept", "image/jpeg")


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # remembered Basic logins and audit windows
    yield
    cache.clear()


@pytest.fixture
def reader() -> User:
    return User.objects.create_user("reader", password=PASSWORD)


@pytest.fixture
def ct() -> str:
    """The instance path of a stored CT slice."""
    result = ingest_bytes(sample_path("CT_small.dcm").read_bytes(), Instance.Source.IMPORT)
    assert result.ok, result.reason
    return instance_path(result.study_instance_uid)


@pytest.fixture
def lean_requests(monkeypatch) -> list[str]:
    """The paths the lean chain served (a spy on the application's own handler)."""
    served: list[str] = []
    chain = django_asgi_app._lean
    original = chain.get_response

    def counting(request):
        served.append(request.path)
        return original(request)

    monkeypatch.setattr(chain, "get_response", counting)
    return served


def instance_path(study: str) -> str:
    instance = Instance.objects.select_related("series").get(
        series__study__study_instance_uid=study
    )
    series = instance.series.series_instance_uid
    return f"/dicomweb/studies/{study}/series/{series}/instances/{instance.sop_instance_uid}"


@contextmanager
def connections_kept() -> Iterator[None]:
    """As Django's test client: the request signals do not close the test's connection
    (its transaction would go with it)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def lean_get(path: str, *headers: tuple[str, str], query: str = "", handler=None) -> HttpResponse:
    """A GET served by the lean chain, in this thread (the handler's ``_respond``)."""
    match = http_handler._route(settings.ROOT_URLCONF, path)
    assert match is not None and getattr(match.func, http_handler.LEAN, False), path
    with connections_kept():
        return (handler or django_asgi_app)._respond(
            http_scope(path, headers, query), io.BytesIO(), match
        )


def session_cookie(client: Client) -> tuple[str, str]:
    name = settings.SESSION_COOKIE_NAME
    return "Cookie", f"{name}={client.cookies[name].value}"


def logged_in(user: User) -> tuple[str, str]:
    client = Client()
    client.force_login(user)
    return session_cookie(client)


# --- the same answers ------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["basic", "session"])
def test_the_lean_chain_answers_exactly_as_the_full_chain(reader, ct, login):
    credentials = basic("reader", PASSWORD) if login == "basic" else logged_in(reader)
    path = ct + "/frames/1/rendered"
    query = "window=40,400,linear&quality=80"

    with connections_kept():
        full = django_asgi_app._respond(http_scope(path, (credentials, JPEG), query), io.BytesIO())
    lean = lean_get(path, credentials, JPEG, query=query)

    assert full.status_code == lean.status_code == 200
    assert sorted(full.items()) == sorted(lean.items())
    assert full.content == lean.content and lean.content[:2] == b"\xff\xd8"


@through_asgi
def test_a_rendered_frame_takes_the_lean_chain_with_every_security_header(
    reader, ct, lean_requests
):
    path = ct + "/frames/1/rendered"
    answer = asgi_get(path, basic("reader", PASSWORD), JPEG, query="window=40,400,linear")

    assert answer.status == 200 and answer.body[:2] == b"\xff\xd8"
    assert lean_requests == [path]
    assert answer.header("Content-Type") == "image/jpeg"
    assert answer.header("Cache-Control") == "private, max-age=3600"
    assert "Accept" in answer.header("Vary") and answer.header("ETag")
    assert answer.header("X-Content-Type-Options") == "nosniff"
    assert answer.header("X-Frame-Options") == "DENY"
    assert "default-src 'self'" in answer.header("Content-Security-Policy")
    assert answer.header("Content-Length") == str(len(answer.body))


@through_asgi
def test_thumbnails_and_metadata_take_it_too_but_streams_and_other_methods_do_not(
    reader, ct, lean_requests
):
    credentials = basic("reader", PASSWORD)
    assert asgi_get(ct + "/thumbnail", credentials).status == 200
    assert asgi_get(ct + "/metadata", credentials).status == 200
    assert asgi_get(ct + "/frames/1", credentials).status == 200  # a multipart stream
    head = asgi_get(ct + "/rendered", credentials, method="HEAD")
    post = asgi_get(ct + "/rendered", credentials, method="POST")

    assert lean_requests == [ct + "/thumbnail", ct + "/metadata"]
    assert head.status == post.status == 405  # the full chain's answer, as before


@through_asgi
def test_a_refusal_through_the_server_is_the_lean_chains_too(ct, lean_requests):
    answer = asgi_get(ct + "/frames/1/rendered", JPEG)

    assert answer.status == 401 and lean_requests == [ct + "/frames/1/rendered"]
    assert answer.header("WWW-Authenticate") == 'Basic realm="DICOMweb"'


# --- the same refusals -----------------------------------------------------------------------


def test_no_login_is_challenged(ct):
    response = lean_get(ct + "/frames/1/rendered", JPEG)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="DICOMweb"'
    assert response.content == b"Log in, or send HTTP Basic credentials."


def test_wrong_basic_credentials_are_challenged(reader, ct):
    response = lean_get(ct + "/frames/1/rendered", basic("reader", "not-the-password"))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="DICOMweb"'


def test_an_inactive_user_is_refused_by_session_and_by_a_remembered_basic_login(reader, ct):
    cookie = logged_in(reader)
    credentials = basic("reader", PASSWORD)
    assert lean_get(ct + "/rendered", credentials).status_code == 200  # remembered from now on
    assert lean_get(ct + "/rendered", cookie).status_code == 200

    User.objects.filter(pk=reader.pk).update(is_active=False)

    assert lean_get(ct + "/rendered", credentials).status_code == 401
    assert lean_get(ct + "/rendered", cookie).status_code == 401


def test_a_session_past_its_idle_timeout_is_refused(reader, ct):
    cookie = logged_in(reader)
    assert lean_get(ct + "/thumbnail", cookie).status_code == 200

    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))

    assert lean_get(ct + "/thumbnail", cookie).status_code == 401


def test_a_lean_request_slides_the_idle_timeout_like_any_other(reader, ct):
    cookie = logged_in(reader)
    session = Session.objects.get()
    data = session.get_decoded()
    data[TOUCHED] = int(time.time()) - settings.SESSION_TOUCH_SECONDS - 1
    session.session_data = Session.objects.encode(data)
    session.expire_date = timezone.now() + timedelta(seconds=60)
    session.save()

    response = lean_get(ct + "/thumbnail", cookie)

    assert response.status_code == 200
    remaining = Session.objects.get().expire_date - timezone.now()
    assert remaining > timedelta(seconds=settings.SESSION_COOKIE_AGE - 30)
    assert settings.SESSION_COOKIE_NAME in response.cookies
    assert "Cookie" in response["Vary"]


def test_a_launched_session_sees_its_study_and_nothing_else(integration, studies):  # noqa: F811
    client = Client()
    assert client.get(signed_link(studyUID=STUDY_A)).status_code == 302
    cookie = session_cookie(client)

    own = lean_get(instance_path(STUDY_A) + "/frames/1/rendered", cookie, JPEG)
    other = lean_get(instance_path(STUDY_C) + "/frames/1/rendered", cookie, JPEG)
    other_metadata = lean_get(instance_path(STUDY_C) + "/metadata", cookie)

    assert own.status_code == 200
    assert other.status_code == other_metadata.status_code == 403
    assert b"EMR" in other.content


def test_a_deleted_instance_is_not_found_though_it_was_just_shown(reader, ct):
    credentials = basic("reader", PASSWORD)
    assert lean_get(ct + "/frames/1/rendered", credentials).status_code == 200

    Instance.objects.all().delete()
    response = lean_get(ct + "/frames/1/rendered", credentials)

    assert response.status_code == 404
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_errors_keep_their_status_and_sentence(reader, ct):
    credentials = basic("reader", PASSWORD)
    not_an_image = lean_get(ct + "/rendered", credentials, ("Accept", "application/dicom"))
    bad_window = lean_get(ct + "/rendered", credentials, query="window=40")
    no_frame = lean_get(ct + "/frames/9/rendered", credentials)

    assert (not_an_image.status_code, bad_window.status_code, no_frame.status_code) == (
        406,
        400,
        404,
    )
    assert b"image/jpeg or image/png" in not_an_image.content
    assert b"window" in bad_window.content and b"Frame 9 does not exist" in no_frame.content


def test_other_studies_images_are_not_mixed_up_by_the_remembered_match(reader):
    for study in ("1.2.3.4.1", "1.2.3.4.2"):
        result = ingest_bytes(to_bytes(make_ct(study_uid=study)), Instance.Source.IMPORT)
        assert result.ok, result.reason
    credentials = basic("reader", PASSWORD)
    one, two = instance_path("1.2.3.4.1"), instance_path("1.2.3.4.2")
    swapped = one.rsplit("/", 1)[0] + "/" + two.rsplit("/", 1)[1]  # series of 1, instance of 2

    assert lean_get(one + "/metadata", credentials).status_code == 200
    assert lean_get(two + "/metadata", credentials).status_code == 200
    assert lean_get(swapped + "/metadata", credentials).status_code == 404


# --- audit -----------------------------------------------------------------------------------


def test_a_lean_read_is_audited_once_per_window(reader, ct):
    credentials = basic("reader", PASSWORD)
    for center in (10, 20, 30):
        query = f"window={center},400"
        assert lean_get(ct + "/frames/1/rendered", credentials, query=query).status_code == 200

    events = list(AuditEvent.objects.filter(kind=AuditEvent.Kind.IMAGE_SESSION))
    assert len(events) == 1
    assert events[0].who == "reader" and events[0].detail == "DICOMweb WADO-RS frame rendered"


# --- the chain itself ------------------------------------------------------------------------


def test_the_lean_chain_is_every_middleware_but_the_documented_skips():
    kept = [path for path in settings.MIDDLEWARE if path not in LEAN_SKIPPED]

    assert django_asgi_app._lean.middleware_paths == kept
    # A skip names a middleware the project uses, with its reason.
    assert set(LEAN_SKIPPED) <= set(settings.MIDDLEWARE)
    assert all(len(reason) > 40 for reason in LEAN_SKIPPED.values())


class StampMiddleware:
    """A middleware added to the project later: it must run on lean requests too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request) -> HttpResponse:
        response = self.get_response(request)
        response["X-Stamp"] = "added later"
        return response


def test_a_middleware_added_later_runs_on_lean_requests(reader, ct, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.StampMiddleware"]

    response = lean_get(ct + "/thumbnail", basic("reader", PASSWORD), handler=Handler())

    assert response.status_code == 200 and response["X-Stamp"] == "added later"
