"""Study detail page, sign-in and sign-out, and the shared page frame (nav, scripts, assets)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import make_ct, sample_path, to_bytes

STUDY_UID = "1.2.826.0.1.3680043.8.498.1001"


def add_instance(**attributes) -> None:
    result = ingest_bytes(to_bytes(make_ct(**attributes)), Instance.Source.IMPORT)
    assert result.status == "stored", result.reason


def detail_url(uid: str) -> str:
    return reverse("frontend:study-detail", args=[uid])


@pytest.fixture
def study_with_two_series(db) -> str:
    # Series 2 is ingested first so the page has to order by series number.
    for number in (1, 2, 3):
        add_instance(
            study_uid=STUDY_UID,
            series_uid=f"{STUDY_UID}.2",
            instance_number=number,
            SeriesNumber=2,
            SeriesDescription="CORONAL MPR",
            BodyPartExamined="CHEST",
        )
    add_instance(
        study_uid=STUDY_UID,
        series_uid=f"{STUDY_UID}.1",
        SeriesNumber=1,
        SeriesDescription="SCOUT",
        Modality="CT",
        BodyPartExamined="CHEST",
    )
    return STUDY_UID


def series_rows(response) -> list[tuple[int, str, int]]:
    return [
        (s.series_number, s.description, s.number_of_instances) for s in response.context["series"]
    ]


def test_detail_shows_patient_study_and_series_in_number_order(
    clinician_client, study_with_two_series
):
    response = clinician_client.get(detail_url(study_with_two_series))
    assert response.status_code == 200
    assert series_rows(response) == [(1, "SCOUT", 1), (2, "CORONAL MPR", 3)]
    content = response.content.decode()
    for text in ("Doe, Jane", "PAT-1", "1970-01-01", "ACC-1", "CT CHEST", "2024-01-02", "CHEST"):
        assert text in content
    assert study_with_two_series in content
    # Series and image totals in the header come from the study row.
    assert "2 / 4" in content


def test_detail_leaves_a_named_place_for_the_viewer(clinician_client, study_with_two_series):
    content = clinician_client.get(detail_url(study_with_two_series)).content.decode()
    assert f'id="image-viewer" class="panel viewer-slot" data-study-instance-uid="{STUDY_UID}"' in (
        content
    )


def test_detail_offers_the_study_export_downloads_that_work(
    clinician_client, study_with_two_series
):
    uid = study_with_two_series
    html = clinician_client.get(reverse("frontend:study-detail", args=[uid])).content.decode()
    links = re.findall(r'href="([^"]*/export/studies/[^"]+)"', html)
    assert len(links) == 3
    for link in links:
        response = clinician_client.get(link.replace("&amp;", "&"))
        assert response.status_code == 200, link
        assert response["Content-Disposition"].startswith("attachment")


def test_detail_query_count_does_not_grow_with_series(
    clinician_client, study_with_two_series, django_assert_num_queries
):
    for number in range(3, 8):
        add_instance(study_uid=STUDY_UID, series_uid=f"{STUDY_UID}.{number}", SeriesNumber=number)
    with django_assert_num_queries(5):
        # 1. the session row
        # 2. the signed-in user
        # 3. the access rule (studies.access, as the socket runs it)
        # 4. the study JOIN patient (select_related)
        # 5. its series, with instance counts kept on the series row (no COUNT per series)
        response = clinician_client.get(detail_url(STUDY_UID))
    assert len(series_rows(response)) == 7


def test_detail_of_a_real_sample_file(clinician_client, db):
    result = ingest_bytes(sample_path("CT_small.dcm").read_bytes(), Instance.Source.IMPORT)
    assert result.status == "stored", result.reason
    response = clinician_client.get(detail_url(result.study_instance_uid))
    assert response.status_code == 200
    assert [s.modality for s in response.context["series"]] == ["CT"]


def test_unknown_study_is_404(clinician_client, db):
    response = clinician_client.get(detail_url("1.2.3.4.5"))
    assert response.status_code == 404
    assert "Not found" in response.content.decode()


@pytest.mark.parametrize(
    "bad_uid",
    ["1.2.abc", "1.02.3", "1..2", "." + "1" * 10, "1." + "2" * 70, "<script>"],
)
def test_malformed_uid_is_a_clear_400(clinician_client, db, bad_uid):
    response = clinician_client.get(detail_url(bad_uid))
    assert response.status_code == 400
    content = response.content.decode()
    assert "not a valid Study Instance UID" in content
    assert "<script>" not in content.split("<main")[1]


def test_detail_requires_login(client, study_with_two_series):
    response = client.get(detail_url(study_with_two_series))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.filterwarnings("ignore:Invalid value for VR")
def test_hostile_text_on_the_detail_page_is_escaped(clinician_client, db):
    add_instance(
        study_uid=STUDY_UID,
        patient_name="<script>alert(1)</script>",
        SeriesDescription="<iframe src=javascript:alert(2)>",
        BodyPartExamined="<b>X</b>",
        ReferringPhysicianName='"><svg onload=alert(3)>',
    )
    content = clinician_client.get(detail_url(STUDY_UID)).content.decode()
    for raw in ("<script>alert(1)", "<iframe", "<b>X</b>", "<svg onload"):
        assert raw not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&lt;iframe src=javascript:alert(2)&gt;" in content


def test_person_names_are_shown_family_first(clinician_client, db):
    add_instance(study_uid=STUDY_UID, patient_name="Doe^Jane^Q^Dr^Jr", ReferringPhysicianName="Who")
    content = clinician_client.get(detail_url(STUDY_UID)).content.decode()
    assert "Doe, Dr Jane Q, Jr" in content


# --- Sign-in, sign-out and the page frame ------------------------------------------------


def test_login_page_renders_and_signs_in_to_the_study_list(client, clinician):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode()
    response = client.post(
        reverse("login"), {"username": "clinician", "password": "clinician-pass-123"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:study-list")
    assert client.get(reverse("frontend:study-list")).status_code == 200


def test_wrong_password_is_refused_with_a_message(client, clinician):
    response = client.post(reverse("login"), {"username": "clinician", "password": "nope"})
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post_form_and_ends_the_session(clinician_client):
    content = clinician_client.get(reverse("frontend:study-list")).content.decode()
    form = re.search(
        r'<form method="post" action="([^"]+)" class="logout">(.*?)</form>', content, re.S
    )
    assert form is not None and form.group(1) == reverse("logout")
    assert "csrfmiddlewaretoken" in form.group(2)
    clinician_client.post(reverse("logout"))
    assert clinician_client.get(reverse("frontend:study-list")).status_code == 302


def test_admin_link_only_for_staff(clinician_client, client, admin_user):
    assert reverse("admin:index") not in clinician_client.get("/").content.decode()
    client.force_login(admin_user)
    assert f'href="{reverse("admin:index")}"' in client.get("/").content.decode()


def test_nav_marks_the_current_page(clinician_client):
    content = clinician_client.get(reverse("frontend:upload")).content.decode()
    assert f'<a href="{reverse("frontend:upload")}" aria-current="page">Upload</a>' in content


PAGES = ["frontend:study-list", "frontend:upload", "login"]


@pytest.mark.parametrize("name", PAGES)
def test_pages_have_no_inline_script_and_only_module_scripts(admin_user, name):
    client = Client()
    client.force_login(admin_user)
    content = client.get(reverse(name)).content.decode()
    for tag in re.findall(r"<script\b[^>]*>", content):
        assert 'type="module"' in tag and "src=" in tag, tag
    assert not re.search(r"<script\b[^>]*>(?!</script>)", content), "inline script content"
    assert not re.search(r"\son[a-z]+=", content), "inline event handler attribute"


@pytest.mark.parametrize("name", PAGES)
def test_referenced_static_assets_exist(admin_user, name):
    client = Client()
    client.force_login(admin_user)
    content = client.get(reverse(name)).content.decode()
    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', content)
    assert assets, "page references no static assets"
    for asset in assets:
        assert finders.find(asset), f"missing static file {asset}"


def test_upload_modules_import_only_files_that_exist():
    """Relative imports between the ES modules resolve to real files (no bundler checks this)."""
    entry = finders.find("frontend/js/upload/main.js")
    assert entry
    seen, pending = set(), [entry]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        with open(path) as handle:
            source = handle.read()
        for target in re.findall(r"""^import .*? from '(\.[^']+)';""", source, re.M):
            resolved = str((Path(path).parent / target).resolve())
            assert Path(resolved).is_file(), f"{path} imports missing {target}"
            pending.append(resolved)
    assert len(seen) >= 6
