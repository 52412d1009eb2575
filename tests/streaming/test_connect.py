"""Who may open the viewer socket: a logged-in, active user, from one of our own origins."""

import pytest
from channels.db import database_sync_to_async

from tests.streaming.client import Viewer, communicator

pytestmark = pytest.mark.django_db(transaction=True)


async def test_logged_in_clinician_connects_and_gets_pong(clinician):
    viewer = await Viewer.open(clinician)
    await viewer.send(type="ping")
    assert await viewer.receive_json() == {"type": "pong"}
    await viewer.close()


async def test_connection_without_a_session_is_refused():
    socket = await communicator(None)
    connected, _ = await socket.connect(timeout=10)
    assert connected is False
    await socket.disconnect()


async def test_connection_from_a_foreign_origin_is_refused_even_when_logged_in(clinician):
    socket = await communicator(clinician, origin=b"https://evil.example.com")
    connected, _ = await socket.connect(timeout=10)
    assert connected is False
    await socket.disconnect()


async def test_connection_without_an_origin_header_is_refused(clinician):
    socket = await communicator(clinician, origin=None)
    connected, _ = await socket.connect(timeout=10)
    assert connected is False
    await socket.disconnect()


async def test_deactivated_user_cannot_connect(clinician):
    clinician.is_active = False
    await database_sync_to_async(clinician.save)()
    socket = await communicator(clinician)
    connected, _ = await socket.connect(timeout=10)
    assert connected is False
    await socket.disconnect()
