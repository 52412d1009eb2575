"""Who may see which study: the one place that decides.

Any active, authenticated user sees every study, except the session account of an EMR
launch (``studies.launch``): it has a ``LaunchGrant`` and sees only the studies (STUDY
launch) or the patient (PATIENT launch) its signed link named, until the grant expires.
Every caller (the pages, DICOMweb, the streaming consumer) asks ``visible_studies`` or
``can_view_study`` and nothing else.

Every rule lives in the SQL, read at the time the query runs, and the statement's text
depends only on the user's pk (and whether the account is authenticated and active):
``studies.streaming.lookup`` compiles it once per user and reuses it with the current time.
A rule decided in Python (a group, a permission) would be frozen in that cached statement:
put it in the query, or key that cache on it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from studies.models import LaunchGrant, LaunchScopeStudy, Study


def visible_studies(user: Any) -> QuerySet[Study]:
    """The studies ``user`` may open (a queryset, so callers can filter and join on it)."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return Study.objects.none()
    # The account is read again inside the same query: a websocket lives for hours, and a
    # user deactivated meanwhile must lose access on the next request, not the next login.
    still_active = get_user_model().objects.filter(pk=user.pk, is_active=True)
    # Launch scope, in the same single query: no grant means the account's own rights.
    grants = LaunchGrant.objects.filter(user=user.pk)
    live = grants.filter(expires_at__gt=timezone.now())
    named_study = LaunchScopeStudy.objects.filter(
        grant__in=live, study_instance_uid=OuterRef("study_instance_uid")
    )
    named_patient = (
        live.filter(request_type=LaunchGrant.RequestType.PATIENT)
        .filter(patient_id=OuterRef("patient__patient_id"))
        .filter(
            # No assigning authority in the link: any issuer of that patient ID. A study
            # without Issuer of Patient ID (0010,0021), as many PACS send, is taken to be of
            # the local domain; a study naming another issuer is another patient.
            Q(issuer_of_patient_id="")
            | Q(issuer_of_patient_id=OuterRef("patient__issuer_of_patient_id"))
            | Exists(
                Study.objects.filter(pk=OuterRef(OuterRef("pk")), patient__issuer_of_patient_id="")
            )
        )
    )
    return Study.objects.filter(Exists(still_active)).filter(
        ~Exists(grants) | Exists(named_study) | Exists(named_patient)
    )


def can_view_study(user: Any, study_uid: str) -> bool:
    return visible_studies(user).filter(study_instance_uid=study_uid).exists()


def launch_grant(user: Any) -> LaunchGrant | None:
    """The grant of a launched session's account, or None for an ordinary account."""
    if not getattr(user, "is_authenticated", False):
        return None
    return LaunchGrant.objects.filter(user=user.pk).select_related("integration").first()


# The session accounts of launches are named so (studies.launch.service): a check costs no query.
LAUNCH_USERNAME_PREFIX = "emr-launch-"


def is_launch_session(user: Any) -> bool:
    """Whether ``user`` is the account of a launched session (by name, without a query)."""
    return getattr(user, "is_authenticated", False) and user.get_username().startswith(
        LAUNCH_USERNAME_PREFIX
    )
