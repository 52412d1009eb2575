"""Queue a retrieve job from the command line, optionally waiting for it to end."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from studies.models import RetrieveJob
from studies.pacs.jobs import InvalidRequest, queue_retrieve
from studies.pacs.nodes import UnknownNode, get_node

# After this long still queued, say that a worker is needed.
_NO_WORKER_HINT_SECONDS = 10


class Command(BaseCommand):
    help = (
        "Queue a retrieve of a study (or one series) from a PACS node; retrieve_worker runs "
        "it. With --wait, print progress until it ends (exit status 1 unless done)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--node", required=True, help="PACS node name (manage.py pacs list)")
        parser.add_argument("--study", required=True, help="Study Instance UID")
        parser.add_argument("--series", default="", help="only this Series Instance UID")
        parser.add_argument("--wait", action="store_true", help="wait for the job to end")
        parser.add_argument(
            "--timeout", type=float, default=None, help="with --wait: give up after seconds"
        )

    def handle(self, *args, node, study, series, wait, timeout, **options) -> None:
        try:
            pacs = get_node(node)
            job, created = queue_retrieve(pacs, study.strip(), series.strip())
        except (UnknownNode, InvalidRequest) as exc:
            raise CommandError(str(exc))
        verb = "queued" if created else "already active as"
        self.stdout.write(f"{verb} retrieve job {job.pk}")
        if wait:
            self._wait(job.pk, timeout)

    def _wait(self, job_id: int, timeout: float | None) -> None:
        started = time.monotonic()
        last_line = ""
        hinted = False
        while True:
            job = RetrieveJob.objects.get(pk=job_id)
            expected = "?" if job.expected_count is None else job.expected_count
            line = (
                f"{job.state}: {job.received_count}/{expected} received, {job.failed_count} failed"
            )
            if job.error:
                line += f" - {job.error}"
            if line != last_line:
                self.stdout.write(line)
                self.stdout.flush()
                last_line = line
            if not job.is_active:
                if job.state != RetrieveJob.State.DONE:
                    raise CommandError(f"retrieve job {job_id} {job.state}: {job.error}")
                return
            waited = time.monotonic() - started
            if job.state == RetrieveJob.State.QUEUED and job.attempts == 0 and not hinted:
                if waited > _NO_WORKER_HINT_SECONDS:
                    self.stderr.write("still queued: is `manage.py retrieve_worker` running?")
                    hinted = True
            if timeout is not None and waited > timeout:
                raise CommandError(f"retrieve job {job_id} still {job.state} after {timeout} s")
            time.sleep(0.5)
