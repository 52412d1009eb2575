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
    # Inert in a <template> until boot.js has opened the socket (viewer/boot.js preloadModules).
    waiting = re.search(r'<template data-role="module-preloads">(.*?)</template>', html, re.S)
    assert waiting is not None
    assert "modulepreload" not in html.replace(waiting.group(0), "")
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', waiting.group(1)))
    viewer_modules = set(Path(finders.find("frontend/js/viewer")).glob("*.js"))
    assert len(viewer_modules) > 10
    for module in viewer_modules:
        assert f"/static/frontend/js/viewer/{module.name}" in preloaded


# --- the page's own first picture (frontend/first_preview.py) ---------------------------------


@pytest.fixture
def previews(settings, tmp_path):
    """A preview store of this test's own, with no study remembered from another test."""
    from studies.streaming.previews import reset_preview_store

    settings.VIEWER_PREVIEW_DIR = tmp_path / "previews"
    reset_preview_store()
    yield
    reset_preview_store()


def jpeg(width: int, height: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    out = io.BytesIO()
    ramp = np.linspace(0, 255, width * height, dtype=np.uint8).reshape(height, width)
    Image.fromarray(ramp).save(out, format="JPEG", quality=80)
    return out.getvalue()


def opened_before(series_uid: str, data: bytes, sop_uid: str | None = None) -> str:
    """What the viewer socket leaves behind once it has opened the study in this process:
    the series' first instance and its preview (studies.streaming.consumer._open_study)."""
    from studies.streaming.lookup import target_of
    from studies.streaming.previews import Bitmap, first_instances, preview_store

    instances = Instance.objects.filter(series__series_instance_uid=series_uid)
    instance = instances.get(sop_instance_uid=sop_uid) if sop_uid else instances.first()
    target = target_of(instance, STUDY_UID)
    known = dict(first_instances.get(STUDY_UID) or {})
    known[series_uid] = target
    first_instances.remember(STUDY_UID, known)
    preview_store().put(target.path, 0, Bitmap(data, 64, 64))
    return instance.sop_instance_uid


def boot_picture(html: str) -> dict[str, str] | None:
    tag = re.search(r'<img class="viewport-boot"[^>]*>', html)
    if tag is None:
        return None
    return dict(re.findall(r'([a-z-]+)="([^"]*)"', tag.group(0)))


def test_page_carries_the_first_picture_the_socket_left_ready(clinician_client, study, previews):
    import base64

    data = jpeg(64, 64)
    instance = opened_before(SERIES_UID, data)
    picture = boot_picture(clinician_client.get(viewer_url(study)).content.decode())
    assert picture is not None
    assert picture["data-instance"] == instance
    assert picture["src"] == "data:image/jpeg;base64," + base64.b64encode(data).decode()
    # Sized as the image, not the preview: the browser fits it as the viewport will.
    stored = Instance.objects.get(sop_instance_uid=instance)
    assert (picture["width"], picture["height"]) == (str(stored.columns), str(stored.rows))
    assert picture["data-role"] == "boot-picture"


def test_no_picture_for_a_study_this_process_has_not_opened(clinician_client, study, previews):
    assert boot_picture(clinician_client.get(viewer_url(study)).content.decode()) is None


def test_no_picture_when_the_preview_is_not_a_small_jpeg(clinician_client, study, previews):
    from frontend.first_preview import MAX_INLINE_BYTES

    opened_before(SERIES_UID, b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert boot_picture(clinician_client.get(viewer_url(study)).content.decode()) is None
    opened_before(SERIES_UID, b"\xff\xd8" + bytes(MAX_INLINE_BYTES))
    assert boot_picture(clinician_client.get(viewer_url(study)).content.decode()) is None


@pytest.mark.parametrize(("spacing", "carried"), [([0.5, 0.5], True), ([0.5, 0.25], False)])
def test_no_picture_when_the_viewer_draws_the_pixels_non_square(
    clinician_client, db, previews, spacing, carried
):
    # The <img> keeps the preview's own shape; the viewer stretches non-square pixels to
    # their true shape (PS3.3 10.7.1.3), so the first picture would jump.
    result = ingest_bytes(
        to_bytes(make_ct(study_uid=STUDY_UID, series_uid=SERIES_UID, PixelSpacing=spacing)),
        Instance.Source.IMPORT,
    )
    assert result.ok, result.reason
    opened_before(SERIES_UID, jpeg(64, 64))
    picture = boot_picture(clinician_client.get(viewer_url(STUDY_UID)).content.decode())
    assert (picture is not None) is carried


def test_the_series_in_the_address_gives_the_picture(clinician_client, study, previews):
    other_series = f"{STUDY_UID}.2"
    result = ingest_bytes(
        to_bytes(make_ct(study_uid=STUDY_UID, series_uid=other_series, patient_name="Doe^Jane")),
        Instance.Source.IMPORT,
    )
    assert result.ok, result.reason
    first = opened_before(SERIES_UID, jpeg(64, 64))
    second = opened_before(other_series, jpeg(32, 32))
    html = clinician_client.get(viewer_url(study), {"series": other_series}).content.decode()
    assert boot_picture(html)["data-instance"] == second
    html = clinician_client.get(viewer_url(study)).content.decode()
    assert boot_picture(html)["data-instance"] == first


def test_no_picture_for_a_user_who_may_not_open_the_study(
    client, django_user_model, study, previews
):
    from datetime import timedelta

    from django.utils import timezone

    from studies.models import LaunchGrant, LaunchScopeStudy
    from tests.emr.links import make_integration

    opened_before(SERIES_UID, jpeg(64, 64))
    # An EMR launch whose link names another study: this one does not exist for its user.
    user = django_user_model.objects.create_user("launched", password="x")
    grant = LaunchGrant.objects.create(
        user=user,
        integration=make_integration(),
        request_type=LaunchGrant.RequestType.STUDY,
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    LaunchScopeStudy.objects.create(grant=grant, study_instance_uid="1.2.3.4.5")
    client.force_login(user)
    response = client.get(viewer_url(study))
    assert response.status_code in (403, 404)
    assert b"data:image/jpeg" not in response.content
