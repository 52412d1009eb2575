"""The retrieve worker daemon: claim due jobs, run a bounded number at once, stop cleanly.

Shaped like healthchecks' ``sendalerts``: a main loop that claims work atomically, a bounded
thread pool, each thread with its own database connection (closed when its job ends), and a
stop flag set by SIGTERM. On stop, running jobs send C-CANCEL and go back to the queue without
spending an attempt, so the next worker resumes them.

Finding work costs one indexed SELECT per poll (``RETRIEVE_POLL_MS``, 200 ms by default), so a
job queued by another process waits at most that long; a job queued in the worker's own
process (``jobs.queue_retrieve`` once its row is committed) wakes it at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.db import close_old_connections, connection

from studies.pacs import jobs
from studies.validation import skip_pydicom_value_checks

log = logging.getLogger(__name__)


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RetrieveWorker:
    def __init__(
        self, threads: int | None = None, poll_seconds: float | None = None, name: str | None = None
    ) -> None:
        self.threads = threads or settings.RETRIEVE_WORKER_THREADS
        self.poll_seconds = (
            settings.RETRIEVE_POLL_MS / 1000 if poll_seconds is None else poll_seconds
        )
        self.name = name or default_name()
        self.stopping = threading.Event()
        self.processed = 0
        self.polls = 0  # times the queue was looked at (for tests and debugging)
        # C-GET brings instances into this process, through ingest.
        skip_pydicom_value_checks()

    def stop(self) -> None:
        self.stopping.set()
        jobs.work_queued.set()  # wake the main loop now rather than at the next poll

    def _run_one(self, claim: jobs.Claim) -> str:
        try:
            return jobs.run_claimed(claim, self.stopping)
        finally:
            connection.close()

    def run(self, once: bool = False) -> int:
        """Work until stopped (or, with ``once``, until nothing is due and all is done)."""
        running: set[Future] = set()
        with ThreadPoolExecutor(self.threads, thread_name_prefix="retrieve") as pool:
            while not self.stopping.is_set():
                running = {f for f in running if not f.done()}
                close_old_connections()
                # Cleared before looking, so a job queued in this process from now on wakes
                # the wait below; one queued elsewhere is found by the next poll.
                jobs.work_queued.clear()
                claimed = False
                while len(running) < self.threads and not self.stopping.is_set():
                    claim = jobs.claim_next(self.name)
                    if claim is None:
                        break
                    log.info("worker %s took retrieve job %s", self.name, claim.job_id)
                    running.add(pool.submit(self._run_one, claim))
                    self.processed += 1
                    claimed = True
                self.polls += 1
                if once and not running and not claimed:
                    break
                if running and len(running) >= self.threads:
                    wait(running, timeout=self.poll_seconds, return_when=FIRST_COMPLETED)
                else:
                    jobs.work_queued.wait(self.poll_seconds)
            # Leaving the pool waits for running jobs; they see `stopping` and requeue.
        connection.close()
        return self.processed
