"""The viewer page and the links to it: the page carries only where to connect, loads the
viewer as an ES module (no inline script, for the CSP to come), and every study and series
page leads to it. What the viewer does in a browser is tests/test_viewer_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import make_ct, to_bytes

STUDY_UID = "1.2.826.0.1.3680043.8.498.3001"
SERIES_UID = f"{STUDY_UID}.1"


def viewer_url(uid: str) -> str:
    return reverse("frontend:study-viewer", args=[uid])


@pytest.fixture
def study(db) -> str:
    result = ingest_bytes(
        to_bytes(make_ct(study_uid=STUDY_UID, series_uid=SERIES_UID, patient_name="Doe^Jane")),
        Instance.Source.IMPORT,
    )
    assert result.status == "stored", result.reason
    return STUDY_UID


def test_viewer_page_requires_login(client, study):
    response = client.get(viewer_url(study))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_viewer_page_carries_the_study_and_where_to_connect(clinician_client, study):
    response = clinician_client.get(viewer_url(study))
    assert response.status_code == 200
    content = response.content.decode()
    assert f'data-study-instance-uid="{STUDY_UID}"' in content
    assert 'data-socket-path="/ws/viewer/"' in content
    assert 'data-dicomweb-root="/dicomweb/"' in content
    # boot.js opens the socket at once, then loads main.js (viewer/boot.js).
    boot = '<script type="module" async src="/static/frontend/js/viewer/boot.js"></script>'
    assert boot in content
    assert "/static/frontend/css/viewer.css" in content
    # Every script is a file: nothing inline for a Content-Security-Policy to forbid.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", content) == []
    assert not re.search(r"<[^>]+\son[a-z]+=", content), "inline event handler"


def test_viewer_assets_exist(clinician_client, study):
    content = clinician_client.get(viewer_url(study)).content.decode()
    for path in re.findall(r'(?:src|href)="/static/([^"]+)"', content):
        assert finders.find(path), path


def test_initial_series_is_passed_only_when_it_is_a_uid(clinician_client, study):
    good = clinician_client.get(viewer_url(study), {"series": SERIES_UID}).content.decode()
    assert f'data-initial-series="{SERIES_UID}"' in good
    bad = clinician_client.get(viewer_url(study), {"series": '"><script>x</script>'})
    assert 'data-initial-series=""' in bad.content.decode()
    assert "<script>x" not in bad.content.decode()


def test_bad_and_unknown_study_uids(clinician_client, db):
    assert clinician_client.get(viewer_url("1.2.abc")).status_code == 400
    assert clinician_client.get(viewer_url("1.2.3.4")).status_code == 404


def test_study_list_and_detail_link_to_the_viewer(clinician_client, study):
    listing = clinician_client.get(reverse("frontend:study-list")).content.decode()
    assert f'href="{viewer_url(study)}"' in listing
    detail = clinician_client.get(reverse("frontend:study-detail", args=[study])).content.decode()
    assert f'href="{viewer_url(study)}"' in detail
    assert f'href="{viewer_url(study)}?series={SERIES_UID}"' in detail


def test_viewer_preloads_every_module_so_the_browser_fetches_them_at_once(clinician_client, study):
    html = clinician_client.get(viewer_url(study)).content.decode()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', html))
    viewer_modules = set(Path(finders.find("frontend/js/viewer")).glob("*.js"))
    assert len(viewer_modules) > 10
    for module in viewer_modules:
        assert f"/static/frontend/js/viewer/{module.name}" in preloaded
