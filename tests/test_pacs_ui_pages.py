"""The pages that carry the PACS UI: the study list's "Search a PACS" panel and the
viewer's priors panel. Both are filled by ES modules from the /pacs/ JSON endpoints, so the
pages carry only where those are, as escaped data attributes, and no inline script."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import make_ct, to_bytes

STUDY_UID = "1.2.826.0.1.3680043.8.498.3101"


@pytest.fixture
def study(db) -> str:
    ds = make_ct(study_uid=STUDY_UID, series_uid=f"{STUDY_UID}.1", patient_id='P"<1>&')
    result = ingest_bytes(to_bytes(ds), Instance.Source.IMPORT)
    assert result.status == "stored", result.reason
    return STUDY_UID


def no_inline_script(content: str) -> None:
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", content) == []
    assert not re.search(r"<[^>]+\son[a-z]+=", content), "inline event handler"


def test_study_list_has_the_pacs_search_panel_and_its_module(clinician_client, db):
    content = clinician_client.get(reverse("frontend:study-list")).content.decode()
    panel = re.search(r'<section class="pacs-search"[^>]*>', content)
    assert panel, "no PACS search panel"
    assert 'data-nodes-url="/pacs/nodes/"' in panel.group(0)
    assert 'data-viewer-url="/studies/0.0/view/"' in panel.group(0)
    assert 'data-action="search-pacs"' in content
    assert 'data-control="node"' in content and 'data-control="level"' in content
    assert '<script type="module" src="/static/frontend/js/pacs/main.js"></script>' in content
    no_inline_script(content)


def test_study_list_search_still_works_with_the_panel(clinician_client, study):
    response = clinician_client.get(reverse("frontend:study-list"), {"patient_id": 'P"<1>&'})
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 1


def test_viewer_page_has_a_priors_panel_for_the_patient(clinician_client, study):
    content = clinician_client.get(reverse("frontend:study-viewer", args=[study])).content.decode()
    priors = re.search(r'<details class="priors"[^>]*>', content, re.S)
    assert priors, "no priors panel"
    # The patient ID is free text: it reaches the page escaped, for the module to read.
    assert 'data-patient-id="P&quot;&lt;1&gt;&amp;"' in priors.group(0)
    assert 'data-nodes-url="/pacs/nodes/"' in priors.group(0)
    assert 'data-role="priors-list"' in content
    no_inline_script(content)


@pytest.mark.parametrize("page", ["list", "viewer"])
def test_pacs_ui_assets_exist_with_everything_they_import(clinician_client, study, page):
    url = (
        reverse("frontend:study-list")
        if page == "list"
        else reverse("frontend:study-viewer", args=[study])
    )
    content = clinician_client.get(url).content.decode()
    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', content)
    assert "frontend/css/pacs.css" in assets
    # Follow the module graph: every relative import resolves to a static file.
    todo = [a for a in assets if a.endswith(".js")]
    seen: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        found = finders.find(path)
        assert found, path
        source = open(found, encoding="utf-8").read()
        base = path.rsplit("/", 1)[0]
        for target in re.findall(r"^import .*? from '(\.[^']+)';", source, re.M):
            parts = f"{base}/{target}".split("/")
            resolved: list[str] = []
            for part in parts:
                if part == "..":
                    resolved.pop()
                elif part != ".":
                    resolved.append(part)
            todo.append("/".join(resolved))
    assert any(p.endswith("pacs/retrieve-control.js") for p in seen), sorted(seen)
