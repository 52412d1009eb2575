"""Every page, JSON endpoint, DICOMweb route, download and socket requires a login."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from studies.roles import Capability, capabilities, has_capability, require_capability
from tests.streaming.client import communicator

# Open on purpose: the login form itself, and the load balancer's liveness probe, which
# answers a fixed body and reveals nothing about the archive.
PUBLIC = {"accounts/login/", "healthz", "accounts/logout/", "admin/login/", "admin/logout/"}
UID = "1.2.3"


def every_route() -> list[str]:
    """Every URL the project serves, placeholders filled with a syntactically valid value."""
    found: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            text = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, text)
            elif isinstance(pattern, URLPattern):
                found.append(text)

    walk(get_resolver().url_patterns, "")
    paths = []
    for route in found:
        if route in PUBLIC:
            continue
        if route.startswith("^") or "(?P" in route:  # the admin's regex routes
            route = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", route).strip("^$").replace("\\", "")
        route = re.sub(r"<int:[^>]+>", "1", route)
        route = re.sub(r"<[^>]+>", UID, route)
        paths.append("/" + route)
    return sorted(set(paths))


def refused(response) -> bool:
    if response.status_code in {401, 403, 404, 405}:
        return True
    # A page sends the browser to a login form (the site's or the admin's).
    return response.status_code == 302 and "login" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", every_route())
def test_anonymous_visitor_is_refused_on_every_route(client, path):
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        assert refused(response), f"{method.upper()} {path} answered {response.status_code}"


def test_the_route_walk_covers_every_surface():
    paths = every_route()
    # The walk must reach each include; a silent empty list would make the test above vacuous.
    for prefix in ("/dicomweb/studies", "/pacs/", "/admin/", "/studies/", "/upload/"):
        assert any(path.startswith(prefix) for path in paths), prefix


@pytest.mark.django_db(transaction=True)  # the session and auth layers may touch the database
async def test_anonymous_socket_is_refused():
    socket = await communicator(None)
    connected, _ = await socket.connect()
    assert not connected
    await socket.disconnect()


@pytest.mark.django_db
def test_clinician_may_view_query_retrieve_export_but_not_administer(clinician):
    assert capabilities(clinician) == {
        Capability.VIEW,
        Capability.QUERY,
        Capability.RETRIEVE,
        Capability.EXPORT,
    }
    assert not has_capability(clinician, Capability.ADMINISTER)


@pytest.mark.django_db
def test_admin_may_also_administer(admin_user):
    assert has_capability(admin_user, Capability.ADMINISTER)
    assert has_capability(admin_user, Capability.EXPORT)


@pytest.mark.django_db
def test_inactive_account_has_no_role(clinician):
    clinician.is_active = False
    assert capabilities(clinician) == frozenset()


@pytest.mark.django_db
def test_clinician_group_setting_limits_the_role_to_its_members(settings, clinician):
    from django.contrib.auth.models import Group

    settings.CLINICIAN_GROUP = "radiology"
    assert capabilities(clinician) == frozenset()
    clinician.groups.add(Group.objects.create(name="radiology"))
    assert has_capability(clinician, Capability.VIEW)


@pytest.mark.django_db
def test_require_capability_answers_401_then_403(rf, clinician):
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpResponse

    view = require_capability(Capability.ADMINISTER)(lambda request: HttpResponse("ok"))
    request = rf.get("/")
    request.user = AnonymousUser()
    assert view(request).status_code == 401
    request.user = clinician
    assert view(request).status_code == 403
    clinician.is_staff = True
    assert view(request).status_code == 200
