"""One scale-out deployment per test session (per xdist worker): PostgreSQL, Redis, nginx over
two uvicorn processes, the DICOM listener and two retrieve workers, all real processes on
loopback (tests/services/scaled.py). Tests break pieces of it on purpose; the ``deployment``
fixture puts every piece back before the next test.

Nothing here touches pytest-django's test database: the tests look at the deployment through
its front door (HTTP, websocket, DICOM) and at its own PostgreSQL with SQL.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydicom.uid import generate_uid

from tests.dicom_files import make_ct
from tests.load.senders import store
from tests.services.processes import wait_until
from tests.services.scaled import Deployment, missing

AE_TITLE = "SCALEOUT"
SENDER = "SCALESENDER"
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700


def require_services() -> None:
    reason = missing()
    if not reason:
        return
    if os.environ.get("REQUIRE_PEERS", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"the scale-out services are required (REQUIRE_PEERS) but {reason}")
    pytest.skip(reason)


def http_get(url: str, cookie: str = "", timeout: float = 20) -> tuple[int, bytes]:
    """Status and body of a GET; an HTTP error status is an answer, not an exception."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="session")
def running_deployment() -> Iterator[Deployment]:
    require_services()
    deployment = Deployment(
        show_upstream=True,
        env={
            "DICOM_AE_TITLE": AE_TITLE,
            # A killed worker's job is taken over after 5 s rather than a minute.
            "RETRIEVE_LEASE_SECONDS": "5",
            "RETRIEVE_BACKOFF_SECONDS": "0",
            "LOG_LEVEL": "INFO",
        },
    )
    with deployment:
        deployment.manage("pacs", "allow", SENDER, "--host", "127.0.0.1")
        yield deployment


def _restore(deployment: Deployment) -> None:
    """Start again whatever a test stopped or killed."""
    if not deployment.pg.service or not deployment.pg.service.running():
        deployment.pg.start()
    if not deployment.redis.running():
        deployment.redis.start()
    for index, service in enumerate(deployment.asgi):
        if not service.running():
            service.stop()  # reap the dead group (decode workers)
            deployment.start_asgi(index)
    if deployment.listener is not None and not deployment.listener.running():
        deployment.listener.stop()
        deployment.start_listener()
    for worker in deployment.workers:
        if not worker.running():
            worker.stop()
            worker.start()
    deployment.wait_healthy(timeout=60)


@pytest.fixture
def deployment(running_deployment: Deployment) -> Iterator[Deployment]:
    _restore(running_deployment)
    yield running_deployment
    _restore(running_deployment)


@dataclass
class Study:
    uid: str
    series: str
    instances: list[str]


def new_instances(study_uid: str, series_uid: str, count: int, size: int = 64, start: int = 1):
    return [
        make_ct(
            study_uid=study_uid,
            series_uid=series_uid,
            sop_uid=generate_uid(),
            instance_number=start + n,
            rows=size,
            columns=size,
        )
        for n in range(count)
    ]


def send(deployment: Deployment, datasets) -> list[int | None]:
    return store("127.0.0.1", deployment.dicom_port, AE_TITLE, datasets, calling_ae=SENDER)


@pytest.fixture
def study(deployment: Deployment) -> Study:
    """A new five-slice CT study stored through the listener."""
    uid, series = generate_uid(), generate_uid()
    datasets = new_instances(uid, series, 5, size=128)
    assert send(deployment, datasets) == [SUCCESS] * 5
    return Study(uid, series, [str(ds.SOPInstanceUID) for ds in datasets])


def indexed(deployment: Deployment, study_uid: str) -> list[str]:
    """SOP Instance UIDs indexed for a study, one per row (duplicates would show)."""
    rows = deployment.pg.execute(
        "SELECT i.sop_instance_uid FROM studies_instance i "
        "JOIN studies_series s ON s.id = i.series_id "
        "JOIN studies_study t ON t.id = s.study_id WHERE t.study_instance_uid = %s",
        (study_uid,),
    )
    return [row[0] for row in rows]


def wait_for(condition, timeout: float, what: str):
    return wait_until(condition, timeout, what, interval=0.05)


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
