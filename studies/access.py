"""Who may see which study: the one place that decides.

For now any active, authenticated user sees every study. Signed launch links and per-user
scoping come later and change only this module; every caller (the streaming consumer, and
the views as they adopt it) asks ``visible_studies`` or ``can_view_study`` and nothing else.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, QuerySet

from studies.models import Study


def visible_studies(user: Any) -> QuerySet[Study]:
    """The studies ``user`` may open (a queryset, so callers can filter and join on it)."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return Study.objects.none()
    # The account is read again inside the same query: a websocket lives for hours, and a
    # user deactivated meanwhile must lose access on the next request, not the next login.
    still_active = get_user_model().objects.filter(pk=user.pk, is_active=True)
    return Study.objects.filter(Exists(still_active))


def can_view_study(user: Any, study_uid: str) -> bool:
    return visible_studies(user).filter(study_instance_uid=study_uid).exists()
