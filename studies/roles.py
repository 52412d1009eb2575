"""Roles: what a signed-in account may do, as opposed to which studies it sees
(``studies.access`` decides that).

Two roles. A **clinician** views, queries, retrieves from a PACS and exports. An **admin**
(Django ``is_staff``) may also administer: the admin site, PACS nodes, the quarantine.

Every active account is a clinician unless ``CLINICIAN_GROUP`` names a Django group, in which
case only its members (and admins) are: a site that shares its user table with other
applications can keep those users out without touching this code.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class Capability(StrEnum):
    VIEW = "view"
    QUERY = "query"
    RETRIEVE = "retrieve"
    EXPORT = "export"
    ADMINISTER = "administer"


CLINICIAN = frozenset({Capability.VIEW, Capability.QUERY, Capability.RETRIEVE, Capability.EXPORT})
ADMIN = CLINICIAN | {Capability.ADMINISTER}


def capabilities(user: Any) -> frozenset[Capability]:
    """Everything ``user`` may do; empty for anonymous or inactive accounts."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return frozenset()
    if user.is_staff:
        return ADMIN
    group = getattr(settings, "CLINICIAN_GROUP", "")
    if group and not user.groups.filter(name=group).exists():
        return frozenset()
    return CLINICIAN


def has_capability(user: Any, capability: Capability) -> bool:
    return capability in capabilities(user)


def require_capability(capability: Capability) -> Callable[[Callable[..., HttpResponse]], Any]:
    """View decorator: 401 without a login, 403 without the capability (JSON bodies, since
    the callers are scripts and the viewer's fetches)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return JsonResponse({"error": "Log in first."}, status=401)
            if not has_capability(user, capability):
                return JsonResponse(
                    {"error": f"Your role does not allow {capability}."}, status=403
                )
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
