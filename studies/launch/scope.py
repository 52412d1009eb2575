"""Where a launched (EMR link) session may go: one table of every route, one middleware.

A launched session's account (``studies.access.is_launch_session``) may see only what its
signed link named. ``studies.access.visible_studies`` already narrows which *studies* it
sees; this module narrows which *routes* it reaches, so pages that are not about a study
(the upload page, the PACS query panel, the admin, the retrieve queue) are closed to it.

Every URL name of the project is in ``ROUTES`` with a rule, decided here and nowhere else;
a route missing from the table is refused (fail closed), and a test walks the URL
resolver so a new route cannot be added without a decision. Ordinary accounts pass
untouched: the check costs nothing for them (the launch account is known by its name).

Rules:
``OPEN``       anyone (no study data, or the login/launch machinery itself)
``CLOSED``     never for a launched session (403 page, or JSON/plain text for API callers)
``STUDY``      only for a study the session may see; the UID is the route's keyword argument
``DICOMWEB``   reads (GET) of a study in scope, never a search across studies or a store
``PACS``       only the PACS endpoints the viewer needs for a PATIENT launch's own priors
``HOME``       the study list: the launch page is a launched session's study list

The views keep their own checks (defence in depth): this table only says where to stop early.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.deprecation import MiddlewareMixin

from studies.access import is_launch_session, visible_studies


class Rule(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    STUDY = "study"
    DICOMWEB = "dicomweb"
    PACS = "pacs"
    HOME = "home"


# Every route by its view name ("namespace:name"); a whole namespace by "namespace:*".
ROUTES: dict[str, Rule] = {
    "healthz": Rule.OPEN,
    "login": Rule.OPEN,  # signing in as someone else ends the launched session
    "logout": Rule.OPEN,
    "admin:*": Rule.CLOSED,
    "launch:invoke": Rule.OPEN,
    "launch:session": Rule.OPEN,  # the view shows only the session's own launch
    "launch:retrieve": Rule.OPEN,  # the view checks the prior belongs to the launch's patient
    "frontend:study-list": Rule.HOME,
    "frontend:study-detail": Rule.STUDY,
    "frontend:study-viewer": Rule.STUDY,
    "frontend:upload": Rule.CLOSED,
    "frontend:upload-files": Rule.CLOSED,
    "reports:list": Rule.STUDY,
    "reports:detail": Rule.STUDY,
    "reports:saved": Rule.STUDY,
    "reports:save-measurements": Rule.STUDY,
    "reports:save-key-images": Rule.STUDY,
    "export:study-zip": Rule.STUDY,  # the study of the link only; other studies are refused
    "dicomweb:*": Rule.DICOMWEB,
    "pacs:priors": Rule.PACS,
    "pacs:job": Rule.PACS,
    "pacs:nodes": Rule.CLOSED,
    "pacs:search": Rule.CLOSED,  # the PACS query panel
    "pacs:retrieve": Rule.CLOSED,
    "pacs:jobs": Rule.CLOSED,
    "pacs:job-cancel": Rule.CLOSED,
}

# Keyword arguments that carry the study of a STUDY route.
_STUDY_KWARGS = ("study_instance_uid", "study_uid", "study")
# may_use_pacs (studies.launch.views) takes the PACS view's function name.
_PACS_VIEWS = {"pacs:priors": "priors", "pacs:job": "job_detail"}
_MESSAGE = "A session opened from an EMR sees only the studies of its link; this is outside it."


def rule_for(view_name: str) -> Rule:
    """The rule of a route; unknown routes are closed."""
    if view_name in ROUTES:
        return ROUTES[view_name]
    namespace = view_name.rpartition(":")[0]
    return ROUTES.get(f"{namespace}:*", Rule.CLOSED) if namespace else Rule.CLOSED


def _study_uid(kwargs: dict) -> str:
    return next((str(kwargs[k]) for k in _STUDY_KWARGS if k in kwargs), "")


def _wants_page(request: HttpRequest, view_name: str) -> bool:
    """A person at a page (the 403 page) rather than a script (JSON)."""
    if view_name.startswith(("pacs:", "reports:save", "frontend:upload-files")):
        return False
    return request.method in ("GET", "HEAD")


def refusal(request: HttpRequest, view_name: str, kwargs: dict) -> HttpResponse | None:
    """None if a launched session may use this route with these arguments, else the 403."""
    rule = rule_for(view_name)
    if rule is Rule.OPEN:
        return None
    if rule is Rule.HOME:
        return redirect("launch:session")
    if rule is Rule.DICOMWEB:
        from studies.launch.views import dicomweb_refusal

        return dicomweb_refusal(request, str(kwargs.get("study", "")))
    if rule is Rule.PACS:
        from studies.launch.views import may_use_pacs

        if may_use_pacs(request, _PACS_VIEWS.get(view_name, "")):
            return None
    elif rule is Rule.STUDY:
        uid = _study_uid(kwargs)
        if uid and visible_studies(request.user).filter(study_instance_uid=uid).exists():
            return None
        if _wants_page(request, view_name) and uid:
            from studies.launch.views import not_visible

            return not_visible(request, uid)
    return _refuse(request, view_name)


def _refuse(request: HttpRequest, view_name: str) -> HttpResponse:
    if view_name.startswith("dicomweb:"):
        return HttpResponse(_MESSAGE, status=403, content_type="text/plain; charset=utf-8")
    if not _wants_page(request, view_name):
        return JsonResponse({"error": _MESSAGE}, status=403)
    from studies.launch import service
    from studies.launch.views import refused

    return refused(request, service.OUT_OF_SCOPE, _MESSAGE)


class LaunchScopeMiddleware(MiddlewareMixin):
    """Applies ``ROUTES`` to launched sessions before any view runs. Placed after
    AuthenticationMiddleware; ordinary accounts and anonymous requests pass untouched."""

    def process_view(
        self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict
    ) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not is_launch_session(user):
            return None
        match = request.resolver_match
        return refusal(request, match.view_name if match else "", kwargs)
