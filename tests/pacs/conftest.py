"""Fixtures for the DICOM network tests: our listener in-process on a free port, DCMTK as a
real client, Orthanc as a real PACS that knows our listener (for C-MOVE and C-GET)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from pydicom.uid import generate_uid
from pynetdicom import evt

from studies import ingest_pool
from studies.models import KnownSender, PacsNode
from studies.pacs.listener import Listener
from tests.dicom_files import make_ct, to_bytes
from tests.peers.fixtures import orthanc_factory  # noqa: F401  (fixture)
from tests.peers.orthanc import OrthancPeer

# Every DICOM operation in these tests is bounded; a hung peer fails the test, not the run.
DCMTK_TIMEOUT = 60
REPO = Path(__file__).resolve().parents[2]


def wait_for(condition, timeout: float = 60, what: str = "condition"):
    """Poll ``condition`` until it is true (returned) or the timeout fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def manage_command(*args: str) -> list[str]:
    """argv to run a management command in a child process on the test database."""
    return [sys.executable, "-m", "tests.pacs.manage_process", *args]


def process_env(**overrides: str) -> dict[str, str]:
    """Environment for such a child: this test's database, archive and short timeouts."""
    return dict(
        os.environ,
        PACS_TEST_DATABASE=str(connection.settings_dict["NAME"]),
        DICOM_STORE_DIR=str(django_settings.DICOM_STORE_DIR),
        QUARANTINE_DIR=str(django_settings.QUARANTINE_DIR),
        DICOM_AE_TITLE=django_settings.DICOM_AE_TITLE,
        RETRIEVE_BACKOFF_SECONDS="0",
        DICOM_DIMSE_TIMEOUT="30",
        DICOM_NETWORK_TIMEOUT="30",
        **overrides,
    )


def require_dcmtk() -> None:
    if shutil.which("storescu") and shutil.which("echoscu") and shutil.which("findscu"):
        return
    if os.environ.get("REQUIRE_PEERS", "").lower() in {"1", "true", "yes"}:
        pytest.fail("DCMTK is required (REQUIRE_PEERS) but storescu/echoscu/findscu are missing")
    pytest.skip("DCMTK (Debian package dcmtk) is not installed")


def dcmtk(tool: str, *args: object, timeout: float = DCMTK_TIMEOUT) -> subprocess.CompletedProcess:
    """Run a DCMTK tool with Nagle off (as the benchmark does), capturing its output."""
    require_dcmtk()
    env = dict(os.environ, TCP_NODELAY="1")
    return subprocess.run(
        [tool, *(str(a) for a in args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@dataclass
class StoreLog:
    """SOP Instance UIDs of the C-STORE requests our listener received, in order."""

    uids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, event) -> None:
        command = event.message.command_set
        if command.get("CommandField") == 0x0001:  # C-STORE-RQ (PS3.7 E.1)
            with self.lock:
                self.uids.append(str(command.AffectedSOPInstanceUID))


@pytest.fixture
def ingest_processes(transactional_db):
    """Two ingest processes (studies.ingest_pool) forked with this test's settings; list it
    before ``listener`` so they fork before the listener's threads start."""
    ingest_pool.start(2)
    yield
    ingest_pool.stop()


@pytest.fixture
def listener(transactional_db) -> Listener:
    """Our listener on a free loopback port; threads write to the (file) test database."""
    with Listener(host="127.0.0.1", port=0) as running:
        yield running


@pytest.fixture
def store_log(listener) -> StoreLog:
    log = StoreLog()
    listener.server.bind(evt.EVT_DIMSE_RECV, log.record)
    return log


@pytest.fixture
def known_sender(transactional_db) -> KnownSender:
    return KnownSender.objects.create(ae_title="STORESCU", description="DCMTK in tests")


@dataclass
class Pacs:
    peer: OrthancPeer
    node: PacsNode

    def load_study(
        self,
        series: int = 1,
        per_series: int = 3,
        patient_id: str = "PAT-1",
        size: int = 16,
        **attributes,
    ) -> tuple[str, list[str], list[str]]:
        """Store a study in Orthanc; returns (study UID, series UIDs, SOP instance UIDs)."""
        study_uid = generate_uid()
        series_uids = [generate_uid() for _ in range(series)]
        sop_uids = []
        number = 0
        for series_uid in series_uids:
            for _ in range(per_series):
                number += 1
                ds = make_ct(
                    study_uid=study_uid,
                    series_uid=series_uid,
                    instance_number=number,
                    patient_id=patient_id,
                    rows=size,
                    columns=size,
                    **attributes,
                )
                self.peer.upload(to_bytes(ds))
                sop_uids.append(ds.SOPInstanceUID)
        return study_uid, series_uids, sop_uids


@pytest.fixture
def pacs(orthanc_factory, listener, settings) -> Pacs:  # noqa: F811
    """Orthanc knowing our listener as a modality (so it answers us and can C-MOVE to us),
    and a PacsNode for it that may store to us."""
    peer = orthanc_factory(
        modalities={"viewer": (settings.DICOM_AE_TITLE, "127.0.0.1", listener.port)}
    )
    node = PacsNode.objects.create(
        name="orthanc", ae_title=peer.aet, host="127.0.0.1", port=peer.dicom_port
    )
    return Pacs(peer, node)


@pytest.fixture
def fast_retries(settings):
    settings.RETRIEVE_BACKOFF_SECONDS = 0
    settings.RETRIEVE_BACKOFF_MAX_SECONDS = 0
    settings.RETRIEVE_MAX_ATTEMPTS = 2
    settings.DICOM_CONNECT_TIMEOUT = 5
    settings.DICOM_ACSE_TIMEOUT = 10
    settings.DICOM_DIMSE_TIMEOUT = 30
    settings.DICOM_NETWORK_TIMEOUT = 30
    return settings
