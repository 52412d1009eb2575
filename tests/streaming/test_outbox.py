"""The send queue: order kept, bounded, stale messages of a viewport never sent."""

import asyncio

import pytest

from studies.streaming.outbox import Outbox, OutboxOverflow


class Wire:
    """The far side: records what was sent; ``hold`` makes ``send`` wait like a full socket."""

    def __init__(self):
        self.sent = []
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def send(self, data):
        await self.flowing.wait()
        self.sent.append(data)


async def drained(outbox):
    async with asyncio.timeout(5):
        while outbox.queued_bytes:
            await asyncio.sleep(0)


async def test_messages_leave_in_order():
    wire = Wire()
    outbox = Outbox(wire.send)
    sender = asyncio.create_task(outbox.run())
    outbox.supersede(0, 1)
    await outbox.put_pixels(b"preview", 0, 1)
    outbox.put_text("pong")
    await outbox.put_pixels(b"tile", 0, 1)
    outbox.put_text("done", 0, 1)
    await drained(outbox)
    outbox.close()
    await sender
    assert wire.sent == [b"preview", "pong", b"tile", "done"]


async def test_a_full_queue_makes_the_producer_wait_until_there_is_room():
    wire = Wire()
    wire.flowing.clear()
    outbox = Outbox(wire.send, max_bytes=100)
    sender = asyncio.create_task(outbox.run())
    outbox.supersede(0, 1)
    assert await outbox.put_pixels(b"a" * 60, 0, 1)
    # The first message is now stuck in send; the second one still fits.
    assert await outbox.put_pixels(b"b" * 40, 0, 1)
    third = asyncio.create_task(outbox.put_pixels(b"c" * 10, 0, 1))
    await asyncio.sleep(0.05)
    assert not third.done() and outbox.waiting == 1
    assert outbox.queued_bytes == 100
    wire.flowing.set()
    assert await third
    await drained(outbox)
    assert wire.sent == [b"a" * 60, b"b" * 40, b"c" * 10]
    assert outbox.high_water == 100
    outbox.close()
    await sender


async def test_an_empty_queue_takes_one_message_larger_than_the_bound():
    wire = Wire()
    outbox = Outbox(wire.send, max_bytes=10)
    sender = asyncio.create_task(outbox.run())
    outbox.supersede(0, 1)
    assert await outbox.put_pixels(b"x" * 1000, 0, 1)
    await drained(outbox)
    assert wire.sent == [b"x" * 1000]
    outbox.close()
    await sender


async def test_superseding_a_viewport_drops_its_queued_messages_and_frees_a_waiting_producer():
    wire = Wire()
    wire.flowing.clear()
    outbox = Outbox(wire.send, max_bytes=200)
    sender = asyncio.create_task(outbox.run())
    outbox.supersede(0, 1)
    outbox.supersede(1, 1)
    await outbox.put_pixels(b"old preview", 0, 1)  # in flight
    await outbox.put_pixels(b"o" * 80, 0, 1)
    await outbox.put_pixels(b"other viewport", 1, 1)
    waiting = asyncio.create_task(outbox.put_pixels(b"o" * 120, 0, 1))
    await asyncio.sleep(0)
    assert outbox.waiting == 1
    outbox.supersede(0, 2)
    assert await waiting is False
    outbox.put_text("stale done", 0, 1)
    outbox.put_text("new done", 0, 2)
    wire.flowing.set()
    await drained(outbox)
    assert wire.sent == [b"old preview", b"other viewport", "new done"]
    assert outbox.dropped == 3
    outbox.close()
    await sender


async def test_a_client_that_never_reads_overflows_the_control_messages():
    wire = Wire()
    wire.flowing.clear()
    outbox = Outbox(wire.send, max_messages=3)
    sender = asyncio.create_task(outbox.run())
    for _ in range(3):
        outbox.put_text("pong")
    await asyncio.sleep(0)  # the first one is taken into send, where it stays
    outbox.put_text("pong")
    with pytest.raises(OutboxOverflow):
        outbox.put_text("pong")
    outbox.close()
    sender.cancel()


async def test_offered_pixels_are_queued_only_for_a_current_request_with_room():
    # The preview handed over from a render thread (progressive._preview_then_tiles) is
    # offered, never waited for: a stale or a full queue refuses it and queues nothing.
    wire = Wire()
    wire.flowing.clear()
    outbox = Outbox(wire.send, max_bytes=100)
    sender = asyncio.create_task(outbox.run())
    outbox.supersede(0, 2)
    assert not outbox.offer_pixels(b"old" * 10, 0, 1)  # a superseded request
    assert outbox.offer_pixels(b"a" * 1000, 0, 2)  # an empty queue takes one, however large
    await asyncio.sleep(0)  # now stuck in send
    assert not outbox.offer_pixels(b"b" * 10, 0, 2)  # no room: refused, not queued
    assert outbox.queued_bytes == 1000 and outbox.waiting == 0
    wire.flowing.set()
    await drained(outbox)
    assert outbox.offer_pixels(b"c" * 60, 0, 2)
    await drained(outbox)
    assert wire.sent == [b"a" * 1000, b"c" * 60]
    outbox.close()
    await sender
