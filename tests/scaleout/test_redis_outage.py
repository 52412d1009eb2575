"""Redis (the channel layer) stops for a few seconds: ingest does not depend on it, so nothing
sent meanwhile is lost; when it is back, viewers reconnect, see everything, and hear live
events again."""

from __future__ import annotations

import json

import pytest
import websockets

from tests.load.client import Socket, login, reconnect, series_instances
from tests.scaleout.conftest import (
    SUCCESS,
    http_get,
    indexed,
    new_instances,
    send,
    wait_for,
)

pytestmark = pytest.mark.scaleout


async def test_redis_outage_loses_no_instance_and_viewers_recover(deployment, study):
    cookie = login(deployment.base_url, deployment.login.username, deployment.login.password)
    socket = await Socket.open(deployment.ws_url, deployment.base_url, cookie)
    await socket.open_study(study.uid)

    deployment.redis.stop()
    try:
        during = new_instances(study.uid, study.series, 4, start=100)
        # C-STORE answers Success only once an instance is durable and indexed; the live
        # event is best effort and is dropped (logged) while the layer is unreachable.
        assert send(deployment, during) == [SUCCESS] * 4
        status, body = http_get(f"{deployment.base_url}/healthz")
        assert status == 503
        health = json.loads(body)
        assert health["database"] == "ok"
        assert health["channel_layer"].startswith("error")
    finally:
        deployment.redis.start()  # same port, empty memory: a restarted Redis
        try:
            while True:  # whatever the old socket still says, until it is closed
                await socket.receive(timeout=2)
        except (websockets.exceptions.ConnectionClosed, TimeoutError):
            pass
        await socket.close()

    wait_for(
        lambda: http_get(f"{deployment.base_url}/healthz")[0] == 200, 30, "healthz after Redis"
    )
    viewer = await reconnect(deployment.ws_url, deployment.base_url, cookie)
    try:
        # Every instance is there: the five from before and the four sent during the outage.
        outline = await viewer.open_study(study.uid)
        listed = {i["uid"] for i in series_instances(outline)}
        sent = set(study.instances) | {str(ds.SOPInstanceUID) for ds in during}
        assert listed == sent
        assert sorted(indexed(deployment, study.uid)) == sorted(sent)
        first = series_instances(outline)[0]
        await viewer.view(first["uid"], first["rows"], first["columns"])

        # Live events flow again: a new instance is announced to the open viewer.
        after = new_instances(study.uid, study.series, 1, start=200)
        assert send(deployment, after) == [SUCCESS]
        announced = str(after[0].SOPInstanceUID)
        for _ in range(50):
            message = await viewer.receive(timeout=10)
            if message.json and message.json.get("instance") == announced:
                assert message.json["type"] == "instance_stored"
                break
        else:
            pytest.fail("the new instance was never announced")
    finally:
        await viewer.close()
