"""The project's ASGI handler (viewerproject.http_handler): the same middleware and views as
Django's, with kept worker threads and rendered images served in one thread."""

from __future__ import annotations

import base64
import threading

import pytest
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core import signals
from django.db import connection
from django.test import AsyncClient

from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import sample_path
from viewerproject.asgi import application
from viewerproject.http_handler import _marked
from viewerproject.session_idle import TOUCHED

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "reader-pass-123"


@pytest.fixture
def reader(transactional_db) -> User:
    return User.objects.create_user("reader", password=PASSWORD)


@pytest.fixture
def ct_path(transactional_db) -> str:
    result = ingest_bytes(sample_path("CT_small.dcm").read_bytes(), Instance.Source.IMPORT)
    assert result.ok, result.reason
    return (
        f"/dicomweb/studies/{result.study_instance_uid}/series/{result.series_instance_uid}"
        f"/instances/{result.sop_instance_uid}"
    )


def basic(username: str, password: str) -> tuple[bytes, bytes]:
    return b"authorization", b"Basic " + base64.b64encode(f"{username}:{password}".encode())


async def get(path: str, *headers: tuple[bytes, bytes], query: str = "") -> dict:
    """One GET through the ASGI application (HttpCommunicator cannot read a streamed answer's
    closing message, which has no body)."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "scheme": "http",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=30)
    assert start["type"] == "http.response.start"
    body = b""
    while True:
        message = await communicator.receive_output(timeout=30)
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await communicator.wait(timeout=5)
    return {"status": start["status"], "headers": start["headers"], "body": body}


def header(response: dict, name: str) -> str:
    found = [v for k, v in response["headers"] if k.decode().lower() == name.lower()]
    return found[0].decode() if found else ""


async def test_a_rendered_image_passes_every_middleware_in_its_thread(reader, ct_path):
    response = await get(ct_path + "/rendered", basic("reader", PASSWORD), query="window=40,400")

    assert response["status"] == 200, response["body"][:200]
    assert header(response, "Content-Type") == "image/jpeg"
    assert response["body"][:2] == b"\xff\xd8"
    # Set by SecurityMiddleware, CSPMiddleware and XFrameOptionsMiddleware: the sync chain ran.
    assert header(response, "X-Content-Type-Options") == "nosniff"
    assert "default-src 'self'" in header(response, "Content-Security-Policy")
    assert header(response, "X-Frame-Options") == "DENY"


async def test_rendered_images_still_need_credentials(reader, ct_path):
    anonymous = await get(ct_path + "/thumbnail")
    wrong = await get(ct_path + "/thumbnail", basic("reader", "not-the-password"))

    assert anonymous["status"] == 401 and wrong["status"] == 401
    assert header(anonymous, "WWW-Authenticate") == 'Basic realm="DICOMweb"'


async def test_requests_one_after_another_reuse_one_thread_and_its_connection(reader, ct_path):
    seen: list[tuple[int, int]] = []

    def finished(**kwargs: object) -> None:
        # request_finished closes an expired connection first (close_old_connections runs
        # before this receiver), so a live connection here is one kept for the next request.
        seen.append((threading.get_ident(), id(connection.connection)))

    signals.request_finished.connect(finished)
    try:
        for window in ("40,400", "50,400", "60,400"):
            response = await get(
                ct_path + "/rendered", basic("reader", PASSWORD), query=f"window={window}"
            )
            assert response["status"] == 200
    finally:
        signals.request_finished.disconnect(finished)

    assert len(seen) == 3
    assert len({thread for thread, _ in seen}) == 1
    assert len({conn for _, conn in seen}) == 1
    assert seen[0][0] != threading.get_ident()  # not the event loop's thread


def test_only_marked_routes_are_served_in_one_thread(ct_path):
    assert _marked("viewerproject.urls", ct_path + "/rendered")
    assert _marked("viewerproject.urls", ct_path + "/frames/1/thumbnail")
    assert _marked("viewerproject.urls", ct_path + "/metadata")
    assert not _marked("viewerproject.urls", ct_path + "/frames/1")  # a stream
    assert not _marked("viewerproject.urls", ct_path)  # a stream
    assert not _marked("viewerproject.urls", "/healthz")
    assert not _marked("viewerproject.urls", "/no/such/page")


async def test_streamed_answers_keep_the_async_path(reader, ct_path):
    response = await get(
        ct_path + "/frames/1",
        basic("reader", PASSWORD),
        (b"accept", b"multipart/related; type=application/octet-stream"),
    )
    assert response["status"] == 200, response["body"][:200]
    assert header(response, "Content-Type").startswith("multipart/related")


async def test_the_async_middleware_chain_slides_the_session_too(reader, settings):
    client = AsyncClient()
    await client.aforce_login(reader)
    session = await Session.objects.aget()
    data = session.get_decoded()
    data[TOUCHED] = 0  # long ago
    session.session_data = Session.objects.encode(data)
    await session.asave()

    response = await client.get("/")

    assert response.status_code == 200
    touched = (await Session.objects.aget()).get_decoded()[TOUCHED]
    assert touched > 0
