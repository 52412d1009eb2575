"""Websocket routes. Empty until the streaming consumer lands; kept so the ASGI stack
(origin check, session auth) is in place and tested from the start."""

websocket_urlpatterns: list = []
