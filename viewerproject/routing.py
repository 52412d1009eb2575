"""Websocket routes, behind the origin check and session authentication of ``asgi.py``."""

from django.urls import path

from studies.streaming.consumer import ViewerConsumer

websocket_urlpatterns = [
    # PROTOCOL.md: one socket per open viewer page.
    path("ws/viewer/", ViewerConsumer.as_asgi()),
]
