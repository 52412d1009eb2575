"""The load generator's reader paces its requests as the browser does (viewer.js,
viewport.js, view-pacer.js): whole-stack previews once, wheel steps from memory, the sharp
view after a rest, one view in flight. Driven without a server: the socket only records."""

from __future__ import annotations

import asyncio
import json

from tests.load.reader import Pace, Reader


class RecordingSocket:
    """Stands in for the network: keeps what the reader sends."""

    upstream = ""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.next_request = 1

    def request_id(self) -> int:
        self.next_request += 1
        return self.next_request - 1

    async def send(self, **message) -> None:
        self.sent.append(json.loads(json.dumps(message)))


def _study(slices: int) -> dict:
    instances = [{"uid": f"1.2.{i}", "rows": 512, "columns": 512} for i in range(slices)]
    return {"series": [{"instances": instances}]}


def _reader(slices: int = 10) -> tuple[Reader, RecordingSocket]:
    socket = RecordingSocket()
    reader = Reader(socket, _study(slices), Pace(), seed=1, measure_from=0.0)
    reader.index = 4
    return reader, socket


def _types(socket: RecordingSocket) -> list[str]:
    return [message["type"] for message in socket.sent]


def test_first_view_asks_whole_stack_previews_nearest_first():
    async def scenario():
        reader, socket = _reader()
        reader._show(step=False)
        await asyncio.sleep(0)
        return socket

    socket = asyncio.run(scenario())
    assert _types(socket) == ["view", "previews"]
    items = [uid for uid, _ in socket.sent[1]["items"]]
    assert items[:4] == ["1.2.4", "1.2.5", "1.2.6", "1.2.3"]  # on show, two ahead, one behind
    assert sorted(items) == sorted(f"1.2.{i}" for i in range(10))


def test_held_slice_is_shown_at_once_and_sharp_view_waits_for_rest():
    async def scenario():
        reader, socket = _reader()
        reader.cached = {(f"1.2.{i}", "None") for i in range(10)}
        reader.stack_asked = "None"
        reader.index = 5
        reader._show(step=True)
        await asyncio.sleep(0.05)
        before_rest = list(socket.sent)
        await asyncio.sleep(0.12)
        return reader, before_rest, socket

    reader, before_rest, socket = asyncio.run(scenario())
    assert reader.result.steps == [0.0]
    assert before_rest == []
    assert _types(socket) == ["view"]
    assert socket.sent[0]["instance"] == "1.2.5"


def test_one_view_in_flight_newest_waiting_leaves_on_answer():
    async def scenario():
        reader, socket = _reader()
        reader.stack_asked = "None"
        for index in (5, 6, 7):
            reader.index = index
            reader._show(step=True)  # not held: asks at once, through the pacer
        await asyncio.sleep(0)
        first = list(socket.sent)
        reader._answered(reader.in_flight)
        await asyncio.sleep(0)
        return reader, first, socket

    reader, first, socket = asyncio.run(scenario())
    assert [m["instance"] for m in first] == ["1.2.5"]
    assert [m["instance"] for m in socket.sent] == ["1.2.5", "1.2.7"]  # 6 was replaced
    assert reader.result.held == 1


def test_instances_stored_without_pause_refresh_the_outline_every_half_second():
    # A modality storing every 250 ms: the browser (coalesce.js) refreshes every 500 ms;
    # restarting a timer on each message would never refresh.
    async def scenario():
        reader, socket = _reader()
        reader.study_uid = "1.2.840.1"
        for _ in range(9):  # 2 s of arrivals
            reader._instance_stored()
            await asyncio.sleep(0.25)
        return socket

    socket = asyncio.run(scenario())
    refreshes = [m for m in socket.sent if m["type"] == "open_study"]
    assert len(refreshes) in (4, 5)
    assert {m["study"] for m in refreshes} == {"1.2.840.1"}
