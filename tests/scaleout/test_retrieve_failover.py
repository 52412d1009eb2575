"""A retrieve worker is killed in the middle of a job: the other worker takes the job over
when the dead one's lease lapses and fetches only what is still missing, so every instance
ends in the archive exactly once."""

from __future__ import annotations

import secrets
import time

import pytest
from pydicom.uid import generate_uid

from tests.dicom_files import make_ct, to_bytes
from tests.scaleout.conftest import AE_TITLE, indexed, wait_for

pytestmark = [pytest.mark.scaleout, pytest.mark.orthanc]

TOTAL = 40


def _job(deployment, study_uid: str) -> dict | None:
    rows = deployment.pg.execute(
        "SELECT state, worker, attempts, present_count, requested_count, received_count, "
        "error FROM studies_retrievejob WHERE study_instance_uid = %s",
        (study_uid,),
    )
    if not rows:
        return None
    keys = ("state", "worker", "attempts", "present", "requested", "received", "error")
    return dict(zip(keys, rows[0], strict=True))


def test_killed_worker_job_is_finished_by_the_other_worker_exactly_once(
    deployment, orthanc_factory
):
    peer = orthanc_factory(modalities={"viewer": (AE_TITLE, "127.0.0.1", deployment.dicom_port)})
    node = f"orthanc-{secrets.token_hex(3)}"
    deployment.manage(
        "pacs",
        "add",
        node,
        "--aet",
        peer.aet,
        "--host",
        "127.0.0.1",
        "--port",
        str(peer.dicom_port),
        # C-GET: instances arrive on the worker's own association, so they stop with it.
        "--method",
        "get",
    )
    study_uid, series_uid = generate_uid(), generate_uid()
    sops = []
    for number in range(1, TOTAL + 1):
        ds = make_ct(
            study_uid=study_uid,
            series_uid=series_uid,
            sop_uid=generate_uid(),
            instance_number=number,
            rows=512,
            columns=512,
        )
        peer.upload(to_bytes(ds))
        sops.append(str(ds.SOPInstanceUID))

    deployment.manage("retrieve", "--node", node, "--study", study_uid)
    job = wait_for(
        lambda: (
            (j := _job(deployment, study_uid))
            and j["state"] == "running"
            and len(indexed(deployment, study_uid)) >= 3
            and j
        ),
        60,
        "the job to be running with its first instances in",
    )
    names = [f"worker-{i + 1}" for i in range(len(deployment.workers))]
    victim = names.index(job["worker"])
    deployment.workers[victim].kill()  # SIGKILL mid-transfer: no requeue, no goodbye
    at_kill = len(indexed(deployment, study_uid))
    assert at_kill < TOTAL, "the study finished before the kill; make it larger"

    started = time.monotonic()
    done = wait_for(
        lambda: (j := _job(deployment, study_uid)) and j["state"] in ("done", "failed") and j,
        120,
        "the job to end",
    )
    assert done["state"] == "done", done["error"]
    # The lease (5 s here) had to lapse first; then the survivor took it over.
    assert time.monotonic() - started < 90
    assert done["worker"] != job["worker"] and done["worker"] in names
    assert done["attempts"] == 2
    # The second attempt asked only for what was missing when it began.
    assert done["present"] >= at_kill
    assert done["present"] + done["requested"] == TOTAL
    assert done["received"] == TOTAL
    # Every instance once: one index row each, and its file in the shared store.
    rows = indexed(deployment, study_uid)
    assert sorted(rows) == sorted(sops)
    paths = deployment.pg.execute(
        "SELECT file_path FROM studies_instance WHERE sop_instance_uid = ANY(%s)", (sops,)
    )
    assert len(paths) == TOTAL
    for (path,) in paths:
        assert (deployment.store_dir / path).is_file()
