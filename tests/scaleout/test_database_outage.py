"""The database goes away: dropped connections are replaced before a request uses them, and
while PostgreSQL is down requests fail with a clear status instead of hanging or crashing a
process; when it is back everything works again without restarting anything."""

from __future__ import annotations

import json

import pytest

from tests.load.client import Socket, ViewError, login, series_instances
from tests.scaleout.conftest import (
    SUCCESS,
    http_get,
    indexed,
    new_instances,
    send,
    wait_for,
)

pytestmark = pytest.mark.scaleout


def _qido(deployment, study_uid: str, cookie: str) -> int:
    url = f"{deployment.base_url}/dicomweb/studies?StudyInstanceUID={study_uid}"
    return http_get(url, cookie)[0]


async def test_dropped_database_connections_are_replaced_without_a_failed_request(
    deployment, study
):
    cookie = login(deployment.base_url, deployment.login.username, deployment.login.password)
    socket = await Socket.open(deployment.ws_url, deployment.base_url, cookie)
    try:
        await socket.open_study(study.uid)
        # Both ASGI servers (nginx alternates) now hold a kept database connection.
        assert [_qido(deployment, study.uid, cookie) for _ in range(6)] == [200] * 6

        dropped = deployment.pg.terminate_connections()
        assert dropped >= 2  # at least the two servers' connections

        # Each kept connection is checked before reuse (CONN_HEALTH_CHECKS), so not even the
        # first request after the drop fails.
        assert [_qido(deployment, study.uid, cookie) for _ in range(6)] == [200] * 6
        outline = await socket.open_study(study.uid)
        assert {i["uid"] for i in series_instances(outline)} == set(study.instances)
        late = new_instances(study.uid, study.series, 1, start=50)
        assert send(deployment, late) == [SUCCESS]
    finally:
        await socket.close()


async def test_database_down_fails_requests_cleanly_and_everything_recovers(deployment, study):
    cookie = login(deployment.base_url, deployment.login.username, deployment.login.password)
    socket = await Socket.open(deployment.ws_url, deployment.base_url, cookie)
    pending = new_instances(study.uid, study.series, 2, start=60)
    try:
        await socket.open_study(study.uid)
        deployment.pg.service.stop()  # PostgreSQL shuts down, every connection with it
        try:
            status, body = http_get(f"{deployment.base_url}/healthz")
            assert status == 503
            assert json.loads(body)["database"].startswith("error")
            # A page that needs the database: a server error answer, promptly, not a hang.
            assert _qido(deployment, study.uid, cookie) == 500
            # The open viewer gets an error for its request and keeps its socket.
            with pytest.raises(ViewError) as refused:
                await socket.open_study(study.uid, timeout=20)
            assert refused.value.message["code"] == "server_error"
            await socket.ping()
            # The listener cannot check who is calling, so it refuses the association: the
            # modality keeps the images and sends them again later.
            with pytest.raises(RuntimeError, match="refused the association"):
                send(deployment, pending)
        finally:
            deployment.pg.start()  # same data directory and port

        wait_for(
            lambda: http_get(f"{deployment.base_url}/healthz")[0] == 200, 30, "healthz after DB"
        )
        assert _qido(deployment, study.uid, cookie) == 200
        # The same socket, never reconnected, works again.
        outline = await socket.open_study(study.uid)
        assert {i["uid"] for i in series_instances(outline)} == set(study.instances)
        assert send(deployment, pending) == [SUCCESS, SUCCESS]
        expected = set(study.instances) | {str(ds.SOPInstanceUID) for ds in pending}
        assert sorted(indexed(deployment, study.uid)) == sorted(expected)
    finally:
        await socket.close()
