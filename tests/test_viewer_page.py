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


def first_target(sop_uid: str | None = None):
    from studies.streaming.lookup import target_of

    instances = Instance.objects.filter(series__study__study_instance_uid=STUDY_UID)
    instance = instances.get(sop_instance_uid=sop_uid) if sop_uid else instances.first()
    return target_of(instance, STUDY_UID)


def forget_everything_in_memory() -> None:
    """A process that has not opened the study: no outline, no kept preview, no decoded frame
    (what another process of a scaled deployment, or a restarted one, holds)."""
    from studies.rendering import reset_renderer
    from studies.streaming.previews import reset_preview_store
    from studies.streaming.study_outline import outlines

    reset_preview_store()
    outlines.clear()
    reset_renderer()


def wait_for_page_renders(seconds: float = 10.0) -> None:
    import time

    from frontend.first_preview import _renders

    deadline = time.monotonic() + seconds
    while _renders.in_flight() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _renders.in_flight() == 0


def test_a_cold_process_renders_the_first_picture_into_the_page(clinician_client, study, previews):
    import base64
    import io

    from PIL import Image

    from studies.streaming.plan import preview
    from studies.streaming.previews import first_instances, preview_store

    forget_everything_in_memory()
    picture = boot_picture(clinician_client.get(viewer_url(study)).content.decode())
    assert picture is not None
    target = first_target()
    assert picture["data-instance"] == target.sop_instance_uid
    data = base64.b64decode(picture["src"].removeprefix("data:image/jpeg;base64,"))
    # The socket's preview of the image: its size, and kept where the socket looks for it
    # (on disk too, for the other processes of the host).
    assert Image.open(io.BytesIO(data)).size == preview(target.rows, target.columns)[0]
    forget_everything_in_memory()
    assert preview_store().get(target.path, 0).data == data
    # And remembered as the study's first image, for the socket's open_study.
    clinician_client.get(viewer_url(study))
    assert first_instances.get(STUDY_UID)[SERIES_UID].sop_instance_uid == target.sop_instance_uid


def test_the_page_renders_the_picture_the_socket_renders(clinician_client, study, previews):
    import asyncio
    import base64

    from studies.rendering import get_renderer
    from studies.streaming.outbox import Outbox
    from studies.streaming.progressive import Session, whole_preview
    from studies.streaming.protocol import View
    from studies.streaming.scheduler import RenderSlots, render_pool

    forget_everything_in_memory()
    picture = boot_picture(clinician_client.get(viewer_url(study)).content.decode())
    target = first_target()

    async def socket_preview() -> bytes:
        async def send(_):
            return None

        session = Session(
            renderer=get_renderer(),
            slots=RenderSlots(render_pool(2), 2),
            outbox=Outbox(send),
            find_target=None,
            find_targets=None,
            previews=None,  # always render: what the socket would store
        )
        view = View(
            request=1,
            viewport=0,
            instance=target.sop_instance_uid,
            frame=0,
            region=(0.0, 0.0, float(target.columns), float(target.rows)),
            scale=1.0,
            window=None,
            voi=0,
            function=None,
            invert=False,
            quality="interactive",
            prefetch=(),
        )
        return (await whole_preview(session, target, 0, view)).data

    expected = asyncio.run(socket_preview())
    assert picture["src"] == "data:image/jpeg;base64," + base64.b64encode(expected).decode()


def test_a_slow_render_does_not_hold_the_page_beyond_its_budget(
    clinician_client, study, previews, settings, monkeypatch
):
    import threading
    import time

    from frontend import first_preview
    from studies.streaming.previews import preview_store
    from studies.streaming.scheduler import render_pool

    monkeypatch.setattr(first_preview, "PAGE_WAIT_SECONDS", 0.2)
    forget_everything_in_memory()
    # Every render thread busy (a huge image, a JPEG 2000 frame, other readers): the page's
    # render waits in the queue far longer than the page may.
    pool = render_pool(settings.IMAGING_WORKERS)
    release = threading.Event()
    busy = [pool.submit(release.wait, 10) for _ in range(pool._max_workers)]
    try:
        started = time.monotonic()
        html = clinician_client.get(viewer_url(study)).content.decode()
        elapsed = time.monotonic() - started
    finally:
        release.set()
    for job in busy:
        job.result()
    assert boot_picture(html) is None
    assert elapsed < 5, f"the page took {elapsed:.1f} s"
    # The render went on: it is ready for the socket, and for the next page.
    wait_for_page_renders()
    target = first_target()
    assert preview_store().remembered(target.path, 0) is not None
    picture = boot_picture(clinician_client.get(viewer_url(study)).content.decode())
    assert picture is not None and picture["data-instance"] == target.sop_instance_uid


@pytest.mark.parametrize(
    ("rows", "columns", "syntax", "waited"),
    [
        (512, 512, "1.2.840.10008.1.2.1", True),  # a CT slice, Explicit VR Little Endian
        (3036, 3036, "1.2.840.10008.1.2.1", True),  # a radiograph
        (5120, 4096, "1.2.840.10008.1.2.1", False),
        (3036, 3036, "1.2.840.10008.1.2.4.90", False),  # JPEG 2000 (PS3.5 A.4.4)
        (512, 512, "1.2.840.10008.1.2.4.70", True),  # JPEG Lossless (PS3.5 A.4.1)
    ],
)
def test_the_page_waits_only_for_pictures_that_can_be_ready_in_time(rows, columns, syntax, waited):
    from frontend.first_preview import PAGE_WAIT_SECONDS, expected_seconds, pace
    from studies.streaming.lookup import Target

    pace.reset()  # no page render seen yet in this process
    target = Target("1.2.3", Path("unused"), rows, columns, 1)
    assert (expected_seconds(target, syntax) <= PAGE_WAIT_SECONDS) is waited


def test_a_machine_that_renders_slowly_waits_only_for_small_pictures():
    from frontend.first_preview import PAGE_WAIT_SECONDS, expected_seconds, pace
    from studies.streaming.lookup import Target

    native = "1.2.840.10008.1.2.1"
    radiograph = Target("1.2.3", Path("unused"), 3036, 3036, 1)
    slice_ = Target("1.2.4", Path("unused"), 512, 512, 1)
    pace.reset()
    try:
        assert expected_seconds(radiograph, native) <= PAGE_WAIT_SECONDS
        # A slice's fixed costs are not counted: they say nothing of a radiograph's.
        pace.observe(0.05, 512 * 512 / 1e6)
        pace.observe(5.0, 16 * 16 / 1e6)
        assert expected_seconds(radiograph, native) <= PAGE_WAIT_SECONDS
        # Pages of this process took 0.6-0.7 s to render radiographs (a loaded machine).
        for seconds in (0.6, 0.7, 0.65):
            pace.observe(seconds, 3036 * 3036 / 1e6)
        assert expected_seconds(radiograph, native) > PAGE_WAIT_SECONDS
        assert expected_seconds(slice_, native) <= PAGE_WAIT_SECONDS
    finally:
        pace.reset()


def test_the_page_does_not_wait_for_a_picture_it_expects_too_late(
    clinician_client, study, previews, settings, monkeypatch
):
    import threading
    import time

    from frontend import first_preview
    from studies.streaming.scheduler import render_pool

    monkeypatch.setattr(first_preview, "PAGE_WAIT_SECONDS", 3.0)
    # As if this small CT were a 4096×5120 image: longer than the page may wait.
    monkeypatch.setattr(first_preview, "NATIVE_SECONDS_PER_MEGAPIXEL", 1e6)
    first_preview.pace.reset()
    forget_everything_in_memory()
    pool = render_pool(settings.IMAGING_WORKERS)
    release = threading.Event()
    busy = [pool.submit(release.wait, 10) for _ in range(pool._max_workers)]
    try:
        started = time.monotonic()
        html = clinician_client.get(viewer_url(study)).content.decode()
        elapsed = time.monotonic() - started
    finally:
        release.set()
    for job in busy:
        job.result()
    assert boot_picture(html) is None
    assert elapsed < 2.0, f"the page waited {elapsed:.1f} s"
    wait_for_page_renders()  # it was started all the same, for the socket
    from studies.streaming.previews import preview_store

    assert preview_store().remembered(first_target().path, 0) is not None


def test_the_picture_is_the_first_slice_of_a_study_still_receiving_images(
    clinician_client, study, previews
):
    # The socket opened the study when instance 1 was its only image, and kept that.
    kept = opened_before(SERIES_UID, jpeg(64, 64))
    earlier = ingest_bytes(
        to_bytes(make_ct(study_uid=STUDY_UID, series_uid=SERIES_UID, instance_number=0)),
        Instance.Source.IMPORT,
    )
    assert earlier.ok, earlier.reason
    # The viewer's stack now starts at the new slice (study outline: by instance number).
    picture = boot_picture(clinician_client.get(viewer_url(study)).content.decode())
    assert picture is not None
    assert picture["data-instance"] == earlier.sop_instance_uid != kept


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
    forget_everything_in_memory()
    picture = boot_picture(clinician_client.get(viewer_url(STUDY_UID)).content.decode())
    assert (picture is not None) is carried
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


def log_in_launched_for_another_study(client, django_user_model) -> None:
    """An EMR launch whose link names another study: this one does not exist for its user."""
    from datetime import timedelta

    from django.utils import timezone

    from studies.models import LaunchGrant, LaunchScopeStudy
    from tests.emr.links import make_integration

    user = django_user_model.objects.create_user("launched", password="x")
    grant = LaunchGrant.objects.create(
        user=user,
        integration=make_integration(),
        request_type=LaunchGrant.RequestType.STUDY,
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    LaunchScopeStudy.objects.create(grant=grant, study_instance_uid="1.2.3.4.5")
    client.force_login(user)


def test_no_picture_for_a_user_who_may_not_open_the_study(
    client, django_user_model, study, previews
):
    opened_before(SERIES_UID, jpeg(64, 64))
    log_in_launched_for_another_study(client, django_user_model)
    response = client.get(viewer_url(study))
    assert response.status_code in (403, 404)
    assert b"data:image/jpeg" not in response.content


def test_nothing_is_read_or_rendered_for_a_user_who_may_not_open_the_study(
    client, django_user_model, study, previews
):
    from studies.streaming.previews import first_instances, preview_store

    forget_everything_in_memory()
    log_in_launched_for_another_study(client, django_user_model)
    response = client.get(viewer_url(study))
    assert response.status_code in (403, 404)
    assert b"data:image/jpeg" not in response.content
    wait_for_page_renders()
    assert first_instances.get(STUDY_UID) is None
    assert preview_store().get(first_target().path, 0) is None
