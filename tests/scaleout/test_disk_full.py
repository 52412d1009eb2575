"""The store's file system fills up during ingest: each C-STORE gets either Success (durable
and indexed) or Out of Resources (nothing indexed, the file kept in the quarantine with its
reason), never a half-indexed instance; once there is room again the same instances go in.

The store is a small tmpfs mounted for the test, which needs root; elsewhere the test is
skipped with that reason.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from tests.scaleout.conftest import (
    OUT_OF_RESOURCES,
    SENDER,
    SUCCESS,
    indexed,
    new_instances,
    require_services,
    send,
)
from tests.services.scaled import Deployment

pytestmark = pytest.mark.scaleout

SMALL = "4m"  # room for about seven 512² CT slices (512 KiB each)
ROOMY = "64m"


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_disk(tmp_path_factory) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("filling a disk needs a small tmpfs, and mounting one needs root")
    mountpoint = tmp_path_factory.mktemp("small-disk")
    mounted = _mount("-t", "tmpfs", "-o", f"size={SMALL},mode=0755", "tmpfs", str(mountpoint))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], timeout=30, check=False)


@pytest.fixture
def listener_on_small_disk(small_disk) -> Iterator[Deployment]:
    require_services()
    deployment = Deployment(
        asgi_servers=0,
        retrieve_workers=0,
        store_dir=small_disk / "store",
        env={"DICOM_AE_TITLE": "SCALEOUT"},
    )
    with deployment:
        deployment.manage("pacs", "allow", SENDER, "--host", "127.0.0.1")
        yield deployment


def _store_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_a_full_disk_refuses_instances_cleanly_and_indexes_nothing_half_written(
    listener_on_small_disk, small_disk
):
    deployment = listener_on_small_disk
    study_uid, series_uid = generate_uid(), generate_uid()
    datasets = new_instances(study_uid, series_uid, 12, size=512)

    statuses = send(deployment, datasets)

    stored = [str(ds.SOPInstanceUID) for ds, s in zip(datasets, statuses, strict=True) if s == 0]
    refused = [ds for ds, s in zip(datasets, statuses, strict=True) if s != SUCCESS]
    assert stored, "nothing fitted: make the tmpfs larger"
    assert refused, "everything fitted: make the tmpfs smaller or send more"
    # The two answers a full disk may give: stored, or Out of Resources (PS3.4 B.2.3).
    assert set(statuses) == {SUCCESS, OUT_OF_RESOURCES}

    # Success means indexed, and indexed means the whole file is there, byte for byte.
    assert sorted(indexed(deployment, study_uid)) == sorted(stored)
    rows = deployment.pg.execute(
        "SELECT file_path, file_size, sha256 FROM studies_instance WHERE sop_instance_uid = "
        "ANY(%s)",
        (stored,),
    )
    for path, size, digest in rows:
        data = (deployment.store_dir / path).read_bytes()
        assert len(data) == size
        assert hashlib.sha256(data).hexdigest() == digest
    # No file without its row: no orphans and no half-written temp files left behind.
    assert _store_files(deployment.store_dir) == {row[0] for row in rows}

    # Each refused instance is in the quarantine with the reason, bytes kept elsewhere.
    reasons = deployment.pg.execute(
        "SELECT sop_instance_uid, reason_code FROM studies_quarantinedfile "
        "WHERE sop_instance_uid = ANY(%s)",
        ([str(ds.SOPInstanceUID) for ds in refused],),
    )
    assert sorted(reasons) == sorted((str(ds.SOPInstanceUID), "storage_error") for ds in refused)

    # Room again (the operator grew the volume): the sender retries and everything goes in.
    grown = _mount("-o", f"remount,size={ROOMY}", str(small_disk))
    assert grown.returncode == 0, grown.stderr
    assert send(deployment, refused) == [SUCCESS] * len(refused)
    assert sorted(indexed(deployment, study_uid)) == sorted(
        str(ds.SOPInstanceUID) for ds in datasets
    )
