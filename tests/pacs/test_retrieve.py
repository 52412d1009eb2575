"""Retrieve jobs against a real Orthanc: C-MOVE to our listener, C-GET on one association,
resuming after a killed worker, a PACS that is down, and a PACS with partial failures."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone
from pydicom.multival import MultiValue

from studies import events
from studies.ingest import ingest_bytes
from studies.models import Instance, PacsNode, QuarantinedFile, RetrieveJob
from studies.pacs import jobs, progress, scu
from studies.pacs.worker import RetrieveWorker
from tests.dicom_files import make_ct, to_bytes
from tests.pacs.conftest import REPO, manage_command, process_env, wait_for
from tests.peers.ports import free_port

pytestmark = pytest.mark.orthanc

State = RetrieveJob.State


def local_uids(study_uid: str) -> set[str]:
    return set(
        Instance.objects.filter(series__study__study_instance_uid=study_uid).values_list(
            "sop_instance_uid", flat=True
        )
    )


@pytest.mark.parametrize("method", ["move", "get"])
def test_study_is_retrieved_with_counts_and_provenance(pacs, store_log, fast_retries, method):
    pacs.node.retrieve_method = method
    pacs.node.save()
    study, _, sops = pacs.load_study(series=2, per_series=3)

    job, created = jobs.queue_retrieve(pacs.node, study)
    assert created
    assert jobs.run_due_jobs() == 1

    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    assert (job.expected_count, job.received_count, job.present_count) == (6, 6, 0)
    assert job.requested_count == 6 and job.attempts == 1 and job.finished_at
    assert local_uids(study) == set(sops)
    assert set(Instance.objects.values_list("source", flat=True)) == {Instance.Source.RETRIEVE}
    # C-MOVE delivers through our listener; C-GET brings everything on its own association.
    assert sorted(store_log.uids) == (sorted(sops) if method == "move" else [])


@pytest.fixture
def find_levels(monkeypatch) -> list[str]:
    """The Query/Retrieve Level of every C-FIND the retrieve sends (the real one is sent)."""
    levels: list[str] = []
    real_find = scu.find

    real_find_each = scu.find_each

    def recording_find(node, identifier, **kwargs):
        levels.append(str(identifier.QueryRetrieveLevel))
        return real_find(node, identifier, **kwargs)

    def recording_find_each(node, identifier):
        levels.append(str(identifier.QueryRetrieveLevel))
        return real_find_each(node, identifier)

    monkeypatch.setattr(scu, "find", recording_find)
    monkeypatch.setattr(scu, "find_each", recording_find_each)
    return levels


@pytest.mark.parametrize("method", ["move", "get"])
def test_first_retrieve_asks_only_for_a_count_not_for_every_instance(
    pacs, fast_retries, find_levels, method
):
    pacs.node.retrieve_method = method
    pacs.node.save()
    study, _, sops = pacs.load_study(series=2, per_series=2)
    job, _ = jobs.queue_retrieve(pacs.node, study)
    jobs.run_due_jobs()
    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    # Nothing was here, so everything is missing: one STUDY-level answer is enough.
    assert find_levels == ["STUDY"]
    assert (job.expected_count, job.requested_count, job.received_count) == (4, 4, 4)
    assert local_uids(study) == set(sops)


@pytest.fixture
def retrieve_requests(monkeypatch) -> list[tuple[list[str], float, float]]:
    """(SOP Instance UIDs asked for, start, end) of every C-MOVE and C-GET the retrieve sends
    (the real one is sent)."""
    requests: list[tuple[list[str], float, float]] = []
    lock = threading.Lock()

    def recording(real):
        def send(node, identifier, *args, **kwargs):
            started = time.monotonic()
            try:
                return real(node, identifier, *args, **kwargs)
            finally:
                value = identifier.get("SOPInstanceUID", [])
                values = value if isinstance(value, list | MultiValue) else [value]
                uids = [str(v) for v in values]
                with lock:
                    requests.append((uids, started, time.monotonic()))

        return send

    monkeypatch.setattr(scu, "move", recording(scu.move))
    monkeypatch.setattr(scu, "get", recording(scu.get))
    return requests


@pytest.mark.parametrize("method", ["move", "get"])
def test_large_retrieve_is_split_into_requests_run_at_once_each_instance_stored_once(
    pacs, store_log, fast_retries, find_levels, retrieve_requests, monkeypatch, method
):
    pacs.node.retrieve_method = method
    pacs.node.save()
    fast_retries.RETRIEVE_PARALLEL_REQUESTS = 2
    monkeypatch.setattr(jobs, "MIN_PART_INSTANCES", 3)
    monkeypatch.setattr(jobs, "FIRST_REQUEST_INSTANCES", 4)  # two parts, 4 and 3
    study, _, sops = pacs.load_study(per_series=7, size=64)

    job, _ = jobs.queue_retrieve(pacs.node, study)
    jobs.run_due_jobs()

    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    # The count says it is worth splitting; the list (requests leave as it arrives) says how.
    assert find_levels == ["STUDY", "IMAGE"]
    asked = sorted((uids for uids, _, _ in retrieve_requests), key=len)
    assert [len(uids) for uids in asked] == [3, 4]
    assert sorted(asked[0] + asked[1]) == sorted(sops)
    (_, first_start, first_end), (_, second_start, second_end) = retrieve_requests
    assert max(first_start, second_start) < min(first_end, second_end), "not at once"
    counts = (job.expected_count, job.requested_count, job.received_count, job.failed_count)
    assert counts == (7, 7, 7, 0) and job.present_count == 0
    assert local_uids(study) == set(sops)
    assert Instance.objects.count() == 7
    if method == "move":
        assert sorted(store_log.uids) == sorted(sops)  # each sent once


def test_split_retrieve_asks_for_a_few_instances_first_so_the_study_opens_early(
    pacs, fast_retries, retrieve_requests, monkeypatch
):
    fast_retries.RETRIEVE_PARALLEL_REQUESTS = 2
    monkeypatch.setattr(jobs, "MIN_PART_INSTANCES", 3)
    monkeypatch.setattr(jobs, "FIRST_REQUEST_INSTANCES", 2)
    study, _, sops = pacs.load_study(per_series=9, size=64)

    job, _ = jobs.queue_retrieve(pacs.node, study)
    jobs.run_due_jobs()

    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    by_start = sorted(retrieve_requests, key=lambda request: request[1])
    assert [len(uids) for uids, _, _ in by_start][0] == 2
    assert sorted(len(uids) for uids, _, _ in by_start) == [2, 2, 5]  # then parts of 5
    assert sorted(uid for uids, _, _ in by_start for uid in uids) == sorted(sops)
    assert (job.expected_count, job.received_count, job.failed_count) == (9, 9, 0)
    assert Instance.objects.count() == 9


def test_small_retrieve_is_not_split(
    pacs, fast_retries, find_levels, retrieve_requests, monkeypatch
):
    fast_retries.RETRIEVE_PARALLEL_REQUESTS = 2
    monkeypatch.setattr(jobs, "MIN_PART_INSTANCES", 3)
    study, _, sops = pacs.load_study(per_series=5)  # two parts would be under 3 each
    job, _ = jobs.queue_retrieve(pacs.node, study)
    jobs.run_due_jobs()
    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    assert find_levels == ["STUDY"]
    assert [uids for uids, _, _ in retrieve_requests] == [[]]  # the whole study at once
    assert local_uids(study) == set(sops)


def test_one_series_of_a_study_is_retrieved_alone(pacs, fast_retries):
    study, series, sops = pacs.load_study(series=2, per_series=2)
    job, _ = jobs.queue_retrieve(pacs.node, study, series[1])
    jobs.run_due_jobs()
    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    assert local_uids(study) == set(sops[2:])


@pytest.mark.parametrize("method", ["move", "get"])
def test_retrieve_of_a_partly_present_study_fetches_only_what_is_missing(
    pacs, store_log, fast_retries, find_levels, method
):
    pacs.node.retrieve_method = method
    pacs.node.save()
    study, series, sops = pacs.load_study(series=3, per_series=3)
    # Already here: all of series 1 and one instance of series 2 (arrived some other way).
    for sop in sops[:4]:
        data = pacs.peer.request("GET", f"/instances/{orthanc_id(pacs, sop)}/file").content
        assert ingest_bytes(data, Instance.Source.IMPORT).status == "stored"
    kept = dict(Instance.objects.values_list("sop_instance_uid", "pk"))

    job, _ = jobs.queue_retrieve(pacs.node, study)
    jobs.run_due_jobs()

    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    # Part of it was here: the PACS's instances are listed to ask only for the others.
    assert find_levels == ["IMAGE"]
    assert (job.expected_count, job.present_count, job.requested_count) == (9, 4, 5)
    assert job.received_count == 9
    assert local_uids(study) == set(sops)
    # The instances that were here are untouched, and nothing was sent twice.
    for sop, pk in kept.items():
        instance = Instance.objects.get(sop_instance_uid=sop)
        assert (instance.pk, instance.source) == (pk, Instance.Source.IMPORT)
    if method == "move":
        assert sorted(store_log.uids) == sorted(sops[4:])


def orthanc_id(pacs, sop_instance_uid: str) -> str:
    found = pacs.peer.request(
        "POST", "/tools/lookup", data=sop_instance_uid, headers={"Content-Type": "text/plain"}
    ).json()
    return next(item["ID"] for item in found if item["Type"] == "Instance")


def test_study_already_complete_is_done_without_fetching(pacs, store_log, fast_retries):
    study, _, sops = pacs.load_study(per_series=2)
    jobs.queue_retrieve(pacs.node, study)
    jobs.run_due_jobs()
    store_log.uids.clear()

    job, created = jobs.queue_retrieve(pacs.node, study)
    assert created
    jobs.run_due_jobs()
    job.refresh_from_db()
    assert job.state == State.DONE
    assert (job.present_count, job.requested_count, job.received_count) == (2, 0, 2)
    assert store_log.uids == []


def _worker_process(*args: str) -> list[str]:
    return manage_command("retrieve_worker", *args)


def _worker_env() -> dict[str, str]:
    return process_env(RETRIEVE_LEASE_SECONDS="5")


@pytest.mark.serial
def test_worker_killed_mid_retrieve_leaves_a_job_that_resumes_without_refetching(
    pacs, store_log, fast_retries
):
    # Large enough to be split into RETRIEVE_PARALLEL_REQUESTS (2) requests run at once.
    total = 2 * jobs.MIN_PART_INSTANCES + 10
    study, _, sops = pacs.load_study(per_series=total, size=512)
    job, _ = jobs.queue_retrieve(pacs.node, study)

    worker = subprocess.Popen(
        _worker_process("--threads", "1", "--poll", "0.1"),
        cwd=REPO,
        env=_worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(local_uids(study)) >= 3, what="the first instances")
    finally:
        worker.kill()  # SIGKILL: no clean-up, no goodbye to the PACS
        worker.wait(timeout=10)

    job.refresh_from_db()
    assert job.state == State.RUNNING  # still claimed by the dead worker
    assert len(local_uids(study)) < total, "the study finished before the kill; make it larger"
    # The dead worker's lease lapses; by then the PACS has noticed its peer is gone.
    wait_for(lambda: RetrieveJob.objects.get(pk=job.pk).lease_expires_at < timezone.now(), 15)
    present = len(local_uids(study))

    resumed = subprocess.run(
        _worker_process("--once"), cwd=REPO, env=_worker_env(), capture_output=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr.decode()

    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    assert job.attempts == 2
    assert job.present_count == present
    assert job.requested_count == total - present
    assert job.received_count == total
    assert local_uids(study) == set(sops)
    # Every instance crossed the network exactly once, across both workers.
    assert sorted(store_log.uids) == sorted(sops)


def test_pacs_down_gives_a_clear_error_and_the_job_is_retried_later(listener, pacs, fast_retries):
    fast_retries.RETRIEVE_BACKOFF_SECONDS = 60
    fast_retries.RETRIEVE_BACKOFF_MAX_SECONDS = 600
    study, _, sops = pacs.load_study(per_series=2)
    working_port = pacs.node.port
    PacsNode.objects.filter(pk=pacs.node.pk).update(port=free_port())  # nothing listens there
    job, _ = jobs.queue_retrieve(PacsNode.objects.get(pk=pacs.node.pk), study)

    jobs.run_due_jobs()
    job.refresh_from_db()
    assert job.state == State.QUEUED
    assert job.attempts == 1
    assert "cannot connect to PACS 'orthanc'" in job.error
    assert "retrying in 60 s" in job.error
    assert 50 < (job.next_attempt_at - timezone.now()).total_seconds() <= 60
    assert jobs.run_due_jobs() == 0  # not due yet

    # Time passes and the PACS is back (an administrator fixed the port).
    PacsNode.objects.filter(pk=pacs.node.pk).update(port=working_port)
    RetrieveJob.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now())
    jobs.run_due_jobs()
    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    assert job.attempts == 2 and job.error == ""
    assert local_uids(study) == set(sops)


def test_pacs_that_stays_down_fails_the_job_after_the_last_attempt(transactional_db, fast_retries):
    node = PacsNode.objects.create(name="gone", ae_title="GONE", host="127.0.0.1", port=free_port())
    job, _ = jobs.queue_retrieve(node, "1.2.3.4")
    jobs.run_due_jobs()  # attempt 1 of 2 fails; no backoff, so attempt 2 follows at once
    job.refresh_from_db()
    assert job.state == State.FAILED
    assert job.attempts == 2
    assert "cannot connect" in job.error and "gave up after 2 attempts" in job.error
    assert job.finished_at is not None


@pytest.mark.parametrize("method", ["move", "get"])
def test_pacs_answering_with_partial_failures_fails_the_job_with_what_arrived(
    pacs, fast_retries, method
):
    pacs.node.retrieve_method = method
    pacs.node.save()
    study, series, sops = pacs.load_study(per_series=4)
    # Orthanc holds an instance our archive refuses, so that sub-operation fails.
    broken = make_ct(study_uid=study, series_uid=series[0], instance_number=99)
    broken.PixelData = b"\x00" * 10
    pacs.peer.upload(to_bytes(broken))

    job, _ = jobs.queue_retrieve(pacs.node, study)
    jobs.run_due_jobs()  # attempt 1 fails, is due again at once (no backoff), attempt 2 fails

    job.refresh_from_db()
    assert job.state == State.FAILED
    assert job.attempts == 2
    assert job.expected_count == 5
    assert job.received_count == len(local_uids(study))
    assert broken.SOPInstanceUID not in local_uids(study)
    assert "instances not received" in job.error
    if method == "get":
        # Attempt 1: "completed with failures" (B000); attempt 2 asked only for the broken
        # instance, so none could be done (A702, PS3.4 C.4.3.1.4).
        assert job.received_count == 4 and job.failed_count == 1
        assert "the PACS reported 1 failed (C-GET status 0xA702)" in job.error
    else:
        # Orthanc ends a C-MOVE at the first refused C-STORE with a plain failure.
        assert "(C-MOVE status 0xC000)" in job.error
    refused = QuarantinedFile.objects.filter(
        source=Instance.Source.RETRIEVE, reason_code="pixel_data_length"
    )
    assert refused.count() == 2  # once per attempt, each kept with its reason


def test_cancel_stops_a_running_retrieve_with_c_cancel(pacs, store_log, fast_retries):
    total = 60
    study, _, _ = pacs.load_study(per_series=total, size=512)
    job, _ = jobs.queue_retrieve(pacs.node, study)
    worker = RetrieveWorker(threads=1, poll_seconds=0.1, name="test")
    thread = threading.Thread(target=worker.run, kwargs={"once": True})
    thread.start()
    try:
        wait_for(lambda: len(local_uids(study)) >= 2, what="the first instances")
        jobs.request_cancel(job.pk)
        thread.join(timeout=60)
    finally:
        worker.stop()
        thread.join(timeout=60)
    job.refresh_from_db()
    assert job.state == State.CANCELLED
    assert len(store_log.uids) < total


def test_cancel_while_an_attempt_is_failing_ends_the_job_cancelled_not_queued(
    transactional_db, fast_retries
):
    # A PACS that accepts the connection and never answers: the attempt waits out the ACSE
    # timeout and fails, after the user pressed Cancel.
    fast_retries.DICOM_ACSE_TIMEOUT = 2
    silent = socket.create_server(("127.0.0.1", 0))
    silent.settimeout(15)
    node = PacsNode.objects.create(
        name="silent", ae_title="SILENT", host="127.0.0.1", port=silent.getsockname()[1]
    )
    job, _ = jobs.queue_retrieve(node, "1.2.3.4")
    claim = jobs.claim_next("test")
    outcome: list[str] = []
    attempt = threading.Thread(target=lambda: outcome.append(jobs.run_claimed(claim)))
    try:
        attempt.start()
        connection, _ = silent.accept()  # held open: the association request goes unanswered
        jobs.request_cancel(job.pk)
        attempt.join(timeout=30)
        connection.close()
    finally:
        silent.close()
    job.refresh_from_db()
    assert outcome == [State.CANCELLED]
    assert job.state == State.CANCELLED


def test_cancelled_queued_job_never_runs(pacs, store_log, fast_retries):
    study, _, _ = pacs.load_study(per_series=2)
    job, _ = jobs.queue_retrieve(pacs.node, study)
    jobs.request_cancel(job.pk)
    assert jobs.run_due_jobs() == 0
    job.refresh_from_db()
    assert job.state == State.CANCELLED
    assert store_log.uids == []


def test_move_without_store_permission_fails_with_a_reason(pacs, fast_retries):
    pacs.node.may_store = False
    pacs.node.save()
    study, _, _ = pacs.load_study(per_series=1)
    job, _ = jobs.queue_retrieve(pacs.node, study)
    jobs.run_due_jobs()
    job.refresh_from_db()
    assert job.state == State.FAILED
    assert "may not store to us" in job.error


def test_move_to_a_listener_the_pacs_does_not_know_explains_what_to_check(
    orthanc_factory, listener, fast_retries
):
    peer = orthanc_factory(modalities={"viewer": ("DICOMVIEWER", "127.0.0.1", free_port())})
    node = PacsNode.objects.create(
        name="orthanc", ae_title=peer.aet, host="127.0.0.1", port=peer.dicom_port
    )
    study_uid = make_ct().StudyInstanceUID
    ds = make_ct(study_uid=study_uid)
    peer.upload(to_bytes(ds))
    job, _ = jobs.queue_retrieve(node, study_uid)
    jobs.run_due_jobs()
    job.refresh_from_db()
    assert job.state == State.FAILED
    assert "nothing arrived" in job.error and "dicom_listener" in job.error


def test_progress_is_pushed_on_the_channel_layer_while_the_study_arrives(pacs, fast_retries):
    study, _, sops = pacs.load_study(per_series=6)
    layer = get_channel_layer()
    jobs_channel = async_to_sync(layer.new_channel)()
    study_channel = async_to_sync(layer.new_channel)()
    instances_channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(progress.JOBS_GROUP, jobs_channel)
    async_to_sync(layer.group_add)(progress.study_group(study), study_channel)
    async_to_sync(layer.group_add)(events.study_group(study), instances_channel)

    job, _ = jobs.queue_retrieve(pacs.node, study)
    jobs.run_due_jobs()

    def drain(channel: str) -> list[dict]:
        messages = []
        while True:
            try:
                messages.append(async_to_sync(receive_soon)(layer, channel))
            except TimeoutError:
                return messages

    on_study = drain(study_channel)
    assert all(m["type"] == progress.RETRIEVE_PROGRESS for m in on_study)
    states = [m["job"]["state"] for m in on_study]
    assert states[0] == "queued" and "running" in states and states[-1] == "done"
    received = [m["job"]["received"] for m in on_study]
    assert received == sorted(received) and received[-1] == len(sops)
    assert [m["job"]["id"] for m in drain(jobs_channel)] == [job.pk] * len(on_study)
    # Ingest announces each instance as it lands, so an open viewer can show it at once.
    landed = drain(instances_channel)
    assert sorted(m["sop_instance_uid"] for m in landed) == sorted(sops)


async def receive_soon(layer, channel: str) -> dict:
    return await asyncio.wait_for(layer.receive(channel), timeout=0.2)
