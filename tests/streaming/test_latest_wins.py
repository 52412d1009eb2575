"""Latest wins: a new ``view`` for a viewport ends the older one's pixels at once."""

import pytest

from studies.streaming.protocol import Kind
from tests.streaming.client import Viewer, of_kind, view

pytestmark = pytest.mark.django_db(transaction=True)

FULL = [0, 0, 4096, 4096]  # at scale 1: 256 level-0 tiles, far from done when request 2 lands


async def test_no_pixels_of_a_superseded_view_arrive_after_the_new_views_first_message(
    clinician, large_ct
):
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, large_ct.instance, region=FULL, scale=1.0, window=[1000, 2000]))
    first = await viewer.receive()
    assert first.type == "preview" and first.request == 1
    # A window drag: same viewport, new window, before request 1 has sent its tiles.
    await viewer.send(**view(2, large_ct.instance, region=FULL, scale=0.05, window=[500, 800]))
    messages = await viewer.until_done(2)
    await viewer.close()

    second_starts = next(i for i, m in enumerate(messages) if m.request == 2)
    assert all(m.request == 2 for m in messages[second_starts:])
    # Request 1 was cut short: neither all its tiles nor its done were sent.
    old = [m for m in messages if m.request == 1]
    assert len(of_kind(old, Kind.TILE)) < 256
    assert not any(m.json and m.json["type"] == "done" for m in old)
    assert [m.type for m in messages[second_starts:]][0] == "preview"
    assert messages[-1].json["type"] == "done"


async def test_views_of_other_viewports_are_not_cancelled(clinician, phantom_slices):
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, phantom_slices[0].instance, viewport=0, quality="diagnostic"))
    await viewer.send(**view(2, phantom_slices[1].instance, viewport=1, quality="diagnostic"))
    done = set()
    while done != {1, 2}:
        message = await viewer.receive()
        if message.json and message.json["type"] == "done":
            done.add(message.json["request"])
    await viewer.close()


async def test_cancel_stops_a_viewport_and_the_socket_stays_usable(clinician, large_ct):
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, large_ct.instance, region=FULL, scale=1.0))
    assert (await viewer.receive()).type == "preview"
    await viewer.send(type="cancel", viewport=0)
    await viewer.send(type="ping")
    # Whatever of request 1 was already on the wire may come first; then the pong, and
    # nothing of request 1 after it.
    while (message := await viewer.receive()).json != {"type": "pong"}:
        assert message.request == 1
    assert await viewer.socket.receive_nothing(timeout=0.5)
    await viewer.close()
