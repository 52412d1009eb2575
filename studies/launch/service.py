"""Verify a launch link and open its scoped session account.

Order of checks, each with its own refusal so the 403 page can say which: the EMR is known
and enabled, the signature matches (tampered), the parameters parse (400), the link has not
expired and does not outlive the integration's link lifetime (expired), the nonce was never
used (replayed). Only then is anything resolved or created.

No PHI is logged here: log lines carry the integration, the reason and the grant number.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from studies.access import LAUNCH_USERNAME_PREFIX
from studies.launch import iid, signing
from studies.models import (
    EmrIntegration,
    LaunchGrant,
    LaunchNonce,
    LaunchScopeStudy,
    PacsNode,
    Study,
)

logger = logging.getLogger(__name__)

# Clocks of the EMR and the viewer may differ a little.
CLOCK_SKEW_SECONDS = 30

TAMPERED = "tampered"
EXPIRED = "expired"
REPLAYED = "replayed"
OUT_OF_SCOPE = "out_of_scope"
UNKNOWN_EMR = "unknown_emr"


class LaunchRefused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class RemoteStudy:
    node: str
    study_instance_uid: str
    job_id: int | None


def verify(
    pairs: list[tuple[str, str]], now: float | None = None
) -> tuple[EmrIntegration, iid.LaunchRequest]:
    """Check a link; raise ``LaunchRefused`` or ``iid.InvalidLaunch``. Uses up the nonce."""
    now = time.time() if now is None else now
    values = dict(pairs)
    integration = EmrIntegration.objects.filter(name=values.get("emr", ""), enabled=True).first()
    if integration is None:
        raise LaunchRefused(
            UNKNOWN_EMR, "The link does not name an EMR integration configured here."
        )
    if not values.get("signature") or not signing.signature_matches(
        integration.shared_secret, pairs, values["signature"]
    ):
        raise LaunchRefused(TAMPERED, "The link's signature does not match its contents.")
    launch = iid.parse(pairs)
    if launch.expires + CLOCK_SKEW_SECONDS < now:
        raise LaunchRefused(EXPIRED, "The link has expired. Open the images again from the EMR.")
    if launch.expires - now > integration.link_lifetime_seconds + CLOCK_SKEW_SECONDS:
        raise LaunchRefused(
            EXPIRED,
            "The link is valid for longer than this EMR integration allows "
            f"({integration.link_lifetime_seconds} s).",
        )
    try:
        with transaction.atomic():
            LaunchNonce.objects.create(
                integration=integration,
                nonce=launch.nonce,
                expires_at=timezone.now() + timedelta(seconds=launch.expires - now + 60),
            )
    except IntegrityError:
        raise LaunchRefused(
            REPLAYED, "The link was already used. Open the images again from the EMR."
        ) from None
    return integration, launch


def _local_study_uids(launch: iid.LaunchRequest) -> set[str]:
    found = set(
        Study.objects.filter(study_instance_uid__in=launch.study_uids).values_list(
            "study_instance_uid", flat=True
        )
    )
    if launch.accession_numbers:
        found |= set(
            Study.objects.filter(accession_number__in=launch.accession_numbers).values_list(
                "study_instance_uid", flat=True
            )
        )
    return found


def find_and_retrieve_remote(launch: iid.LaunchRequest, local: set[str], user) -> list[RemoteStudy]:
    """C-FIND the studies of a STUDY launch that are not here on each enabled PACS node and
    queue a retrieve for each one found (the first node that has it)."""
    from studies.pacs import jobs, query, scu

    wanted_uids = [uid for uid in launch.study_uids if uid not in local]
    local_accessions = set(
        Study.objects.filter(study_instance_uid__in=local).values_list(
            "accession_number", flat=True
        )
    )
    wanted_accessions = [a for a in launch.accession_numbers if a not in local_accessions]
    remote: dict[str, RemoteStudy] = {}
    for node in PacsNode.objects.filter(enabled=True):
        terms = [query.SearchTerms(study_instance_uid=uid) for uid in wanted_uids]
        terms += [query.SearchTerms(accession_number=a) for a in wanted_accessions]
        for term in terms:
            try:
                result = query.search(node, "STUDY", term, limit=20)
            except (scu.PacsError, query.InvalidQuery) as exc:
                logger.warning(
                    "launch lookup on PACS node %s failed: %s", node.name, type(exc).__name__
                )
                continue
            for row in result.rows:
                uid = row.get("study_instance_uid", "")
                if uid and uid not in remote and uid not in local:
                    job, _ = jobs.queue_retrieve(node, uid, user=user)
                    remote[uid] = RemoteStudy(node.name, uid, job.pk)
        wanted_uids = [uid for uid in wanted_uids if uid not in remote]
    return list(remote.values())


def open_session_account(integration: EmrIntegration, launch: iid.LaunchRequest):
    """The account the launched browser session signs in as: no password, never listed as
    staff, bound to one grant that says what it may see."""
    User = get_user_model()
    user = User(username=f"{LAUNCH_USERNAME_PREFIX}{secrets.token_hex(8)}", is_active=True)
    user.set_unusable_password()
    user.save()
    grant = LaunchGrant.objects.create(
        user=user,
        integration=integration,
        request_type=launch.request_type,
        emr_user=launch.user,
        patient_id=launch.patient_id,
        issuer_of_patient_id=launch.issuer_of_patient_id,
        parameters=launch.summary(),
        expires_at=timezone.now() + timedelta(seconds=integration.session_lifetime_seconds),
    )
    return user, grant


def purge_expired() -> None:
    """Forget nonces whose links have expired (a replay is refused as expired by then) and
    the session accounts of grants that ended a day ago (their audit events keep the names)."""
    now = timezone.now()
    LaunchNonce.objects.filter(expires_at__lt=now).delete()
    ended = LaunchGrant.objects.filter(expires_at__lt=now - timedelta(days=1))
    get_user_model().objects.filter(launch_grant__in=ended).delete()


@dataclass
class Launch:
    user: object
    grant: LaunchGrant
    local_uids: list[str]
    remote: list[RemoteStudy]


def launch(pairs: list[tuple[str, str]], now: float | None = None) -> Launch:
    """Verify the link, then make the session account and its scope (and queue retrieves)."""
    purge_expired()
    integration, request = verify(pairs, now)
    user, grant = open_session_account(integration, request)
    local: set[str] = set()
    remote: list[RemoteStudy] = []
    if request.request_type == "STUDY":
        local = _local_study_uids(request)
        remote = find_and_retrieve_remote(request, local, user)
        scope = set(request.study_uids) | local | {r.study_instance_uid for r in remote}
        LaunchScopeStudy.objects.bulk_create(
            LaunchScopeStudy(grant=grant, study_instance_uid=uid) for uid in sorted(scope)
        )
    logger.info(
        "EMR launch #%s by integration %s: %s, %d local, %d remote",
        grant.pk,
        integration.name,
        request.request_type,
        len(local),
        len(remote),
    )
    return Launch(user, grant, sorted(local), remote)
