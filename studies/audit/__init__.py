"""The audit trail: who did what to which patient's study, from where, and how it ended.

``record`` is the one call every hook makes (one line each, at the place the action
happens). Rows are searchable in the admin and exported as DICOM PS3.15 A.5 audit messages
(``dicom_xml``); with ``AUDIT_SYSLOG_ADDRESS`` set each message is also sent to syslog
(``syslog``). Recording never fails the action it records: a broken audit store is logged
(without PHI) and the action goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from studies.access import is_launch_session
from studies.models import AuditEvent, LaunchGrant, Study

logger = logging.getLogger(__name__)
Kind = AuditEvent.Kind
Outcome = AuditEvent.Outcome


def client_address(request: Any) -> str:
    """The peer address Django saw (REMOTE_ADDR; a proxy must set it, we do not trust
    X-Forwarded-For from anyone), or a websocket scope's client."""
    if request is None:
        return ""
    meta = getattr(request, "META", None)
    if meta is not None:
        return str(meta.get("REMOTE_ADDR", ""))[:100]
    client = request.get("client") if isinstance(request, dict) else None
    return str(client[0])[:100] if client else ""


def who_is(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    if not is_launch_session(user):  # known by its name: no query for ordinary accounts
        return user.get_username()[:200]
    grant = LaunchGrant.objects.filter(user=user.pk).select_related("integration").first()
    if grant is not None:
        return f"emr:{grant.integration.name}/{grant.emr_user or '?'}"[:200]
    return user.get_username()[:200]


def record(
    kind: str,
    *,
    request: Any = None,
    user: Any = None,
    who: str = "",
    outcome: int = Outcome.SUCCESS,
    study_uid: str = "",
    patient_id: str = "",
    patient_name: str = "",
    source_address: str = "",
    detail: str = "",
) -> AuditEvent | None:
    """Store one audit event (and send it to syslog when configured)."""
    try:
        if user is None and request is not None and hasattr(request, "user"):
            user = request.user
        if study_uid and not patient_id:
            study = (
                Study.objects.select_related("patient").filter(study_instance_uid=study_uid).first()
            )
            if study is not None:
                patient_id, patient_name = study.patient.patient_id, study.patient.name
        event = AuditEvent.objects.create(
            kind=kind,
            outcome=outcome,
            who=(who or who_is(user))[:200],
            source_address=(source_address or client_address(request))[:100],
            patient_id=patient_id[:64],
            patient_name=patient_name[:324],
            study_instance_uid=study_uid[:64],
            detail=detail[:500],
        )
    except Exception:  # noqa: BLE001 (see the module docstring)
        logger.exception("audit event %s could not be stored", kind)
        return None
    from studies.audit import syslog

    syslog.send(event)
    return event
