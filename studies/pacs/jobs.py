"""Durable retrieve jobs: queue, claim, run, cancel.

A job is a database row, so it survives restarts and any number of workers can share the
queue. Claiming is one conditional UPDATE on the job's current ``lease_token`` (after
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers do not even wait on each
other); only one worker can win it. The winner renews its lease while it works; when a worker
dies its lease lapses and another worker claims the job again.

Each attempt first compares the request with the archive and fetches only what is missing.
When nothing of the study (or series) is here yet, everything is missing and one C-FIND at the
request's own level tells how much to expect (its Number of Study/Series Related Instances);
only when part of it is here does the attempt list the PACS's instances (C-FIND at IMAGE level)
to ask for the missing ones by UID. A resumed job never asks for an instance twice, and
ingest's idempotence keeps a late duplicate from a dying attempt harmless.

A large retrieve (at least ``MIN_PART_INSTANCES`` per part) is listed too, and split into
``RETRIEVE_PARALLEL_REQUESTS`` IMAGE-level requests (lists of UIDs) sent at once, each on its
own association; the first, of only a few UIDs (so the study's first images land early),
leaves as soon as they are listed, while the rest of the list arrives. A PACS sends one
request's instances one at a time, each waiting for our C-STORE response, and that response
waits for the instance to be synced to disk and indexed; with two requests under way, one
instance is on the wire or in our CPU while the other waits for the disk
(``python -m tests.bench retrieve`` measures it on the 200-slice demo CT).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from studies import dicom_text, ingest_pool
from studies.models import Instance, PacsNode, RetrieveJob
from studies.pacs import progress, query, received, scu, statuses
from studies.validation import is_valid_uid

log = logging.getLogger(__name__)

State = RetrieveJob.State
# How often a running job writes its counts and looks for a cancel request.
FLUSH_SECONDS = 0.5
# UIDs per IMAGE-level request when only part of a series is missing.
UIDS_PER_REQUEST = 500
# A retrieve is split into RETRIEVE_PARALLEL_REQUESTS requests run at once only when each
# gets at least this many instances: below it, the extra C-FIND and associations cost more
# than the overlap gains.
MIN_PART_INSTANCES = 25
# The first request of a split retrieve: this many UIDs, sent as soon as they are listed, so
# the study's first images land (and can be opened) while the rest is still being listed.
FIRST_REQUEST_INSTANCES = 4


# Set when a job is queued in this process (after its row is committed): a worker in the same
# process wakes at once instead of at its next poll. Workers elsewhere find it by polling.
work_queued = threading.Event()


class InvalidRequest(ValueError):
    """A retrieve request that can never succeed as given (bad UID, disabled node)."""


class _Permanent(Exception):
    """An attempt failed in a way retrying cannot fix."""


# --- queueing and cancelling -----------------------------------------------------------------


def queue_retrieve(
    node: PacsNode, study_instance_uid: str, series_instance_uid: str = "", user=None
) -> tuple[RetrieveJob, bool]:
    """Queue a retrieve, or return the job already queued or running for the same request.

    Returns ``(job, created)``.
    """
    if not is_valid_uid(study_instance_uid):
        raise InvalidRequest("study instance UID is not a valid UID (PS3.5 9.1)")
    if series_instance_uid and not is_valid_uid(series_instance_uid):
        raise InvalidRequest("series instance UID is not a valid UID (PS3.5 9.1)")
    if not node.enabled:
        raise InvalidRequest(f"PACS node {node.name!r} is disabled")
    lookup = {
        "node": node,
        "study_instance_uid": study_instance_uid,
        "series_instance_uid": series_instance_uid,
    }
    try:
        with transaction.atomic():
            job = RetrieveJob.objects.create(requested_by=user, **lookup)
        created = True
    except IntegrityError:
        # The partial unique constraint: an active job for this request already exists.
        job = RetrieveJob.objects.get(state__in=RetrieveJob.ACTIVE_STATES, **lookup)
        created = False
    if created:
        progress.publish(job)
        transaction.on_commit(work_queued.set)
    return job, created


def request_cancel(job_id: int) -> RetrieveJob:
    """Cancel a queued job now; ask the worker running a job to stop (it sends C-CANCEL)."""
    now = timezone.now()
    queued = RetrieveJob.objects.filter(id=job_id, state=State.QUEUED).update(
        state=State.CANCELLED, cancel_requested=True, finished_at=now, error="cancelled"
    )
    if not queued:
        RetrieveJob.objects.filter(id=job_id, state=State.RUNNING).update(cancel_requested=True)
    job = RetrieveJob.objects.select_related("node").get(id=job_id)
    progress.publish(job)
    return job


# --- claiming ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    job_id: int
    token: str


def _due() -> Q:
    now = timezone.now()
    return Q(state=State.QUEUED, next_attempt_at__lte=now) | Q(
        state=State.RUNNING, lease_expires_at__lt=now
    )


def _take(job_id: int, state: str, token: str, worker: str) -> Claim | None:
    new_token = uuid.uuid4().hex
    now = timezone.now()
    taken = RetrieveJob.objects.filter(id=job_id, state=state, lease_token=token).update(
        state=State.RUNNING,
        lease_token=new_token,
        lease_expires_at=now + timedelta(seconds=settings.RETRIEVE_LEASE_SECONDS),
        worker=worker[:100],
        started_at=now,
        attempts=F("attempts") + 1,
    )
    return Claim(job_id, new_token) if taken == 1 else None


def claim_next(worker: str) -> Claim | None:
    """Take the next due job (queued and due, or running with a lapsed lease), or None."""
    candidates = RetrieveJob.objects.filter(_due()).order_by("next_attempt_at", "id")
    if connection.vendor == "postgresql":
        with transaction.atomic():
            row = (
                candidates.select_for_update(skip_locked=True)
                .values_list("id", "state", "lease_token")
                .first()
            )
            return _take(*row, worker) if row else None
    # SQLite and others: the conditional update alone decides; a lost race tries the next.
    for row in candidates.values_list("id", "state", "lease_token")[:20]:
        claim = _take(*row, worker)
        if claim is not None:
            return claim
    return None


# --- running ----------------------------------------------------------------------------------


def backoff_seconds(attempts: int) -> float:
    """Wait before the next attempt: the base, doubled per failed attempt, capped."""
    base = settings.RETRIEVE_BACKOFF_SECONDS
    return float(min(base * 2 ** max(attempts - 1, 0), settings.RETRIEVE_BACKOFF_MAX_SECONDS))


class _Lease:
    """Renews the job's lease from its own thread while the attempt runs."""

    def __init__(self, claim: Claim) -> None:
        self.claim = claim
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"retrieve-lease-{claim.job_id}", daemon=True
        )

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        interval = settings.RETRIEVE_LEASE_SECONDS / 3
        try:
            while not self._done.wait(interval):
                renewed = RetrieveJob.objects.filter(
                    id=self.claim.job_id, lease_token=self.claim.token
                ).update(
                    lease_expires_at=timezone.now()
                    + timedelta(seconds=settings.RETRIEVE_LEASE_SECONDS)
                )
                if not renewed:
                    self.lost.set()
                    return
        except Exception:
            log.exception("cannot renew the lease of retrieve job %s", self.claim.job_id)
        finally:
            connection.close()


@dataclass
class _Plan:
    # SOP Instance UID -> Series Instance UID of everything the request covers, when the
    # PACS answered an IMAGE-level C-FIND; None when it was not asked or could not tell.
    remote: dict[str, str] | None
    sop_classes: list[str] = field(default_factory=list)
    present: set[str] = field(default_factory=set)
    # A list, or (split) a generator that yields requests while the PACS lists instances.
    requests: Iterable[Dataset] = field(default_factory=list)
    # Without the list: how many instances the PACS says the request covers (nothing of it
    # being here), or None if it did not say.
    remote_count: int | None = None
    split: bool = False  # requests to be run RETRIEVE_PARALLEL_REQUESTS at a time

    @property
    def expected(self) -> int | None:
        return self.remote_count if self.remote is None else len(self.remote)

    @property
    def missing(self) -> int | None:
        return self.remote_count if self.remote is None else len(self.remote) - len(self.present)


def _local_uids(uids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(uids), 500):
        chunk = uids[start : start + 500]
        found.update(
            Instance.objects.filter(sop_instance_uid__in=chunk).values_list(
                "sop_instance_uid", flat=True
            )
        )
    return found


def _retrieve_identifier(level: str, study: str, series: str = "", sops=None) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    ds.StudyInstanceUID = study
    if series:
        ds.SeriesInstanceUID = series
    if sops:
        # PS3.4 C.4.2.2.1 / C.2.2.2.2: a list of UIDs matches any of them.
        ds.SOPInstanceUID = list(sops)
    return ds


def _local_instances(job: RetrieveJob) -> QuerySet:
    """The archive's instances of the requested study (or series)."""
    if job.series_instance_uid:
        return Instance.objects.filter(
            series__series_instance_uid=job.series_instance_uid,
            series__study__study_instance_uid=job.study_instance_uid,
        )
    return Instance.objects.filter(series__study__study_instance_uid=job.study_instance_uid)


def _remote_count(job: RetrieveJob) -> tuple[int | None, list[str]]:
    """(instances, SOP classes) the PACS reports for the requested study or series.

    One C-FIND answer at the request's level: Number of Study/Series Related Instances and,
    for a study, SOP Classes in Study (PS3.4 C.6.2.1.2, both optional return keys: a PACS
    that leaves them out gives None and an empty list).
    """
    terms = query.SearchTerms(
        study_instance_uid=job.study_instance_uid, series_instance_uid=job.series_instance_uid
    )
    level = "SERIES" if job.series_instance_uid else "STUDY"
    identifier = query.identifier(level, terms)
    count_keyword = f"NumberOf{level.title()}RelatedInstances"
    if level == "STUDY":
        identifier.SOPClassesInStudy = ""
    outcome = scu.find(job.node, identifier, limit=2)
    if len(outcome.matches) != 1:
        # None (the PACS does not hold it, or does not answer at this level) or an
        # ambiguous answer: let the retrieve's own responses tell.
        return None, []
    match = outcome.matches[0]
    count = dicom_text.integer(match, count_keyword)
    if count is not None and count <= 0:
        count = None  # nothing to plan with; the retrieve's answer says what there is
    classes = match.get("SOPClassesInStudy") if level == "STUDY" else None
    classes = classes if isinstance(classes, list | MultiValue) else [classes] if classes else []
    sop_classes = sorted({str(uid) for uid in classes if is_valid_uid(str(uid))})
    return count, sop_classes


def _plan(job: RetrieveJob, parts: int = 1) -> _Plan:
    """What to ask the PACS for, in how many requests (``parts`` of them may run at once)."""
    level = "SERIES" if job.series_instance_uid else "STUDY"
    whole = _retrieve_identifier(level, job.study_instance_uid, job.series_instance_uid)
    terms = query.SearchTerms(
        study_instance_uid=job.study_instance_uid, series_instance_uid=job.series_instance_uid
    )
    if not _local_instances(job).exists():
        # Nothing of it is here, so all of it is missing: no need to list the PACS's
        # instances one by one, a count is enough to follow and check the retrieve, unless
        # it is large enough to be worth splitting into requests that run side by side.
        count, sop_classes = _remote_count(job)
        if parts < 2 or count is None or count < parts * MIN_PART_INSTANCES:
            return _Plan(None, sop_classes, requests=[whole], remote_count=count)
        plan = _Plan(None, sop_classes, remote_count=count, split=True)
        plan.requests = _listed_requests(job.node, terms, plan, whole, -(-count // parts))
        return plan
    outcome = scu.find(job.node, query.identifier("IMAGE", terms), limit=sys.maxsize)
    remote = {}
    sop_classes = []
    for match in outcome.matches:
        sop = str(match.get("SOPInstanceUID", "") or "")
        if is_valid_uid(sop):
            remote[sop] = str(match.get("SeriesInstanceUID", "") or "")
            sop_class = str(match.get("SOPClassUID", "") or "")
            if is_valid_uid(sop_class):
                sop_classes.append(sop_class)
    if not remote:
        # The PACS lists no instances (or does not answer IMAGE-level queries): ask for the
        # whole study and let the C-MOVE/C-GET answer say how many there are.
        return _Plan(None, requests=[whole])
    present = _local_uids(list(remote))
    plan = _Plan(remote, sorted(set(sop_classes)), present)
    if not present:
        plan.requests = [whole]
        return plan
    by_series: dict[str, list[str]] = defaultdict(list)
    missing_by_series: dict[str, list[str]] = defaultdict(list)
    for sop, series in remote.items():
        by_series[series].append(sop)
        if sop not in present:
            missing_by_series[series].append(sop)
    # Requests of about equal size, one per part at least (each of at least
    # MIN_PART_INSTANCES), none listing more than UIDS_PER_REQUEST UIDs.
    per_part = -(-(len(remote) - len(present)) // max(parts, 1))
    per_request = min(UIDS_PER_REQUEST, max(MIN_PART_INSTANCES, per_part))
    requests = []
    for series, missing in missing_by_series.items():
        if series and len(missing) == len(by_series[series]) and len(missing) <= per_request:
            requests.append(_retrieve_identifier("SERIES", job.study_instance_uid, series))
            continue
        for start in range(0, len(missing), per_request):
            requests.append(
                _retrieve_identifier(
                    "IMAGE",
                    job.study_instance_uid,
                    series,
                    missing[start : start + per_request],
                )
            )
    plan.requests = requests
    plan.split = parts > 1 and len(requests) > 1
    return plan


def _listed_requests(
    node: PacsNode, terms: query.SearchTerms, plan: _Plan, whole: Dataset, per_part: int
) -> Iterator[Dataset]:
    """IMAGE-level requests of about ``per_part`` UIDs each, yielded while the PACS lists
    the instances (C-FIND at IMAGE level): the first, of only FIRST_REQUEST_INSTANCES, is
    under way while the rest of the list arrives. Once the list is complete it becomes
    ``plan.remote``; if the PACS lists nothing, the whole study (or series) is asked for, as
    without a split."""
    per_request = min(UIDS_PER_REQUEST, max(MIN_PART_INSTANCES, per_part))
    listing = query.identifier("IMAGE", terms)
    # Only what splitting needs (the SOP classes came with the count): Orthanc keeps these
    # in its index but reads each instance's file to answer SOP Class UID (a 200-slice CT
    # listed in ~0.5 s instead of ~1-1.5 s on a loaded machine).
    del listing.SOPClassUID, listing.InstanceNumber
    listed: dict[str, str] = {}
    batches: dict[str, list[str]] = defaultdict(list)
    size = FIRST_REQUEST_INSTANCES
    for match in scu.find_each(node, listing):
        sop = str(match.get("SOPInstanceUID", "") or "")
        if not is_valid_uid(sop) or sop in listed:
            continue
        series = listed[sop] = str(match.get("SeriesInstanceUID", "") or "")
        batch = batches[series]
        batch.append(sop)
        if len(batch) >= size:
            size = per_request
            yield _retrieve_identifier("IMAGE", terms.study_instance_uid, series, batch)
            batches[series] = []
    for series, batch in batches.items():
        if batch:
            yield _retrieve_identifier("IMAGE", terms.study_instance_uid, series, batch)
    if listed:
        plan.remote = listed
    else:
        yield whole


class _Attempt:
    """One run of a claimed job: plan, fetch, report."""

    def __init__(self, claim: Claim, stop: threading.Event, lease: _Lease) -> None:
        self.claim = claim
        self.stop = stop
        self.lease = lease
        self.cancelled = False
        self.job = RetrieveJob.objects.select_related("node").get(id=claim.job_id)
        self.present = 0
        self.done_before = 0  # sub-operations completed by earlier requests of this attempt
        self.failed_before = 0
        self.requested = 0
        self.expected: int | None = None
        self._last_flush = 0.0
        self._received_here = 0  # C-GET: instances ingested on our association
        self.outcomes: list[scu.SubOperations] = []
        # Requests of this attempt under way (several at once with RETRIEVE_PARALLEL_REQUESTS),
        # by id of their progress; the lock keeps their counts and flushes consistent.
        self._running: dict[int, scu.SubOperations] = {}
        self._lock = threading.RLock()

    # - bookkeeping -

    def _counts(self) -> dict:
        running = list(self._running.values())
        completed = self.done_before + sum(c.completed + c.warning for c in running)
        failed = self.failed_before + sum(c.failed for c in running)
        expected = self.expected
        totals = [c.total for c in running]
        if expected is None and running and None not in totals:
            expected = self.present + self.done_before + self.failed_before + sum(totals)
        received = self.present + completed
        if expected is not None:
            received = min(received, expected)
        return {
            "expected_count": expected,
            "present_count": self.present,
            "requested_count": self.requested,
            "received_count": received,
            "failed_count": failed,
        }

    def _write(self, **changes) -> bool:
        written = RetrieveJob.objects.filter(
            id=self.claim.job_id, lease_token=self.claim.token
        ).update(updated_at=timezone.now(), **changes)
        if not written:
            self.lease.lost.set()
        return bool(written)

    def _refresh_and_publish(self) -> None:
        self.job = RetrieveJob.objects.select_related("node").get(id=self.claim.job_id)
        if self.job.cancel_requested:
            self.cancelled = True
        progress.publish(self.job)

    def should_stop(self) -> bool:
        return self.cancelled or self.stop.is_set() or self.lease.lost.is_set()

    def on_progress(self, current: scu.SubOperations) -> bool:
        """Called per C-MOVE/C-GET response; True asks the PACS to cancel."""
        with self._lock:
            self._running[id(current)] = current
            now = time.monotonic()
            if now - self._last_flush >= FLUSH_SECONDS or current.status is not None:
                self._last_flush = now
                if self._write(**self._counts()):
                    self._refresh_and_publish()
        return self.should_stop()

    def _finished(self, outcome: scu.SubOperations) -> None:
        with self._lock:
            self._running.pop(id(outcome), None)
            self.outcomes.append(outcome)
            self.done_before += outcome.completed + outcome.warning
            self.failed_before += outcome.failed
            if self.expected is None and outcome.total is not None:
                self.requested += outcome.total

    def on_store(self, event) -> int:
        """C-GET: each instance arrives on our association and goes through ingest."""
        if self.should_stop():
            # PS3.4 C.4.3.3: we may refuse sub-operations once we want out.
            return statuses.OUT_OF_RESOURCES
        node = self.job.node
        try:
            result = ingest_pool.ingest(
                received.part10_bytes(event),
                Instance.Source.RETRIEVE,
                source_detail=f"{node.ae_title} from {node.host} (C-GET, job {self.job.pk})",
                expected_sop=received.announced_uids(event),
            )
        except Exception:
            log.exception("C-GET sub-operation of job %s could not be ingested", self.job.pk)
            return statuses.OUT_OF_RESOURCES
        if result.ok:
            self._received_here += 1
        return statuses.store_status(result)

    # - the attempt -

    def run(self) -> str:
        job = self.job
        node = job.node
        if job.cancel_requested:
            return self._end(State.CANCELLED, "cancelled")
        if not node.enabled:
            return self._end(State.FAILED, f"PACS node {node.name!r} is disabled")
        if node.retrieve_method == PacsNode.RetrieveMethod.MOVE and not node.may_store:
            return self._end(
                State.FAILED,
                f"PACS node {node.name!r} may not store to us, so C-MOVE cannot deliver "
                "(turn on 'may store' or use C-GET)",
            )
        try:
            parts = settings.RETRIEVE_PARALLEL_REQUESTS
            plan = _plan(job, parts)
            self.present = len(plan.present)
            self.expected = plan.expected
            if plan.missing == 0:
                self._write(**self._counts())
                return self._end(State.DONE, "")
            self.requested = plan.missing or 0
            self._write(**self._counts())
            self._refresh_and_publish()
            if plan.split:
                self._fetch_parallel(plan, parts)
            else:
                for identifier in plan.requests:
                    if self.should_stop():
                        break
                    self._finished(self._fetch(identifier, plan))
            return self._conclude(plan)
        except scu.PacsError as exc:
            return self._retry(str(exc))
        except _Permanent as exc:
            return self._end(State.FAILED, str(exc))

    def _fetch_parallel(self, plan: _Plan, parts: int) -> None:
        """Run the plan's requests ``parts`` at a time, each on its own association: a PACS
        that sends one request's instances one after another (Orthanc) sends two requests'
        side by side, and our receiving processes work on both at once."""
        errors: list[Exception] = []

        def run(identifier: Dataset) -> None:
            try:
                if not self.should_stop():
                    self._finished(self._fetch(identifier, plan))
            except Exception as exc:
                errors.append(exc)
            finally:
                connection.close()  # this thread's own connection

        with ThreadPoolExecutor(parts, thread_name_prefix=f"retrieve-{self.job.pk}") as pool:
            try:
                # Each request goes as soon as it is known (a listing may still be arriving).
                for identifier in plan.requests:
                    if self.should_stop():
                        break
                    pool.submit(run, identifier)
            except Exception as exc:  # the listing failed: the requests under way finish
                errors.append(exc)
            finally:
                close = getattr(plan.requests, "close", None)
                if close is not None:
                    close()  # a listing left unfinished (stopping) releases its association
        if errors:
            raise errors[0]

    def _fetch(self, identifier: Dataset, plan: _Plan) -> scu.SubOperations:
        node = self.job.node
        if node.retrieve_method == PacsNode.RetrieveMethod.GET:
            return scu.get(
                node,
                identifier,
                self.on_store,
                sop_classes=plan.sop_classes or None,
                on_progress=self.on_progress,
            )
        return scu.move(node, identifier, settings.DICOM_AE_TITLE, on_progress=self.on_progress)

    def _problem(self) -> str:
        """The first unsuccessful final status of this attempt, with the PACS's comment."""
        for outcome in self.outcomes:
            if outcome.status not in (None, statuses.SUCCESS):
                text = f"{outcome.operation} status 0x{outcome.status:04X}"
                return text + (f": {outcome.error_comment}" if outcome.error_comment else "")
        return ""

    def _nothing_arrived_hint(self) -> str:
        if self.job.node.retrieve_method != PacsNode.RetrieveMethod.MOVE:
            return ""
        return (
            f"; nothing arrived: C-MOVE delivers to our listener, so check that dicom_listener "
            f"is running and that the PACS knows AE title {settings.DICOM_AE_TITLE!r} at our "
            "address (refused instances are in the quarantine)"
        )

    def _conclude(self, plan: _Plan) -> str:
        counts = self._counts()
        if plan.remote is not None:
            # The archive is the truth: count what is here now.
            counts["received_count"] = len(_local_uids(list(plan.remote)))
            counts["expected_count"] = len(plan.remote)
        elif plan.remote_count is not None:
            # Nothing was here before this attempt, so what is here now is what arrived.
            counts["received_count"] = min(_local_instances(self.job).count(), plan.remote_count)
        self._write(**counts)
        if self.lease.lost.is_set():
            return "lost"
        cancelled_by_pacs = any(o.cancelled for o in self.outcomes)
        if self.cancelled or (cancelled_by_pacs and not self.stop.is_set()):
            return self._end(State.CANCELLED, "cancelled")
        if self.stop.is_set():
            return self._requeue("the worker stopped; the job resumes where it left off")
        problem = self._problem()
        failed = counts["failed_count"]
        detail = f"; the PACS reported {failed} failed" if failed else ""
        detail += f" ({problem})" if problem else ""
        if plan.expected is not None:
            # Known size (a listed or counted request): done when all of it is here; if not,
            # the next attempt lists the PACS's instances and asks only for the missing ones.
            missing = plan.expected - counts["received_count"]
            if missing == 0:
                return self._end(State.DONE, "")
            if counts["received_count"] == self.present:
                detail += self._nothing_arrived_hint()
            return self._retry(f"{missing} of {plan.expected} instances not received{detail}")
        if self.requested == 0 and not problem:
            raise _Permanent(
                f"PACS {self.job.node.name!r} has no instances for this "
                f"{'series' if self.job.series_instance_uid else 'study'}"
            )
        if failed == 0 and not problem:
            return self._end(State.DONE, "")
        if self.done_before == 0:
            detail += self._nothing_arrived_hint()
        return self._retry(f"{failed} of {self.requested} instances failed{detail}")

    def _end(self, state: str, error: str) -> str:
        self._write(
            state=state,
            error=error,
            finished_at=timezone.now(),
            lease_token="",
            lease_expires_at=None,
        )
        self._refresh_and_publish()
        log.info("retrieve job %s %s %s", self.job.pk, state, error)
        return state

    def _cancel_asked(self) -> bool:
        # A cancel that arrived while this attempt was failing (request_cancel only flags a
        # running job) must win over a retry, or the job waits out its backoff as "queued".
        return RetrieveJob.objects.filter(id=self.claim.job_id, cancel_requested=True).exists()

    def _retry(self, error: str) -> str:
        if self._cancel_asked():
            return self._end(State.CANCELLED, "cancelled")
        attempts = self.job.attempts
        if attempts >= settings.RETRIEVE_MAX_ATTEMPTS:
            return self._end(State.FAILED, f"{error} (gave up after {attempts} attempts)")
        delay = backoff_seconds(attempts)
        self._write(
            state=State.QUEUED,
            error=f"{error} (attempt {attempts} of {settings.RETRIEVE_MAX_ATTEMPTS}; "
            f"retrying in {delay:.0f} s)",
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            lease_token="",
            lease_expires_at=None,
        )
        self._refresh_and_publish()
        log.warning("retrieve job %s attempt %s failed: %s", self.job.pk, attempts, error)
        return State.QUEUED

    def _requeue(self, reason: str) -> str:
        if self._cancel_asked():
            return self._end(State.CANCELLED, "cancelled")
        # Not the job's fault: the attempt does not count.
        self._write(
            state=State.QUEUED,
            error=reason,
            attempts=F("attempts") - 1,
            next_attempt_at=timezone.now(),
            lease_token="",
            lease_expires_at=None,
        )
        self._refresh_and_publish()
        return State.QUEUED


def run_claimed(claim: Claim, stop: threading.Event | None = None) -> str:
    """Run one attempt of a claimed job; returns the state it was left in ("lost" if
    another worker took it over)."""
    stop = stop or threading.Event()
    with _Lease(claim) as lease:
        attempt = _Attempt(claim, stop, lease)
        try:
            return attempt.run()
        except Exception as exc:
            log.exception("retrieve job %s failed unexpectedly", claim.job_id)
            return attempt._retry(f"internal error: {type(exc).__name__}: {exc}")


def run_due_jobs(worker: str = "inline", stop: threading.Event | None = None) -> int:
    """Claim and run due jobs one after another in this thread; returns how many ran."""
    count = 0
    while not (stop and stop.is_set()):
        claim = claim_next(worker)
        if claim is None:
            return count
        run_claimed(claim, stop)
        count += 1
    return count
