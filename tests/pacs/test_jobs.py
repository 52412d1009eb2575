"""The retrieve job queue without a PACS: queueing, atomic claims, leases, cancel, backoff."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from studies.models import PacsNode, RetrieveJob
from studies.pacs import jobs
from studies.pacs.worker import RetrieveWorker
from tests.pacs.conftest import wait_for
from tests.peers.ports import free_port

State = RetrieveJob.State
STUDY = "1.2.840.99999.1"


@pytest.fixture
def node(db) -> PacsNode:
    return PacsNode.objects.create(name="pacs", ae_title="PACS", host="127.0.0.1", port=104)


def test_queueing_the_same_request_twice_joins_the_active_job(node):
    first, created = jobs.queue_retrieve(node, STUDY)
    again, created_again = jobs.queue_retrieve(node, STUDY)
    assert created and not created_again
    assert again.pk == first.pk
    other_series, created_series = jobs.queue_retrieve(node, STUDY, "1.2.840.99999.1.1")
    assert created_series and other_series.pk != first.pk


def test_a_finished_request_can_be_queued_again(node):
    first, _ = jobs.queue_retrieve(node, STUDY)
    RetrieveJob.objects.filter(pk=first.pk).update(state=State.DONE)
    second, created = jobs.queue_retrieve(node, STUDY)
    assert created and second.pk != first.pk


@pytest.mark.parametrize(
    ("study", "series", "message"),
    [("1.2.abc", "", "study instance UID"), (STUDY, "01.2", "series instance UID")],
)
def test_invalid_uids_are_refused(node, study, series, message):
    with pytest.raises(jobs.InvalidRequest, match=message):
        jobs.queue_retrieve(node, study, series)
    assert not RetrieveJob.objects.exists()


def test_disabled_node_takes_no_jobs(node):
    node.enabled = False
    node.save()
    with pytest.raises(jobs.InvalidRequest, match="disabled"):
        jobs.queue_retrieve(node, STUDY)


def test_claim_takes_the_due_job_once_and_counts_the_attempt(node):
    job, _ = jobs.queue_retrieve(node, STUDY)
    claim = jobs.claim_next("worker-a")
    assert claim is not None and claim.job_id == job.pk
    assert jobs.claim_next("worker-b") is None
    job.refresh_from_db()
    assert (job.state, job.worker, job.attempts) == (State.RUNNING, "worker-a", 1)
    assert job.lease_token == claim.token and job.lease_expires_at > timezone.now()


def test_job_waiting_for_its_backoff_is_not_claimed(node):
    job, _ = jobs.queue_retrieve(node, STUDY)
    RetrieveJob.objects.filter(pk=job.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    assert jobs.claim_next("worker") is None


def test_concurrent_workers_never_claim_the_same_job(transactional_db, node):
    for number in range(5):
        jobs.queue_retrieve(node, f"{STUDY}.{number}")
    claims: list[jobs.Claim] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(name: str) -> None:
        start.wait()
        try:
            while (claim := jobs.claim_next(name)) is not None:
                with lock:
                    claims.append(claim)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(c.job_id for c in claims) == sorted(
        RetrieveJob.objects.values_list("pk", flat=True)
    )
    assert set(RetrieveJob.objects.values_list("attempts", flat=True)) == {1}


def test_running_job_whose_lease_lapsed_is_taken_over(node):
    job, _ = jobs.queue_retrieve(node, STUDY)
    dead = jobs.claim_next("dead-worker")
    assert jobs.claim_next("live-worker") is None  # lease still valid
    RetrieveJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    taken = jobs.claim_next("live-worker")
    assert taken is not None and taken.token != dead.token
    job.refresh_from_db()
    assert (job.worker, job.attempts) == ("live-worker", 2)


def test_cancel_of_a_queued_job_ends_it_at_once(node):
    job, _ = jobs.queue_retrieve(node, STUDY)
    cancelled = jobs.request_cancel(job.pk)
    assert cancelled.state == State.CANCELLED and cancelled.finished_at
    assert jobs.claim_next("worker") is None


def test_cancel_of_a_running_job_asks_its_worker(node):
    job, _ = jobs.queue_retrieve(node, STUDY)
    jobs.claim_next("worker")
    asked = jobs.request_cancel(job.pk)
    assert asked.state == State.RUNNING and asked.cancel_requested


def test_cancel_of_a_finished_job_changes_nothing(node):
    job, _ = jobs.queue_retrieve(node, STUDY)
    RetrieveJob.objects.filter(pk=job.pk).update(state=State.DONE)
    assert jobs.request_cancel(job.pk).state == State.DONE


def test_job_cancelled_while_its_worker_was_dead_ends_cancelled_when_taken_over(
    transactional_db, node
):
    job, _ = jobs.queue_retrieve(node, STUDY)
    jobs.claim_next("dead-worker")
    jobs.request_cancel(job.pk)
    RetrieveJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert jobs.run_due_jobs("live-worker") == 1
    job.refresh_from_db()
    assert job.state == State.CANCELLED and job.lease_token == ""


def test_backoff_doubles_from_the_base_up_to_the_cap(settings):
    settings.RETRIEVE_BACKOFF_SECONDS = 30
    settings.RETRIEVE_BACKOFF_MAX_SECONDS = 100
    assert [jobs.backoff_seconds(n) for n in (1, 2, 3, 4)] == [30, 60, 100, 100]


def test_a_job_queued_in_the_workers_process_wakes_it_before_its_next_poll(transactional_db):
    # Nothing listens on the node's port: the attempt fails at once, which is all we need to
    # see that the job was taken.
    node = PacsNode.objects.create(name="gone", ae_title="GONE", host="127.0.0.1", port=free_port())
    worker = RetrieveWorker(threads=1, poll_seconds=60, name="sleepy")
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        # Let the worker find the queue empty once; its next poll is a minute away.
        wait_for(lambda: worker.polls > 0, what="the worker's first look at the queue")
        job, _ = jobs.queue_retrieve(node, STUDY)
        wait_for(
            lambda: RetrieveJob.objects.get(pk=job.pk).attempts > 0,
            timeout=20,
            what="the worker to take the job (well before its 60 s poll)",
        )
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert worker.processed >= 1
