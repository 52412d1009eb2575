"""The retrieve worker daemon: claim due jobs, run a bounded number at once, stop cleanly.

Shaped like healthchecks' ``sendalerts``: a main loop that claims work atomically, a bounded
thread pool, each thread with its own database connection (closed when its job ends), and a
stop flag set by SIGTERM. On stop, running jobs send C-CANCEL and go back to the queue without
spending an attempt, so the next worker resumes them.
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

log = logging.getLogger(__name__)


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RetrieveWorker:
    def __init__(
        self, threads: int | None = None, poll_seconds: float = 1.0, name: str | None = None
    ) -> None:
        self.threads = threads or settings.RETRIEVE_WORKER_THREADS
        self.poll_seconds = poll_seconds
        self.name = name or default_name()
        self.stopping = threading.Event()
        self.processed = 0

    def stop(self) -> None:
        self.stopping.set()

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
                claimed = False
                while len(running) < self.threads and not self.stopping.is_set():
                    claim = jobs.claim_next(self.name)
                    if claim is None:
                        break
                    log.info("worker %s took retrieve job %s", self.name, claim.job_id)
                    running.add(pool.submit(self._run_one, claim))
                    self.processed += 1
                    claimed = True
                if once and not running and not claimed:
                    break
                if running:
                    wait(running, timeout=self.poll_seconds, return_when=FIRST_COMPLETED)
                else:
                    self.stopping.wait(self.poll_seconds)
            # Leaving the pool waits for running jobs; they see `stopping` and requeue.
        connection.close()
        return self.processed
