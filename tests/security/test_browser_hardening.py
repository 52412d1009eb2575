"""Browser hardening in headless Chromium against a real server: DICOM text carrying markup
stays text (study list, viewer overlays, admin), and no page breaks the Content Security
Policy, which allows no inline script anywhere (the admin included)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.bench.django_server import DjangoServer, manage
from tests.browser import chromium_page, require_chromium
from tests.dicom_files import make_ct, to_bytes

pytestmark = pytest.mark.browser
TIMEOUT_MS = 20_000

# If any of these ran, they would call the page's pwned() (defined by an init script).
# PN uses "=" between component groups (PS3.5 6.2.1.1), so the name's payload avoids it.
PATIENT_NAME = "<script>pwned()</script>"
STUDY_DESCRIPTION = "<script>pwned()</script><img src=x onerror=pwned()>"
SERIES_DESCRIPTION = "<img src=x onerror=pwned()><b>bold</b>"
PAYLOADS = (PATIENT_NAME, STUDY_DESCRIPTION, SERIES_DESCRIPTION)

INIT = """
window.__pwned = 0;
window.pwned = () => { window.__pwned += 1; };
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}`));
"""


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory) -> Iterator[tuple[DjangoServer, str]]:
    require_chromium()
    pytest.importorskip("playwright.sync_api")
    parent = tmp_path_factory.mktemp("hostile-server")
    ds = make_ct(
        patient_name=PATIENT_NAME,
        StudyDescription=STUDY_DESCRIPTION,
        SeriesDescription=SERIES_DESCRIPTION,
        rows=64,
        columns=64,
    )
    (parent / "study").mkdir()
    (parent / "study" / "hostile.dcm").write_bytes(to_bytes(ds))
    with DjangoServer(parent) as server:
        assert server.var_dir is not None
        out = manage(server.var_dir, "import_dicom", str(parent / "study"))
        assert "1 stored" in out.lower() or "stored: 1" in out.lower() or "stored" in out, out
        manage(
            server.var_dir,
            "shell",
            "-c",
            "from django.contrib.auth.models import User; "
            "User.objects.filter(username='bench').update(is_staff=True, is_superuser=True)",
        )
        yield server, str(ds.StudyInstanceUID)


def log_in(page, server: DjangoServer) -> None:
    page.goto(f"{server.url}/accounts/login/")
    page.fill("#id_username", server.username)
    page.fill("#id_password", server.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")


def assert_inert(page, *expected_text: str) -> None:
    body = page.locator("body").inner_text()
    for text in expected_text:
        assert text in body, f"{text!r} not shown as text on {page.url}"
    assert page.evaluate("window.__pwned") == 0, page.url
    # Parsed as markup, the payload would have produced elements; shown as text it did not.
    assert page.locator("img[src=x], b:text('bold')").count() == 0, page.url
    assert page.evaluate("window.__violations") == [], page.url


def test_markup_in_dicom_text_is_inert_in_the_study_list(hostile_server):
    server, _ = hostile_server
    with chromium_page() as page:
        page.add_init_script(INIT)
        log_in(page, server)
        assert_inert(page, PATIENT_NAME, STUDY_DESCRIPTION)
        assert page.errors == []


def test_markup_in_dicom_text_is_inert_in_the_viewer_overlays(hostile_server):
    from playwright.sync_api import expect

    server, study_uid = hostile_server
    with chromium_page() as page:
        page.add_init_script(INIT)
        log_in(page, server)
        page.goto(f"{server.url}/studies/{study_uid}/view/")
        expect(page.locator(".viewer")).to_have_attribute(
            "data-connection", "open", timeout=TIMEOUT_MS
        )
        viewport = page.locator(".viewport[data-viewport='0']")
        expect(viewport).to_have_attribute("data-loaded", re.compile(".+"), timeout=TIMEOUT_MS)
        expect(viewport.locator(".corner-top-right")).to_contain_text(
            STUDY_DESCRIPTION, timeout=TIMEOUT_MS
        )
        expect(viewport.locator(".corner-top-left")).to_contain_text(
            "<script>pwned()</script>", timeout=TIMEOUT_MS
        )
        expect(viewport.locator(".corner-top-right")).to_contain_text(
            SERIES_DESCRIPTION, timeout=TIMEOUT_MS
        )
        assert_inert(page, STUDY_DESCRIPTION)
        assert page.errors == []


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/admin/studies/patient/", (PATIENT_NAME,)),
        ("/admin/studies/study/", (STUDY_DESCRIPTION,)),
        ("/admin/studies/series/", (SERIES_DESCRIPTION,)),
    ],
)
def test_markup_in_dicom_text_is_inert_in_the_admin(hostile_server, path, shown):
    server, _ = hostile_server
    with chromium_page() as page:
        page.add_init_script(INIT)
        log_in(page, server)
        page.goto(f"{server.url}{path}")
        assert_inert(page, *shown)
        # The change page of the first row too (read-only fields render the raw values).
        page.locator("#result_list tbody tr a").first.click()
        page.wait_for_load_state()
        assert_inert(page)
        assert page.errors == []


def test_every_page_carries_a_policy_without_unsafe_inline_script(hostile_server):
    import urllib.request

    server, _ = hostile_server
    with urllib.request.urlopen(f"{server.url}/accounts/login/") as response:  # noqa: S310
        policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["object-src"] == "'none'"
