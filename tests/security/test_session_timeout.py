"""Automatic logoff: an idle session ends, and an open viewer socket closes with it."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.sessions.models import Session
from django.utils import timezone

from tests.streaming.client import communicator
from viewerproject.session_idle import TOUCHED
from viewerproject.websocket_session import CLOSE_SESSION_ENDED


def _shorten_session(client, seconds: int, touched: int) -> None:
    session = client.session
    session[TOUCHED] = touched
    session.save()
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=seconds))


@pytest.mark.django_db
def test_a_request_after_the_touch_interval_slides_the_expiry(clinician_client, settings):
    assert settings.SESSION_COOKIE_AGE <= 30 * 60  # the default inactivity limit
    _shorten_session(clinician_client, 60, touched=0)
    assert clinician_client.get("/").status_code == 200
    remaining = Session.objects.get().expire_date - timezone.now()
    assert remaining > timedelta(seconds=settings.SESSION_COOKIE_AGE - 30)


@pytest.mark.django_db
def test_requests_within_the_touch_interval_do_not_write_the_session(clinician_client):
    _shorten_session(clinician_client, 60, touched=int(time.time()))
    assert clinician_client.get("/").status_code == 200
    remaining = Session.objects.get().expire_date - timezone.now()
    assert remaining < timedelta(seconds=61)


@pytest.mark.django_db
def test_login_through_the_form_records_the_touch(client, clinician):
    client.post("/accounts/login/", {"username": "clinician", "password": "clinician-pass-123"})
    assert abs(client.session[TOUCHED] - time.time()) < 60


@pytest.mark.django_db
def test_an_expired_session_sends_the_page_to_login(clinician_client):
    clinician_client.get("/")
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = clinician_client.get("/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def _expire_all_sessions() -> None:
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db(transaction=True)
async def test_open_socket_closes_when_the_session_expires(clinician, settings):
    settings.SESSION_SOCKET_CHECK_SECONDS = 0.1
    socket = await communicator(clinician)
    connected, _ = await socket.connect()
    assert connected
    await asyncio.sleep(0.3)
    assert await socket.receive_nothing(timeout=0.2)  # still open while the session lives
    await database_sync_to_async(_expire_all_sessions)()
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": CLOSE_SESSION_ENDED}
    await socket.wait(timeout=5)  # the consumer itself finished (its clean-up ran)


@pytest.mark.django_db(transaction=True)
async def test_logging_out_elsewhere_closes_the_socket(clinician, settings):
    settings.SESSION_SOCKET_CHECK_SECONDS = 0.1
    socket = await communicator(clinician)
    connected, _ = await socket.connect()
    assert connected
    await database_sync_to_async(Session.objects.all().delete)()
    closed = await socket.receive_output(timeout=5)
    assert closed["code"] == CLOSE_SESSION_ENDED
    await socket.wait(timeout=5)


@pytest.mark.django_db(transaction=True)
async def test_using_the_viewer_over_the_socket_keeps_the_session_alive(clinician, settings):
    settings.SESSION_SOCKET_CHECK_SECONDS = 0.1

    def shorten() -> None:
        Session.objects.update(expire_date=timezone.now() + timedelta(seconds=2))

    def expiry():
        return Session.objects.get().expire_date

    socket = await communicator(clinician)
    await socket.connect()
    await database_sync_to_async(shorten)()
    short = await database_sync_to_async(expiry)()
    await socket.send_json_to({"type": "hello-from-a-test"})  # any client message is activity
    await asyncio.sleep(0.5)
    assert await database_sync_to_async(expiry)() > short + timedelta(seconds=60)
    await socket.disconnect()
