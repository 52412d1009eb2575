"""Retrieve progress on the channel layer, for the UI to show live.

Two groups: ``retrieve.jobs`` (every job, for a job list) and ``retrieve.study.<uid>`` (the
jobs of one study, for a viewer showing it while it arrives; the instances themselves are
announced by ingest on ``study.<uid>``). Separate from ``study.<uid>`` so a consumer that only
knows ``instance.stored`` is never sent a message type it has no handler for.

Best effort like studies.events: the job row is the truth, these messages only hurry the UI.
With the default in-memory channel layer only consumers in the same process hear them; a
worker in its own process needs the Redis layer (REDIS_URL), otherwise the UI polls
``/pacs/jobs/<id>``.
"""

from __future__ import annotations

import logging

from studies.events import send_to_group
from studies.models import RetrieveJob

log = logging.getLogger(__name__)

RETRIEVE_PROGRESS = "retrieve.progress"
JOBS_GROUP = "retrieve.jobs"


def study_group(study_instance_uid: str) -> str:
    # UIDs are digits and dots (checked when the job is queued), valid in group names.
    return f"retrieve.study.{study_instance_uid}"


def job_summary(job: RetrieveJob) -> dict:
    """The job as the UI sees it (JSON endpoint and channel message alike)."""
    return {
        "id": job.pk,
        "node": job.node.name,
        "study_instance_uid": job.study_instance_uid,
        "series_instance_uid": job.series_instance_uid,
        "state": job.state,
        "attempts": job.attempts,
        "expected": job.expected_count,
        "present": job.present_count,
        "requested": job.requested_count,
        "received": job.received_count,
        "failed": job.failed_count,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "next_attempt_at": job.next_attempt_at.isoformat() if job.next_attempt_at else None,
    }


def publish(job: RetrieveJob) -> None:
    message = {"type": RETRIEVE_PROGRESS, "job": job_summary(job)}
    try:
        # The process's publishing loop (studies.events), not a new thread and loop each time.
        send_to_group(JOBS_GROUP, message)
        send_to_group(study_group(job.study_instance_uid), message)
    except Exception:
        log.warning("could not publish progress of retrieve job %s", job.pk)
