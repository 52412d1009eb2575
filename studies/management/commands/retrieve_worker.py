"""Run the retrieve worker: claim queued retrieve jobs and fetch them from their PACS."""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from studies import ingest_pool
from studies.pacs.worker import RetrieveWorker


class Command(BaseCommand):
    help = (
        "Run retrieve jobs (C-MOVE or C-GET) until SIGTERM or Ctrl-C; several workers may "
        "share the queue. A stopped worker's running jobs resume on the next worker."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--threads", type=int, default=None, help="jobs at once (RETRIEVE_WORKER_THREADS)"
        )
        parser.add_argument(
            "--poll", type=float, default=None, help="seconds between polls (RETRIEVE_POLL_MS)"
        )
        parser.add_argument("--once", action="store_true", help="run what is due now, then exit")
        parser.add_argument("--name", default=None, help="worker name shown on its jobs")

    def handle(self, *args, threads=None, poll=None, once=False, name=None, **options) -> None:
        # C-GET instances arrive here; ingested in processes forked before any thread starts.
        ingest_pool.start(settings.INGEST_PROCESSES)
        worker = RetrieveWorker(threads=threads, poll_seconds=poll, name=name)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stop())
        self.stdout.write(f"retrieve worker {worker.name} ({worker.threads} threads)")
        self.stdout.flush()
        try:
            processed = worker.run(once=once)
        finally:
            ingest_pool.stop()
        self.stdout.write(f"retrieve worker {worker.name} stopped after {processed} job runs")
