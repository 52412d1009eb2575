"""DICOMweb reads as audit events: QIDO-RS searches are queries (PS3.15 A.5.3.10), WADO-RS
metadata and instance retrieves open a study, frames, rendered images and thumbnails make an
image session (both DICOM Instances Accessed, A.5.3.2).

One event per user, study and kind per ``AUDIT_DICOMWEB_WINDOW_SECONDS`` (settings; 5 minutes
by default), not one per request: a viewer or a DICOMweb client asks for hundreds of frames,
thumbnails and metadata parts while a study is on screen, and a row for each would drown the
trail (and put a database write on the image hot path) while telling an auditor nothing more
than "this user looked at this patient's study at about this time", which is what the audit
message says. A return to the study after the window is a new event. Searches that name no
study are told apart by their terms, since each one may look at other patients.

The window is remembered in the cache first (no query for the requests that follow), then
checked in the audit table itself, so another server process or a restart does not repeat
an event (two processes racing on the very first request may both write one; rare and
harmless). Only answered reads (2xx and 304) count: refusals are the launch scope's and the
login's business, and are audited there.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from studies import audit
from studies.models import AuditEvent

Kind = AuditEvent.Kind
DEFAULT_WINDOW_SECONDS = 300
_CACHE_PREFIX = "audit-dicomweb:"
_DETAIL_PREFIX = "DICOMweb "
# Paging, or asking for more attributes, does not make another search.
_NOT_SEARCH_TERMS = frozenset({"offset", "limit", "includefield"})


def classify(view: Any) -> tuple[str, str] | None:
    """(audit kind, what it was) of a DICOMweb view, or None for one that is not a read."""
    module = getattr(view, "__module__", "").rpartition(".")[2]
    name = getattr(view, "__name__", "")
    if module == "qido":
        return Kind.QUERY, "QIDO-RS " + name.removeprefix("search_for_")
    if module == "wado" and name == "retrieve_frames":
        return Kind.IMAGE_SESSION, "WADO-RS frames"
    if module == "wado":
        return Kind.STUDY_OPENED, "WADO-RS " + name.replace("_", " ")
    if module == "rendered":
        return Kind.IMAGE_SESSION, "WADO-RS " + name.replace("_", " ")
    return None


def _window() -> int:
    return int(getattr(settings, "AUDIT_DICOMWEB_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS))


def _search_terms(request: HttpRequest) -> str:
    pairs = sorted(
        (key, value)
        for key, values in request.GET.lists()
        if key not in _NOT_SEARCH_TERMS
        for value in values
    )
    return "&".join(f"{key}={value}" for key, value in pairs)


def note(request: HttpRequest, view: Any, kwargs: dict, response: HttpResponse) -> None:
    """Record the read ``view`` answered with ``response``, unless recorded within the window."""
    if not (200 <= response.status_code < 300 or response.status_code == 304):
        return
    kind_and_label = classify(view)
    user = getattr(request, "user", None)
    if kind_and_label is None or user is None or not user.is_authenticated:
        return
    kind, label = kind_and_label
    study_uid = str(kwargs.get("study", ""))
    detail = _DETAIL_PREFIX + label
    terms = "" if study_uid else _search_terms(request)
    if terms:
        detail = f"{detail}?{terms}"
    window = _window()
    key = ":".join([_CACHE_PREFIX, str(user.pk), kind, study_uid, _digest(terms)])
    if window > 0 and not cache.add(key, 1, timeout=window):
        return
    who = audit.who_is(user)
    recent = AuditEvent.objects.filter(
        kind=kind,
        who=who,
        study_instance_uid=study_uid,
        created_at__gte=timezone.now() - timedelta(seconds=window),
        detail__startswith=_DETAIL_PREFIX,
    )
    if terms:
        recent = recent.filter(detail=detail[:500])
    if window > 0 and recent.exists():
        return
    audit.record(kind, request=request, who=who, study_uid=study_uid, detail=detail)


def _digest(terms: str) -> str:
    return hashlib.sha256(terms.encode()).hexdigest()[:16] if terms else ""
