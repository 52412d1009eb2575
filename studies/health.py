"""GET /healthz: is the database answering, is the channel layer answering."""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _channel_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz.ping", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned a different message")


def _channel_layer_status() -> str:
    if get_channel_layer() is None:
        return "error: no channel layer configured"
    try:
        async_to_sync(_channel_round_trip)()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


@require_GET
@never_cache
def healthz(request):
    # No authentication: load balancers probe it. It reveals no data, only up or down.
    checks = {"database": _database_status(), "channel_layer": _channel_layer_status()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )
