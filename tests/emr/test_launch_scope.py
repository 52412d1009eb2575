"""A launched (EMR link) session stays within its scope on every route of the project.

``studies.launch.scope.ROUTES`` decides per route; here each route is tried with a session
launched for study A (patient 12345 of HOSP), against A and against C (another patient),
and the resolver is walked so a route added later without a decision, or without a case
here, fails this file.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from studies.launch.scope import ROUTES, Rule, rule_for
from tests.emr.conftest import STUDY_A, STUDY_C
from tests.emr.links import signed_link

pytestmark = pytest.mark.django_db

A, C = STUDY_A, STUDY_C
SERIES = "1.2.3.4"
JOB = 987654

# (view name, method, path, expected status for a session launched for study A)
CASES = [
    ("healthz", "get", "/healthz", 200),
    ("login", "get", "/accounts/login/", 200),
    ("logout", "post", "/accounts/logout/", 302),
    ("admin:index", "get", "/admin/", 403),
    ("admin:studies_auditevent_changelist", "get", "/admin/studies/auditevent/", 403),
    ("admin:auth_user_changelist", "get", "/admin/auth/user/", 403),
    ("launch:invoke", "get", "/IHEInvokeImageDisplay", 403),  # unsigned: refused as such
    ("launch:session", "get", "/launch/", 200),
    ("launch:retrieve", "post", "/launch/retrieve", 403),  # a STUDY launch has no priors
    ("frontend:study-list", "get", "/", 302),  # to the launch page
    ("frontend:study-detail", "get", f"/studies/{A}/", 200),
    ("frontend:study-detail", "get", f"/studies/{C}/", 403),
    ("frontend:study-viewer", "get", f"/studies/{A}/view/", 200),
    ("frontend:study-viewer", "get", f"/studies/{C}/view/", 403),
    ("frontend:upload", "get", "/upload/", 403),
    ("frontend:upload-files", "post", "/upload/files/", 403),
    ("reports:list", "get", f"/studies/{A}/reports/", 200),
    ("reports:list", "get", f"/studies/{C}/reports/", 403),
    ("reports:saved", "get", f"/studies/{A}/reports/saved.json", 200),
    ("reports:saved", "get", f"/studies/{C}/reports/saved.json", 403),
    ("reports:detail", "get", f"/studies/{C}/reports/{SERIES}/", 403),
    ("reports:save-measurements", "post", f"/studies/{A}/reports/measurements", 400),  # empty
    ("reports:save-measurements", "post", f"/studies/{C}/reports/measurements", 403),
    ("reports:save-key-images", "post", f"/studies/{C}/reports/key-images", 403),
    ("export:study-zip", "get", f"/export/studies/{A}.zip", 200),
    ("export:study-zip", "get", f"/export/studies/{C}.zip", 403),
    ("dicomweb:studies", "get", "/dicomweb/studies", 403),  # a search across patients
    ("dicomweb:studies", "post", "/dicomweb/studies", 403),  # STOW-RS
    ("dicomweb:study", "get", f"/dicomweb/studies/{C}", 403),
    ("dicomweb:study-metadata", "get", f"/dicomweb/studies/{A}/metadata", 200),
    ("dicomweb:study-metadata", "get", f"/dicomweb/studies/{C}/metadata", 403),
    ("dicomweb:study-series", "get", f"/dicomweb/studies/{A}/series", 200),
    ("dicomweb:study-series", "get", f"/dicomweb/studies/{C}/series", 403),
    ("dicomweb:study-thumbnail", "get", f"/dicomweb/studies/{C}/thumbnail", 403),
    ("dicomweb:study-rendered", "get", f"/dicomweb/studies/{C}/rendered", 403),
    ("dicomweb:study-instances", "get", f"/dicomweb/studies/{C}/instances", 403),
    ("dicomweb:series-instances", "get", f"/dicomweb/studies/{C}/series/{SERIES}/instances", 403),
    ("dicomweb:series-resource", "get", f"/dicomweb/studies/{C}/series/{SERIES}", 403),
    ("dicomweb:series-metadata", "get", f"/dicomweb/studies/{C}/series/{SERIES}/metadata", 403),
    ("dicomweb:series-rendered", "get", f"/dicomweb/studies/{C}/series/{SERIES}/rendered", 403),
    ("dicomweb:series-thumbnail", "get", f"/dicomweb/studies/{C}/series/{SERIES}/thumbnail", 403),
    ("dicomweb:instance", "get", f"/dicomweb/studies/{C}/series/1.2/instances/1.3", 403),
    (
        "dicomweb:instance-metadata",
        "get",
        f"/dicomweb/studies/{C}/series/1.2/instances/1.3/metadata",
        403,
    ),
    (
        "dicomweb:instance-rendered",
        "get",
        f"/dicomweb/studies/{C}/series/1.2/instances/1.3/rendered",
        403,
    ),
    (
        "dicomweb:instance-thumbnail",
        "get",
        f"/dicomweb/studies/{C}/series/1.2/instances/1.3/thumbnail",
        403,
    ),
    ("dicomweb:frames", "get", f"/dicomweb/studies/{C}/series/1.2/instances/1.3/frames/1", 403),
    (
        "dicomweb:frames-rendered",
        "get",
        f"/dicomweb/studies/{C}/series/1.2/instances/1.3/frames/1/rendered",
        403,
    ),
    (
        "dicomweb:frames-thumbnail",
        "get",
        f"/dicomweb/studies/{C}/series/1.2/instances/1.3/frames/1/thumbnail",
        403,
    ),
    ("dicomweb:series", "get", "/dicomweb/series", 403),
    ("dicomweb:instances", "get", "/dicomweb/instances", 403),
    ("pacs:nodes", "get", "/pacs/nodes/", 403),
    ("pacs:search", "get", "/pacs/nodes/orthanc/search?patient_id=12345", 403),
    ("pacs:priors", "get", "/pacs/priors?patient_id=12345", 403),  # a STUDY launch
    ("pacs:retrieve", "post", "/pacs/retrieve", 403),
    ("pacs:jobs", "get", "/pacs/jobs/", 403),
    ("pacs:job", "get", f"/pacs/jobs/{JOB}", 403),  # not this session's job
    ("pacs:job-cancel", "post", f"/pacs/jobs/{JOB}/cancel", 403),
]


def view_names(patterns=None, namespace: str = "") -> set[str]:
    names: set[str] = set()
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            names |= view_names(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(namespace + entry.name)
    return names


@pytest.fixture
def launched(client, integration, studies):
    assert client.get(signed_link(studyUID=STUDY_A)).status_code == 302
    return client


def test_every_route_has_a_scope_decision_and_a_case_here():
    names = view_names()
    assert names, "the resolver lists no routes"
    undecided = sorted(n for n in names if n not in ROUTES and f"{n.split(':')[0]}:*" not in ROUTES)
    assert undecided == []
    untried = sorted(n for n in names if not n.startswith("admin:"))
    tried = {case[0] for case in CASES}
    assert sorted(set(untried) - tried) == []


def test_an_unknown_route_is_closed_to_a_launched_session():
    assert rule_for("someday:new-page") is Rule.CLOSED
    assert rule_for("no-namespace") is Rule.CLOSED
    assert rule_for("admin:anything") is Rule.CLOSED


def test_a_launched_session_reaches_only_its_scope(launched):
    # One session for every case (a launch per case would cost a second each); logging out
    # comes last since it ends the session.
    wrong = []
    for name, method, path, status in sorted(CASES, key=lambda case: case[0] == "logout"):
        if method == "get":
            response = launched.get(path)
        else:
            response = launched.post(path, "{}", content_type="application/json")
        if response.status_code != status:
            wrong.append((name, path, response.status_code, response.content[:200]))
            continue
        assert response.resolver_match.view_name == name, path
        if name == "frontend:study-list":
            assert response["Location"] == "/launch/"
        if status == 403 and response["Content-Type"].startswith("text/html"):
            assert "Outside this launch" in response.content.decode() or name == "launch:invoke"
    assert wrong == []


def test_the_pages_of_a_launched_session_offer_no_upload_or_study_list(launched):
    page = launched.get(f"/studies/{A}/").content.decode()
    assert 'href="/upload/"' not in page
    assert 'href="/launch/"' in page


def test_ordinary_accounts_are_not_touched_by_the_launch_scope(clinician_client, studies):
    assert clinician_client.get("/upload/").status_code == 200
    assert clinician_client.get("/").status_code == 200
    assert clinician_client.get(f"/studies/{C}/reports/saved.json").status_code == 200
    page = clinician_client.get(f"/studies/{A}/").content.decode()
    assert 'href="/upload/"' in page


def test_a_patient_launch_reaches_its_own_priors_and_retrieves_only(client, integration, studies):
    client.get(signed_link("PATIENT", patientID="12345^^^HOSP"))
    assert client.get("/pacs/priors?patient_id=12345&issuer=HOSP").status_code == 200
    assert client.get("/pacs/priors?patient_id=999").status_code == 403
    assert client.get(f"/studies/{C}/view/").status_code == 403
    assert client.get("/upload/").status_code == 403
