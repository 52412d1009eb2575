"""A client that does not read: its send queue stays bounded, its stale tiles are dropped,
and other sockets are served meanwhile.

The slow network is modelled where a real one acts: the ASGI ``send`` of this socket does not
return until the test lets a message through, as a server's send does when it waits for the
socket to drain.
"""

import asyncio

import pytest
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from studies.streaming.consumer import ViewerConsumer
from studies.streaming.protocol import Kind
from tests.streaming.client import Viewer, of_kind, view

pytestmark = pytest.mark.django_db(transaction=True)

BUFFER = 64 * 1024


class SmallBufferConsumer(ViewerConsumer):
    send_buffer_bytes = BUFFER
    opened: list["SmallBufferConsumer"] = []

    async def connect(self):
        type(self).opened.append(self)
        await super().connect()


class Gate:
    """An ASGI wrapper whose ``websocket.send`` waits until the test opens the gate."""

    def __init__(self, app):
        self.app = app
        self.open = asyncio.Event()
        self.held = 0  # messages the server is trying to send right now

    async def __call__(self, scope, receive, send):
        async def gated_send(message):
            if message["type"] == "websocket.send":
                self.held += 1
                await self.open.wait()
                self.held -= 1
            await send(message)

        await self.app(scope, receive, gated_send)


async def until(condition, timeout=20.0):
    """Wait for a condition of the server's state, checking on every loop turn."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


async def test_a_client_that_stops_reading_holds_a_bounded_queue_and_loses_stale_tiles(
    clinician, large_ct
):
    SmallBufferConsumer.opened.clear()
    gate = Gate(URLRouter([path("ws/viewer/", SmallBufferConsumer.as_asgi())]))
    app = AllowedHostsOriginValidator(AuthMiddlewareStack(gate))
    slow = await Viewer.open(clinician, app=app)
    (consumer,) = SmallBufferConsumer.opened
    outbox = consumer.outbox

    await slow.send(**view(1, large_ct.instance, region=[0, 0, 4096, 4096], scale=1.0))
    # The preview is stuck in the server's send; tiles fill the queue up to its bound and
    # then the renderer of this socket waits.
    await until(lambda: gate.held == 1 and outbox.waiting == 1)
    assert BUFFER / 2 < outbox.queued_bytes <= outbox.high_water <= BUFFER
    rendered_while_stuck = outbox.high_water
    assert consumer.session.slots.running == 0  # no render thread is held by this socket

    # Meanwhile another clinician's socket is served in full.
    fast = await Viewer.open(clinician)
    await fast.send(**view(1, large_ct.instance, region=[0, 0, 4096, 4096], scale=0.05))
    assert [m.type for m in await fast.until_done(1)][-1] == "done"
    await fast.close()
    assert outbox.high_water == rendered_while_stuck  # the slow socket did not grow

    # The slow client moves on: everything queued for request 1 is dropped at once.
    await slow.send(**view(2, large_ct.instance, region=[0, 0, 4096, 4096], scale=0.05))
    await until(lambda: outbox.dropped > 0 and outbox.waiting == 0)
    gate.open.set()
    messages = await slow.until_done(2)
    await slow.close()

    old = [m for m in messages if m.request == 1]
    assert [m.type for m in old] == ["preview"]  # only what was already in the server's send
    assert of_kind(messages, Kind.TILE)[0].request == 2
    assert messages[-1].json["type"] == "done"


class TinyBufferConsumer(ViewerConsumer):
    send_buffer_bytes = 1  # any message on its way fills the queue
    opened: list["TinyBufferConsumer"] = []

    async def connect(self):
        type(self).opened.append(self)
        await super().connect()


async def test_a_window_change_whose_preview_finds_the_queue_full_still_sends_it_first(
    clinician, phantom_slices
):
    # A full-resolution window change hands its preview over from the render thread
    # without waiting (progressive._preview_then_tiles); when the queue has no room the
    # view waits for it after the render, and the preview still leaves before the tiles.
    TinyBufferConsumer.opened.clear()
    gate = Gate(URLRouter([path("ws/viewer/", TinyBufferConsumer.as_asgi())]))
    app = AllowedHostsOriginValidator(AuthMiddlewareStack(gate))
    slow = await Viewer.open(clinician, app=app)
    (consumer,) = TinyBufferConsumer.opened
    outbox = consumer.outbox
    instance = phantom_slices[0].instance

    await slow.send(**view(1, instance, window=[40, 400]))
    await until(lambda: gate.held == 1 and outbox.waiting == 1)  # its tiles wait for room
    stuck = outbox.queued_bytes  # request 1's preview, in the server's send
    await slow.send(**view(2, instance, window=[60, 400]))
    await until(lambda: outbox.waiting == 0)  # request 1 gave up
    await until(lambda: outbox.waiting == 1 and consumer.session.slots.running == 0)
    assert outbox.queued_bytes == stuck  # request 2's preview was refused, not queued
    gate.open.set()
    messages = await slow.until_done(2)
    await slow.close()

    assert [m.type for m in messages if m.request == 1] == ["preview"]
    mine = [m.type for m in messages if m.request == 2]
    assert mine == ["preview", "tile", "lossless", "done"]
