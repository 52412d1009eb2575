"""The ASGI application: HTTP through Django, websockets behind the origin check."""

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator

from viewerproject.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def test_http_is_served_through_the_asgi_application():
    communicator = HttpCommunicator(
        application, "GET", "/healthz", headers=[(b"host", b"127.0.0.1")]
    )
    response = await communicator.get_response(timeout=10)
    assert response["status"] == 200
    assert b'"database": "ok"' in response["body"]


async def test_websocket_from_a_foreign_origin_is_refused():
    communicator = WebsocketCommunicator(
        application, "/ws/anything/", headers=[(b"origin", b"https://evil.example.com")]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected is False
    await communicator.disconnect()
