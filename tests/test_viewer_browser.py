"""The JS viewer in headless Chromium against a real ASGI server (uvicorn, websockets).

One server for the module: a throw-away archive (its own VAR_DIR, database and store) served
by uvicorn (``viewerproject.serve``), with one study of three series: a generated CT stack,
a thicker reconstruction of the same volume in the same frame of reference (for synchronised
scrolling), and a real JPEG sample from pydicom's test files whose fragment was damaged, so
its frame cannot be decoded. Each test opens a fresh browser, logs in through the login form
and waits on conditions in the page, never on sleeps. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import copy
import io
import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import generate_uid

from studies.demo.phantom import generate_ct_series, series_uids
from tests.bench.django_server import DjangoServer, manage
from tests.browser import chromium_page, require_chromium, save_screenshot
from tests.dicom_files import make_ct, sample_path

pytestmark = pytest.mark.browser

SLICES = 24
SIZE = 128
SEED = 4242
PIXEL_MM = 400.0 / SIZE  # the phantom's field of view over its matrix (phantom.Geometry)
TIMEOUT_MS = 20_000


@dataclass(frozen=True)
class ViewerStudy:
    study_uid: str
    thin_series: str
    thin_instances: tuple[str, ...]  # in stack order (instance number 1 first)
    thick_series: str
    sagittal_series: str
    broken_series: str


def _uid(*parts: str) -> str:
    return str(generate_uid(entropy_srcs=["viewer browser test", *parts]))


def _part10(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def damaged_jpeg_like(template: Dataset) -> Dataset:
    """pydicom's baseline JPEG sample moved into ``template``'s study, with the entropy-coded
    data of its only fragment overwritten: the file is valid DICOM and the JPEG keeps its
    markers, but the frame cannot be decoded."""
    ds = pydicom.dcmread(sample_path("SC_rgb_jpeg_dcmtk.dcm"))
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    sos = frame.find(b"\xff\xda")  # start of scan: the compressed data follow its header
    assert sos > 0
    scan = sos + 2 + int.from_bytes(frame[sos + 2 : sos + 4], "big")
    for i in range(scan, len(frame) - 3):
        if frame[i] != 0xFF:
            frame[i] = 0xAA
    ds.PixelData = encapsulate([bytes(frame)])
    for keyword in (
        "StudyInstanceUID",
        "PatientID",
        "PatientName",
        "PatientBirthDate",
        "PatientSex",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyDescription",
        "StudyID",
        "ReferringPhysicianName",
    ):
        setattr(ds, keyword, template.get(keyword, ""))
    ds.SeriesInstanceUID = _uid("broken series")
    ds.SOPInstanceUID = _uid("broken instance")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesNumber = 9
    ds.SeriesDescription = "Damaged JPEG"
    ds.InstanceNumber = 1
    return ds


def sagittal_reformats(axial: list[Dataset], columns: tuple[int, ...]) -> list[Dataset]:
    """Sagittal images cut from the axial stack at the given columns: rows run head to feet
    (one per axial slice), columns run anterior to posterior. PS3.3 C.7.6.2.1.1: row
    direction +y [0, 1, 0], column direction −z [0, 0, −1]; Pixel Spacing is [slice gap,
    in-plane spacing], so the pixels are far from square."""
    gap = abs(float(axial[0].ImagePositionPatient[2]) - float(axial[1].ImagePositionPatient[2]))
    spacing = float(axial[0].PixelSpacing[1])
    volume = [ds.pixel_array for ds in axial]  # [row = y][column = x], top slice first
    uid = _uid("sagittal series")
    out = []
    for index, column in enumerate(columns):
        ds = copy.deepcopy(axial[0])
        x0, y0, z0 = (float(v) for v in axial[0].ImagePositionPatient)
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = _uid("sagittal", str(index))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = 4
        ds.SeriesDescription = "Sagittal reformat"
        ds.ImageType = ["DERIVED", "SECONDARY", "REFORMATTED"]
        ds.InstanceNumber = index + 1
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
        ds.ImagePositionPatient = [x0 + column * spacing, y0, z0]
        ds.PixelSpacing = [round(gap, 4), spacing]
        ds.SliceLocation = round(x0 + column * spacing, 4)
        ds.Rows = len(axial)
        ds.Columns = axial[0].Columns
        ds.PixelData = np.stack([plane[:, column] for plane in volume]).astype(np.uint16).tobytes()
        out.append(ds)
    return out


def write_study(directory: Path) -> ViewerStudy:
    """The test study as Part 10 files in ``directory`` (file names by position only)."""
    directory.mkdir(parents=True, exist_ok=True)
    thin = list(generate_ct_series(SLICES, SIZE, SEED))
    for index, ds in enumerate(thin):
        ds.SeriesDescription = "Axial thin"
        (directory / f"thin{index:03d}.dcm").write_bytes(_part10(ds))
    # Every second slice again as its own series: same volume, same frame of reference.
    thick_uid = _uid("thick series")
    for index, ds in enumerate(thin[::2]):
        ds.SeriesInstanceUID = thick_uid
        ds.SOPInstanceUID = _uid("thick", str(index))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = 3
        ds.SeriesDescription = "Axial thick"
        ds.InstanceNumber = index + 1
        (directory / f"thick{index:03d}.dcm").write_bytes(_part10(ds))
    sagittal = sagittal_reformats(list(generate_ct_series(SLICES, SIZE, SEED)), (44, 64, 84))
    for index, ds in enumerate(sagittal):
        (directory / f"sagittal{index:03d}.dcm").write_bytes(_part10(ds))
    broken = damaged_jpeg_like(thin[0])
    (directory / "broken.dcm").write_bytes(_part10(broken))
    uids = series_uids(SLICES, SIZE, SEED)
    return ViewerStudy(
        study_uid=uids.study,
        thin_series=uids.series,
        thin_instances=tuple(uids.instance(i) for i in range(SLICES)),
        thick_series=thick_uid,
        sagittal_series=str(sagittal[0].SeriesInstanceUID),
        broken_series=str(broken.SeriesInstanceUID),
    )


@pytest.fixture(scope="module")
def viewer_server(tmp_path_factory) -> Iterator[tuple[DjangoServer, ViewerStudy]]:
    require_chromium()
    pytest.importorskip("playwright.sync_api")
    parent = tmp_path_factory.mktemp("viewer-server")
    study = write_study(parent / "study")
    with DjangoServer(parent) as server:
        assert server.var_dir is not None
        out = manage(server.var_dir, "import_dicom", str(parent / "study"))
        assert "rejected" not in out.lower() or " 0 rejected" in out.lower(), out
        yield server, study


# --- page helpers --------------------------------------------------------------------------


def log_in_and_open_study(page, server: DjangoServer, study: ViewerStudy) -> None:
    """Log in through the form, then go from the study list to the viewer."""
    from playwright.sync_api import expect

    page.goto(f"{server.url}/")
    page.fill("#id_username", server.username)
    page.fill("#id_password", server.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    page.click(f"a.row-action[href='/studies/{study.study_uid}/view/']")
    page.wait_for_url(f"**/studies/{study.study_uid}/view/")
    expect(page.locator(".viewer")).to_have_attribute("data-connection", "open", timeout=TIMEOUT_MS)


def viewport(page, index: int):
    return page.locator(f".viewport[data-viewport='{index}']")


def wait_loaded(page, index: int, instance: str | None = None) -> None:
    """Until the viewport's current request is done (and shows ``instance``, if given)."""
    from playwright.sync_api import expect

    pattern = re.compile(rf"^{re.escape(instance)}/" if instance else r".+")
    expect(viewport(page, index)).to_have_attribute("data-loaded", pattern, timeout=TIMEOUT_MS)


def canvas_stats(page, index: int) -> dict:
    """Sum, share of non-black pixels and a checksum of what the viewport's canvas shows."""
    return page.evaluate(
        """(index) => {
          const canvas = document.querySelector(`.viewport[data-viewport="${index}"] canvas`);
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let sum = 0, lit = 0, hash = 0;
          for (let i = 0; i < data.length; i += 4) {
            const v = data[i] + data[i + 1] + data[i + 2];
            sum += v;
            if (v > 30) lit += 1;
            hash = (hash * 31 + v) >>> 0;
          }
          return { sum, lit: lit / (data.length / 4), hash };
        }""",
        index,
    )


def image_to_screen(
    page, index: int, x: float, y: float, size: tuple[int, int] = (SIZE, SIZE), aspect: float = 1
) -> tuple[float, float]:
    """Page coordinates of an image point in a fitted, unrotated viewport: ``size`` is the
    image's (columns, rows), ``aspect`` its row spacing over its column spacing."""
    box = viewport(page, index).bounding_box()
    assert box is not None
    columns, rows = size
    zoom = min(box["width"] / columns, box["height"] / (rows * aspect))
    left = box["x"] + (box["width"] - columns * zoom) / 2
    top = box["y"] + (box["height"] - rows * aspect * zoom) / 2
    return left + x * zoom, top + y * aspect * zoom


# --- tests -----------------------------------------------------------------------------------


def test_the_bench_counts_only_images_the_display_was_shown():
    """tests.bench.page_probe.presented_images on a made-up trace: an image whose frame the
    compositor dropped, or whose frame never reached the compositor, counts for nothing; the
    same image shown again counts once."""
    from tests.bench.page_probe import FRAME_MARK, presented_images

    events: list[dict] = []
    main, compositor = 7, 8

    def frame(ts: int, frame_id: int, image: str, draws: list[tuple[int, str]], active=True):
        events.append(
            {
                "name": "BeginMainThreadFrame",
                "pid": 1,
                "tid": main,
                "ts": ts,
                "args": {"data": {"frameId": frame_id}},
            }
        )
        events.append(
            {
                "name": FRAME_MARK + image,
                "cat": "blink.user_timing",
                "pid": 1,
                "tid": main,
                "ts": ts + 5000,
                "args": {"data": {"startTime": (ts + 5000) / 1000}},
            }
        )
        if active:
            events.append(
                {
                    "name": "ActivateLayerTree",
                    "pid": 1,
                    "tid": compositor,
                    "ts": ts + 8000,
                    "args": {"frameId": frame_id},
                }
            )
        for offset, (sequence, state) in enumerate(draws):
            events.append(
                {
                    "name": "DrawFrame",
                    "pid": 1,
                    "tid": compositor,
                    "ts": ts + 9000 + offset,
                    "args": {"frameSeqId": sequence},
                }
            )
            events.append(
                {
                    "name": "PipelineReporter",
                    "ph": "b",
                    "pid": 1,
                    "tid": compositor,
                    "ts": ts + 9000 + offset,
                    "args": {"frame_reporter": {"frame_sequence": sequence, "state": state}},
                }
            )

    frame(0, 1, "A", [(11, "STATE_PRESENTED_ALL")])  # before the window: on screen
    frame(16_000, 2, "B", [(12, "STATE_DROPPED")])  # drawn, never shown
    frame(32_000, 3, "B", [(13, "STATE_PRESENTED_ALL")])  # B reaches the screen: 1
    frame(48_000, 4, "B", [(14, "STATE_PRESENTED_ALL")])  # B again: no new image
    frame(64_000, 5, "C", [], active=False)  # never activated: never shown
    frame(80_000, 6, "D", [(16, "STATE_DROPPED"), (17, "STATE_PRESENTED_PARTIAL")])  # 2
    # Another process's frames (the browser's own UI) are not the page's.
    events.append(
        {
            "name": "PipelineReporter",
            "ph": "b",
            "pid": 2,
            "tid": 1,
            "ts": 1,
            "args": {"frame_reporter": {"frame_sequence": 12, "state": "STATE_PRESENTED_ALL"}},
        }
    )

    shown = presented_images(events, start=10.0, end=100.0)

    assert (shown.images, shown.frames, shown.sampled, shown.unknown) == (2, 3, 5, 0)


def test_study_list_opens_the_viewer_and_first_pixels_appear(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    with chromium_page() as page:
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        stats = canvas_stats(page, 0)
        overlay = viewport(page, 0).locator(".corner-top-left").inner_text()
        bottom_right = viewport(page, 0).locator(".corner-bottom-right").inner_text()
        markers = [
            viewport(page, 0).locator(f".marker-{edge}").inner_text()
            for edge in ("top", "right", "bottom", "left")
        ]
        expect(page.locator(".series-card")).to_have_count(4)
        save_screenshot(page, "viewer-first-pixels")
        errors = page.errors

    assert errors == []
    # The body of the phantom fills a good part of the fitted viewport.
    assert stats["lit"] > 0.15, stats
    assert "Phantom" in overlay and "DEMO-CT-0001" in overlay
    assert "W 400 L 40" in bottom_right  # the file's first window (SOFT TISSUE)
    assert markers == ["A", "L", "P", "R"]  # axial, head first supine


# Every image decode takes 400 ms longer, as a big frame on a slow device would.
SLOW_DECODES = """
const decode = window.createImageBitmap.bind(window);
window.createImageBitmap = (...args) =>
  new Promise((resolve) => setTimeout(resolve, 400)).then(() => decode(...args));
"""


def test_loaded_is_claimed_only_once_the_pixels_are_on_the_canvas(viewer_server):
    # The server's `done` follows a view's last pixel message at once, while the browser is
    # still decoding it: marking the view loaded then would claim full quality on a canvas
    # that still shows the preview.
    server, study = viewer_server
    with chromium_page() as page:
        page.add_init_script(SLOW_DECODES)
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        settled = {}
        for step in (1, 2):
            page.keyboard.press("ArrowDown")
            wait_loaded(page, 0, study.thin_instances[step])
            at_loaded = canvas_stats(page, 0)
            page.wait_for_timeout(1500)  # every decode still running has landed by now
            settled[step] = (at_loaded, canvas_stats(page, 0))
        errors = page.errors

    assert errors == []
    for at_loaded, later in settled.values():
        assert at_loaded["lit"] > 0.15, at_loaded
        assert at_loaded["hash"] == later["hash"], "pixels still landing after 'loaded'"


# Every `view` the page sends, in order (before any module of the page runs).
RECORD_VIEWS = """
window.__views = [];
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  try {
    const message = JSON.parse(data);
    if (message.type === 'view') window.__views.push(message);
  } catch {}
  return send.call(this, data);
};
"""


def test_the_first_view_asked_while_the_viewer_loads_is_adopted_not_asked_twice(viewer_server):
    server, study = viewer_server

    def slow_viewer(route):
        # The viewer's entry module arrives after boot.js's socket has heard the outline and
        # the first picture, as on a slow line or a busy machine.
        time.sleep(1.0)
        route.continue_()

    with chromium_page() as page:
        page.add_init_script(RECORD_VIEWS)
        page.route(re.compile(r".*/viewer/main\.js(\?.*)?$"), slow_viewer)
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        stats = canvas_stats(page, 0)
        views = page.evaluate("window.__views")
        errors = page.errors

    assert errors == []
    assert stats["lit"] > 0.15, stats
    ours = [view for view in views if view["viewport"] == 0]
    # boot.js asked (request 2, right after the open_study of the socket's address) ...
    assert ours[0]["request"] == 2 and ours[0]["quality"] == "diagnostic", views
    assert ours[0]["instance"] == study.thin_instances[0] and ours[0]["window"] is None
    # ... and the viewer took that request as its own first view: nothing asked twice.
    assert len(ours) == 1, views


def grey(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)


def best_shift(a: np.ndarray, b: np.ndarray, reach: int = 6) -> tuple[int, int]:
    """The (dx, dy) that moves the middle of ``b`` onto the middle of ``a`` best."""
    h, w = a.shape
    top, left = h // 5, w // 5
    middle = a[top : h - top, left : w - left]
    scores = {
        (dx, dy): float(
            np.abs(middle - b[top + dy : h - top + dy, left + dx : w - left + dx]).mean()
        )
        for dx in range(-reach, reach + 1)
        for dy in range(-reach, reach + 1)
    }
    return min(scores, key=scores.__getitem__)


def test_the_page_carries_its_first_picture_where_the_viewer_then_draws(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    url = f"{server.url}/studies/{study.study_uid}/view/"
    with chromium_page() as page:
        # The first open leaves the first picture ready in the server (frontend/first_preview.py).
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        # No module runs: what the HTML alone puts on screen.
        page.route("**/frontend/js/**", lambda route: route.abort())
        page.goto(url)
        picture = page.locator("img[data-role='boot-picture']")
        expect(picture).to_be_visible()
        page.wait_for_function(
            "() => document.querySelector('img[data-role=\"boot-picture\"]').complete"
        )
        instance = picture.get_attribute("data-instance")
        grid = page.locator("[data-role='viewports']").bounding_box()
        assert grid is not None
        shown = grey(page.screenshot(clip=grid))
        save_screenshot(page, "viewer-page-first-picture")
        # With the viewer: its canvas takes over and the page's picture goes.
        page.unroute("**/frontend/js/**")
        page.goto(url)
        wait_loaded(page, 0, study.thin_instances[0])
        expect(picture).to_have_count(0)
        drawn = grey(page.screenshot(clip=grid))
        errors = page.errors

    assert errors == []
    assert instance == study.thin_instances[0]
    h, w = shown.shape
    assert (shown[h // 5 : -h // 5, w // 5 : -w // 5] > 10).mean() > 0.15  # the phantom, lit
    # The same picture at the same place: nothing jumps when the canvas takes over.
    assert best_shift(shown, drawn) in {(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1)}


def test_scrolling_changes_the_image(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    with chromium_page() as page:
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        before = canvas_stats(page, 0)
        page.mouse.move(*image_to_screen(page, 0, SIZE / 2, SIZE / 2))
        for _ in range(12):
            page.mouse.wheel(0, 100)
        expect(viewport(page, 0)).to_have_attribute("data-index", "12", timeout=TIMEOUT_MS)
        wait_loaded(page, 0, study.thin_instances[12])
        after_wheel = canvas_stats(page, 0)
        page.keyboard.press("ArrowDown")
        wait_loaded(page, 0, study.thin_instances[13])
        viewport(page, 0).locator(".viewport-slider").fill("5")
        wait_loaded(page, 0, study.thin_instances[5])
        page.keyboard.press("End")
        wait_loaded(page, 0, study.thin_instances[-1])
        slider = viewport(page, 0).locator(".viewport-slider").input_value()
        overlay = viewport(page, 0).locator(".corner-bottom-left").inner_text()
        # An opaque canvas is what keeps a software-composited scroll step cheap (viewport.js).
        opaque = page.evaluate(
            "() => document.querySelector('.viewport[data-viewport=\"0\"] canvas')"
            ".getContext('2d').getContextAttributes().alpha === false"
        )
        save_screenshot(page, "viewer-scrolled")
        errors = page.errors

    assert errors == []
    assert opaque
    assert after_wheel["hash"] != before["hash"]
    assert after_wheel["lit"] > 0.15
    assert slider == str(SLICES - 1)
    assert f"Im {SLICES}/{SLICES}" in overlay


def test_a_scroll_step_from_memory_shows_the_slice_where_its_sharp_image_then_lands(
    viewer_server,
):
    server, study = viewer_server
    from playwright.sync_api import expect

    hold = {"on": False}
    held: list = []
    page_sides: list = []

    def route(ws):
        server_side = ws.connect_to_server()
        page_sides.append(ws)
        ws.on_message(server_side.send)
        server_side.on_message(
            lambda message: held.append(message) if hold["on"] else ws.send(message)
        )

    with chromium_page() as page:
        page.route_web_socket(re.compile(r".*/ws/viewer/(\?.*)?$"), route)
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        # Every slice's preview is in memory (the cache bar is full).
        page.wait_for_function(
            "() => getComputedStyle(document.querySelector('.viewport-cachebar'))"
            ".getPropertyValue('--cached').trim() === '1.000'",
            timeout=TIMEOUT_MS,
        )
        grid = page.locator("[data-role='viewports']").bounding_box()
        assert grid is not None
        before = grey(page.screenshot(clip=grid))
        hold["on"] = True  # nothing more from the server: what shows comes from memory
        page.mouse.move(*image_to_screen(page, 0, SIZE / 2, SIZE / 2))
        page.mouse.wheel(0, 100)
        expect(viewport(page, 0)).to_have_attribute("data-index", "1", timeout=TIMEOUT_MS)
        page.wait_for_timeout(300)  # the sharp image is asked for once the wheel rests
        from_memory = grey(page.screenshot(clip=grid))
        hold["on"] = False
        for message in held:
            page_sides[-1].send(message)
        wait_loaded(page, 0, study.thin_instances[1])
        sharp = grey(page.screenshot(clip=grid))
        errors = page.errors

    assert errors == []
    h, w = sharp.shape
    middle = (slice(h // 5, -h // 5), slice(w // 5, -w // 5))
    assert (from_memory[middle] > 10).mean() > 0.15  # the phantom, lit
    assert np.abs(from_memory - before).mean() > 0.5  # another slice
    # The slice's preview sits where its sharp image then lands, at its size, and looks
    # like it (a preview is coarser: only a small mean difference).
    assert best_shift(sharp, from_memory) in {(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1)}
    assert np.abs(sharp[middle] - from_memory[middle]).mean() < 6, np.abs(
        sharp[middle] - from_memory[middle]
    ).mean()


def test_window_drag_changes_the_pixels_and_the_overlay(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    with chromium_page() as page:
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        before = canvas_stats(page, 0)
        x, y = image_to_screen(page, 0, SIZE / 2, SIZE / 2)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 150, y + 80, steps=6)
        page.mouse.up()
        corner = viewport(page, 0).locator(".corner-bottom-right")
        expect(corner).not_to_contain_text("W 400 L 40", timeout=TIMEOUT_MS)
        expect(viewport(page, 0)).to_have_attribute(
            "data-loaded", re.compile(r"^(?!.*default).+"), timeout=TIMEOUT_MS
        )
        after = canvas_stats(page, 0)
        text = corner.inner_text()
        # A preset from the toolbar, then invert.
        page.select_option("select[data-control=window]", label="Lung")
        expect(corner).to_contain_text("W 1500 L -600", timeout=TIMEOUT_MS)
        wait_loaded(page, 0, study.thin_instances[0])
        lung = canvas_stats(page, 0)
        save_screenshot(page, "viewer-window-lung")
        errors = page.errors

    assert errors == []
    assert after["hash"] != before["hash"]
    # Wider window and higher level: soft tissue looks darker on average.
    assert after["sum"] < before["sum"], (before, after, text)
    assert lung["hash"] not in (before["hash"], after["hash"])


def test_window_drag_shows_new_pixels_before_the_server_answers_with_one_view_in_flight(
    viewer_server,
):
    server, study = viewer_server
    from playwright.sync_api import expect

    hold = {"on": False}
    held: list = []
    views: list = []
    page_sides: list = []

    def route(ws):
        # Every server message can be held back; the page's view requests are counted.
        server_side = ws.connect_to_server()
        page_sides.append(ws)

        def from_page(message):
            if isinstance(message, str) and json.loads(message).get("type") == "view":
                views.append(json.loads(message))
            server_side.send(message)

        def from_server(message):
            if hold["on"]:
                held.append(message)
            else:
                ws.send(message)

        ws.on_message(from_page)
        server_side.on_message(from_server)

    with chromium_page() as page:
        page.route_web_socket(re.compile(r".*/ws/viewer/(\?.*)?$"), route)
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        corner = viewport(page, 0).locator(".corner-bottom-right")
        expect(corner).to_contain_text("W 400 L 40", timeout=TIMEOUT_MS)  # frame info is in
        before = canvas_stats(page, 0)
        hold["on"] = True
        sent_before = len(views)
        held_from = time.monotonic()
        x, y = image_to_screen(page, 0, SIZE / 2, SIZE / 2)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 150, y + 80, steps=12)
        page.mouse.up()
        expect(corner).not_to_contain_text("W 400 L 40", timeout=TIMEOUT_MS)
        page.wait_for_function(
            """([index, hash]) => {
              const canvas = document.querySelector(`.viewport[data-viewport="${index}"] canvas`);
              const { width, height } = canvas;
              const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
              let h = 0;
              for (let i = 0; i < data.length; i += 4) {
                h = (h * 31 + data[i] + data[i + 1] + data[i + 2]) >>> 0;
              }
              return h !== hash;
            }""",
            arg=[0, before["hash"]],
            timeout=TIMEOUT_MS,
        )
        during = canvas_stats(page, 0)
        sent_while_held = len(views) - sent_before
        held_for = time.monotonic() - held_from
        hold["on"] = False
        for message in held:
            page_sides[-1].send(message)
        expect(viewport(page, 0)).to_have_attribute(
            "data-loaded", re.compile(r"^(?!.*default).+"), timeout=TIMEOUT_MS
        )
        after = canvas_stats(page, 0)
        errors = page.errors

    assert errors == []
    # Twelve moves, nothing answered: the first view went, the others waited and only the
    # newest will follow; a waiting view leaves only when the one in flight has had no
    # answer for 400 ms (view-pacer.js), so a slow machine sees one more per 400 ms held.
    assert 1 <= sent_while_held <= 1 + held_for / 0.4, (sent_while_held, held_for)
    # The browser re-mapped the picture it had: darker, as the server's rendering is...
    assert during["sum"] < before["sum"]
    # ... and close to it (pixels the first window clipped cannot be recovered).
    assert abs(during["sum"] - after["sum"]) / after["sum"] < 0.15, (before, during, after)


def test_a_window_drag_asks_the_server_for_its_newest_window_a_few_times_a_second(
    viewer_server,
):
    server, study = viewer_server
    from playwright.sync_api import expect

    views: list = []

    def route(ws):
        server_side = ws.connect_to_server()

        def from_page(message):
            if isinstance(message, str) and json.loads(message).get("type") == "view":
                views.append((time.monotonic(), json.loads(message)))
            server_side.send(message)

        ws.on_message(from_page)
        server_side.on_message(ws.send)

    with chromium_page() as page:
        page.route_web_socket(re.compile(r".*/ws/viewer/(\?.*)?$"), route)
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        corner = viewport(page, 0).locator(".corner-bottom-right")
        expect(corner).to_contain_text("W 400 L 40", timeout=TIMEOUT_MS)
        x, y = image_to_screen(page, 0, SIZE / 2, SIZE / 2)
        page.mouse.move(x, y)
        page.mouse.down()
        started = time.monotonic()
        moves = 30
        for step in range(1, moves + 1):
            page.mouse.move(x + 5 * step, y + 3 * step)
        ended = time.monotonic()
        page.mouse.up()
        expect(viewport(page, 0)).to_have_attribute(
            "data-loaded", re.compile(r"^(?!.*default).+"), timeout=TIMEOUT_MS
        )
        shown = re.search(r"W (-?\d+) L (-?\d+)", corner.inner_text())
        errors = page.errors

    assert errors == []
    during = [view for at, view in views if at >= started and view.get("window")]
    assert during, "the drag asked for no view"
    # Every move is shown at once in the browser; the server is asked for the newest window
    # the first time and then at most every 250 ms (viewer.js MOVING_VIEW_MS), not per move.
    # (+1: the first view, +1: the one after the last move, +1: timer rounding)
    assert len(during) <= 3 + (ended - started) / 0.25, (len(during), ended - started)
    assert len(during) < moves
    # The drag's picture is re-mapped in the browser, so its views ask for no coarse preview;
    # the views before it (opening the study) keep theirs.
    assert any(view.get("preview") is False for view in during), during
    assert all("preview" not in view for at, view in views if at < started)
    # The last view asked for is the window on show: the drag's end is rendered by the server.
    width, level = int(shown.group(1)), int(shown.group(2))
    assert [round(v) for v in reversed(during[-1]["window"])] == [width, level]


def test_length_measurement_shows_the_right_millimetres(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    with chromium_page() as page:
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        page.keyboard.press("l")
        start = image_to_screen(page, 0, 20, 64)
        end = image_to_screen(page, 0, 100, 64)
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(*end, steps=8)
        page.mouse.up()
        label = viewport(page, 0).locator(".measurement.is-done .measurement-label")
        expect(label).to_contain_text("mm", timeout=TIMEOUT_MS)
        text = label.text_content()
        save_screenshot(page, "viewer-length")
        errors = page.errors

    assert errors == []
    millimetres = float(re.search(r"([\d.]+) mm", text).group(1))
    # 80 image pixels of 400/128 mm; the mouse lands within a CSS pixel (< 0.2 image pixel).
    assert abs(millimetres - 80 * PIXEL_MM) < 1.0, text


def test_two_viewports_scroll_together(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    with chromium_page() as page:
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        page.click("button[data-action='layout:1x2']")
        expect(viewport(page, 1)).to_have_attribute("data-series", study.thick_series)
        wait_loaded(page, 1)
        page.mouse.move(*image_to_screen(page, 0, SIZE / 2, SIZE / 2))
        for _ in range(10):
            page.mouse.wheel(0, 100)
        expect(viewport(page, 0)).to_have_attribute("data-index", "10", timeout=TIMEOUT_MS)
        # Slice 10 of the thin series is slice 5 of the every-second-slice series.
        expect(viewport(page, 1)).to_have_attribute("data-index", "5", timeout=TIMEOUT_MS)
        wait_loaded(page, 0, study.thin_instances[10])
        wait_loaded(page, 1)
        left = viewport(page, 0).locator(".corner-bottom-left").inner_text()
        right = viewport(page, 1).locator(".corner-bottom-left").inner_text()
        save_screenshot(page, "viewer-sync")
        # A double click maximises a viewport and a second one brings the grid back.
        viewport(page, 1).dblclick(position={"x": 100, "y": 100})
        expect(viewport(page, 0)).to_be_hidden()
        viewport(page, 1).dblclick(position={"x": 100, "y": 100})
        expect(viewport(page, 0)).to_be_visible()
        errors = page.errors

    assert errors == []
    # Same slice location in both.
    location = re.search(r"Loc (\S+) mm", left).group(1)
    assert f"Loc {location} mm" in right


def test_a_broken_frame_shows_its_error_while_the_others_render(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    with chromium_page() as page:
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        page.click("button[data-action='layout:2x2']")
        # Series in number order fill the grid: thin, thick, sagittal, then the damaged one.
        expect(viewport(page, 3)).to_have_attribute("data-series", study.broken_series)
        message = viewport(page, 3).locator(".viewport-message")
        expect(message).to_be_visible(timeout=TIMEOUT_MS)
        for index in (0, 1, 2):
            wait_loaded(page, index)
        lit = [canvas_stats(page, index)["lit"] for index in (0, 1, 2)]
        text = message.inner_text()
        others_quiet = all(
            viewport(page, index).locator(".viewport-message").is_hidden() for index in (0, 1, 2)
        )
        save_screenshot(page, "viewer-broken-frame")
        errors = page.errors

    assert errors == []
    assert "cannot be shown" in text and "decode_error" in text
    assert others_quiet
    assert all(share > 0.05 for share in lit), lit


def test_reference_lines_show_the_active_slice_on_a_crossing_plane(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    def line_y(index: int) -> float:
        line = viewport(page, index).locator(".reference-line line")
        expect(line).to_have_count(1, timeout=TIMEOUT_MS)
        y1, y2 = float(line.get_attribute("y1")), float(line.get_attribute("y2"))
        assert abs(y1 - y2) < 0.5  # an axial slice cuts a sagittal image horizontally
        return y1

    with chromium_page() as page:
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        page.click("button[data-action='layout:1x2']")
        card = page.locator(f".series-card[data-series-instance-uid='{study.sagittal_series}']")
        card.drag_to(viewport(page, 1))
        expect(viewport(page, 1)).to_have_attribute("data-series", study.sagittal_series)
        wait_loaded(page, 1)
        markers = [
            viewport(page, 1).locator(f".marker-{edge}").inner_text()
            for edge in ("top", "right", "bottom", "left")
        ]
        # Make the axial viewport active: its slice shows as a line on the sagittal image.
        page.mouse.move(*image_to_screen(page, 0, SIZE / 2, SIZE / 2))
        page.mouse.wheel(0, 100)
        top = line_y(1)
        for _ in range(10):
            page.mouse.wheel(0, 100)
        expect(viewport(page, 0)).to_have_attribute("data-index", "11", timeout=TIMEOUT_MS)
        page.wait_for_function(
            "y => Number(document.querySelector("
            "'.viewport[data-viewport=\"1\"] .reference-line line').getAttribute('y1')) > y",
            arg=top,
        )
        lower = line_y(1)
        box = viewport(page, 1).bounding_box()
        # The sagittal series is active now: a vertical line on the axial image.
        viewport(page, 1).click(position={"x": box["width"] / 2, "y": box["height"] / 2})
        axial_line = viewport(page, 0).locator(".reference-line line")
        expect(axial_line).to_have_count(1, timeout=TIMEOUT_MS)
        x1, x2 = (float(axial_line.get_attribute(a)) for a in ("x1", "x2"))
        # A length down six rows of the sagittal image: six slice gaps, whatever the pixels
        # look like on screen (they are shown 16.7 mm tall and 3.1 mm wide).
        page.keyboard.press("l")
        sagittal = {"size": (SIZE, SLICES), "aspect": (400.0 / SLICES) / PIXEL_MM}
        page.mouse.move(*image_to_screen(page, 1, 64, 8.5, **sagittal))
        page.mouse.down()
        page.mouse.move(*image_to_screen(page, 1, 64, 14.5, **sagittal), steps=5)
        page.mouse.up()
        label = viewport(page, 1).locator(".measurement.is-done .measurement-label")
        expect(label).to_contain_text("mm", timeout=TIMEOUT_MS)
        length = float(re.search(r"([\d.]+) mm", label.text_content()).group(1))
        save_screenshot(page, "viewer-reference-lines")
        errors = page.errors

    assert errors == []
    assert markers == ["H", "P", "F", "A"]
    # Ten slices further down (16.7 mm each) on a sagittal image whose rows are slices.
    assert lower > top + 50
    assert abs(x1 - x2) < 0.5
    assert abs(length - 6 * 400.0 / SLICES) < 1.0, length


def test_view_operations_from_keys_turn_markers_and_overlay(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    with chromium_page() as page:
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        vp = viewport(page, 0)
        corner = vp.locator(".corner-bottom-right")
        page.mouse.click(*image_to_screen(page, 0, 5, 5))
        fitted_zoom = re.search(r"Zoom (\d+)%", corner.inner_text()).group(1)
        page.keyboard.press("]")
        expect(corner).to_contain_text("Rot 90°")
        expect(vp.locator(".marker-top")).to_have_text("R")
        page.keyboard.press("h")
        expect(corner).to_contain_text("Rot 90° · Flip H")
        expect(vp.locator(".marker-left")).to_have_text("A")
        page.keyboard.press("i")
        expect(corner).to_contain_text("Inverted")
        wait_loaded(page, 0, study.thin_instances[0])
        inverted = canvas_stats(page, 0)
        page.keyboard.press("o")
        expect(corner).to_contain_text("Zoom 100%")
        page.keyboard.press("+")
        expect(corner).to_contain_text("Zoom 125%")
        page.keyboard.press("f")
        expect(corner).to_contain_text(f"Zoom {fitted_zoom}%")
        save_screenshot(page, "viewer-rotated-inverted")
        page.keyboard.press("?")
        help_dialog = page.locator("dialog[data-role=help]")
        expect(help_dialog).to_be_visible()
        expect(help_dialog).to_contain_text("Window / level tool")
        page.keyboard.press("Escape")
        expect(help_dialog).to_be_hidden()
        page.keyboard.press("Shift+R")
        expect(corner).not_to_contain_text("Rot")
        expect(corner).not_to_contain_text("Inverted")
        expect(vp.locator(".marker-top")).to_have_text("A")
        wait_loaded(page, 0, study.thin_instances[0])
        reset = canvas_stats(page, 0)
        errors = page.errors

    assert errors == []
    # Inverted, the air around the body is white: far more lit pixels than normal.
    assert inverted["lit"] > reset["lit"] + 0.2


def test_cine_plays_through_the_stack_at_the_chosen_rate(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    with chromium_page() as page:
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        page.fill("input[data-control=fps]", "30")
        page.press("input[data-control=fps]", "Enter")
        # Every index the viewport shows is recorded in the page, so a busy machine polling
        # slower than the cine rate cannot miss the one it waits for.
        page.evaluate(
            """() => {
                const element = document.querySelector(".viewport[data-viewport='0']");
                window.cineSeen = [];
                new MutationObserver(() => window.cineSeen.push(Number(element.dataset.index)))
                    .observe(element, {attributes: true, attributeFilter: ["data-index"]});
            }"""
        )
        page.click("button[data-action=cine]")
        expect(page.locator("button[data-action=cine]")).to_have_attribute("aria-pressed", "true")
        # It loops: the last slice, then the first ones again.
        page.wait_for_function(
            """last => {
                const seen = window.cineSeen;
                const end = seen.indexOf(last);
                return end >= 0 && seen.slice(end + 1).includes(2);
            }""",
            arg=SLICES - 1,
            timeout=TIMEOUT_MS,
        )
        page.click("button[data-action=cine]")
        expect(page.locator("button[data-action=cine]")).to_have_attribute("aria-pressed", "false")
        stopped_at = viewport(page, 0).get_attribute("data-index")
        page.wait_for_timeout(300)  # proving a negative: nothing moves once stopped
        still_at = viewport(page, 0).get_attribute("data-index")
        errors = page.errors

    assert errors == []
    assert stopped_at == still_at


def test_roi_measurement_reports_mean_sd_and_area(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    with chromium_page() as page:
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        page.click("button[data-action='tool:ellipse']")
        page.mouse.move(*image_to_screen(page, 0, 40, 40))
        page.mouse.down()
        page.mouse.move(*image_to_screen(page, 0, 60, 56), steps=5)
        page.mouse.up()
        label = viewport(page, 0).locator(".tool-ellipse.is-done .measurement-label")
        expect(label).to_contain_text("Mean", timeout=TIMEOUT_MS)
        text = label.text_content()
        page.click("button[data-action='tool:rectangle']")
        page.mouse.move(*image_to_screen(page, 0, 70, 40))
        page.mouse.down()
        page.mouse.move(*image_to_screen(page, 0, 90, 50), steps=5)
        page.mouse.up()
        rectangle = viewport(page, 0).locator(".tool-rectangle.is-done .measurement-label")
        expect(rectangle).to_contain_text("Area", timeout=TIMEOUT_MS)
        # Angle: drag the first arm to the vertex, then click the end of the second arm.
        page.click("button[data-action='tool:angle']")
        page.mouse.move(*image_to_screen(page, 0, 40, 100))
        page.mouse.down()
        page.mouse.move(*image_to_screen(page, 0, 60, 100), steps=4)
        page.mouse.up()
        page.mouse.move(*image_to_screen(page, 0, 60, 80), steps=4)
        page.mouse.click(*image_to_screen(page, 0, 60, 80))
        angle = viewport(page, 0).locator(".tool-angle.is-done .measurement-label")
        expect(angle).to_contain_text("°", timeout=TIMEOUT_MS)
        angle_text = angle.text_content()
        rectangle_text = rectangle.text_content()
        page.click("button[data-action='tool:probe']")
        page.mouse.click(*image_to_screen(page, 0, 2.5, 2.5))  # air outside the body
        probe_label = viewport(page, 0).locator(".tool-probe.is-done .measurement-label")
        expect(probe_label).to_contain_text("HU", timeout=TIMEOUT_MS)
        probe = probe_label.text_content()
        save_screenshot(page, "viewer-roi")
        errors = page.errors

    assert errors == []
    assert "HU" in text and "SD" in text
    area = float(re.search(r"Area ([\d.]+) mm²", text).group(1))
    expected = math.pi / 4 * 20 * 16 * PIXEL_MM**2  # the ellipse in its 20×16 pixel box
    assert abs(area - expected) / expected < 0.05, text
    assert float(re.search(r"(-?[\d.]+) HU", probe).group(1)) < -900  # air
    rectangle_area = float(re.search(r"Area ([\d.]+) mm²", rectangle_text).group(1))
    assert abs(rectangle_area - 20 * 10 * PIXEL_MM**2) < 1.0, rectangle_text
    assert abs(float(re.search(r"([\d.]+)°", angle_text).group(1)) - 90) < 1.0, angle_text


def test_tablet_layout_with_touch_scroll_and_pinch(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    with chromium_page(viewport=(820, 1180)) as page:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        # Upright tablet: the series list is a strip above the images.
        strip = page.locator(".series-browser").bounding_box()
        grid = page.locator(".viewport-grid").bounding_box()
        page.click("button[data-action='tool:scroll']")
        cx, cy = image_to_screen(page, 0, SIZE / 2, SIZE / 2)

        def touch(kind: str, *points: tuple[float, float]) -> None:
            cdp.send(
                "Input.dispatchTouchEvent",
                {
                    "type": kind,
                    "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)],
                },
            )

        touch("touchStart", (cx, cy))
        for step in range(1, 11):
            touch("touchMove", (cx, cy + 12 * step))
        touch("touchEnd")
        expect(viewport(page, 0)).not_to_have_attribute("data-index", "0", timeout=TIMEOUT_MS)
        corner = viewport(page, 0).locator(".corner-bottom-right")
        zoom_before = int(re.search(r"Zoom (\d+)%", corner.inner_text()).group(1))
        touch("touchStart", (cx - 40, cy), (cx + 40, cy))
        for step in range(1, 11):
            touch("touchMove", (cx - 40 - 8 * step, cy), (cx + 40 + 8 * step, cy))
        touch("touchEnd")
        expect(corner).not_to_contain_text(f"Zoom {zoom_before}%")
        zoom_after = int(re.search(r"Zoom (\d+)%", corner.inner_text()).group(1))
        save_screenshot(page, "viewer-tablet")
        errors = page.errors

    assert errors == []
    assert strip["y"] + strip["height"] <= grid["y"] + 1
    assert strip["width"] > 700
    # Fingers spread from 80 to 240 px apart: three times the zoom.
    assert 2.5 < zoom_after / zoom_before < 3.5


def test_dragging_a_series_onto_a_viewport_shows_it(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    with chromium_page() as page:
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        card = page.locator(f".series-card[data-series-instance-uid='{study.thick_series}']")
        card.drag_to(viewport(page, 0))
        expect(viewport(page, 0)).to_have_attribute("data-series", study.thick_series)
        wait_loaded(page, 0)
        overlay = viewport(page, 0).locator(".corner-top-right").inner_text()
        errors = page.errors

    assert errors == []
    assert "Axial thick" in overlay


def test_loading_progress_shows_until_the_pixels_arrive(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    held: list = []
    page_sides: list = []
    hold = {"pixels": True}

    def slow_pixels(ws):
        # Text passes at once; binary pixel messages, and the `done` that the server sends
        # after a view's pixels, wait until the test releases them (in their order). The
        # first view may be boot.js's, asked before the viewer loaded: its `done` could
        # otherwise overtake the held pixels and end the loading state.
        server_side = ws.connect_to_server()
        page_sides.append(ws)

        def after_pixels(message) -> bool:
            return isinstance(message, bytes) or json.loads(message).get("type") == "done"

        def from_server(message):
            if hold["pixels"] and after_pixels(message):
                held.append(message)
            else:
                ws.send(message)

        server_side.on_message(from_server)

    with chromium_page() as page:
        page.route_web_socket(re.compile(r".*/ws/viewer/(\?.*)?$"), slow_pixels)
        log_in_and_open_study(page, server, study)
        vp = viewport(page, 0)
        progress = vp.locator(".viewport-progress")
        expect(progress).to_be_visible(timeout=TIMEOUT_MS)
        expect(vp).to_have_class(re.compile(r"\bis-loading\b"))
        waiting_text = page.evaluate(
            "getComputedStyle(document.querySelector("
            "'.viewport[data-viewport=\"0\"]'), '::before').content"
        )
        save_screenshot(page, "viewer-loading")
        hold["pixels"] = False
        for message in held:
            page_sides[-1].send(message)
        wait_loaded(page, 0, study.thin_instances[0])
        expect(progress).to_be_hidden()
        errors = page.errors

    assert errors == []
    assert "Loading image" in waiting_text


def test_a_dropped_socket_reconnects_and_resumes(viewer_server):
    server, study = viewer_server
    from playwright.sync_api import expect

    sockets = []

    def proxy(ws):
        # Pass everything through to the real server; keep a handle to cut the page side.
        ws.connect_to_server()
        sockets.append(ws)

    with chromium_page() as page:
        page.route_web_socket(re.compile(r".*/ws/viewer/(\?.*)?$"), proxy)
        log_in_and_open_study(page, server, study)
        wait_loaded(page, 0, study.thin_instances[0])
        sockets[-1].close(code=1011, reason="test cuts the connection")
        status = page.locator("[data-role=status]")
        expect(status).to_contain_text("reconnecting", timeout=TIMEOUT_MS)
        expect(status).to_have_text("Reconnected", timeout=TIMEOUT_MS)
        page.mouse.move(*image_to_screen(page, 0, SIZE / 2, SIZE / 2))
        page.mouse.wheel(0, 100)
        wait_loaded(page, 0, study.thin_instances[1])
        connections = len(sockets)
        errors = page.errors

    assert errors == []
    assert connections == 2


def test_an_instance_stored_while_the_viewer_is_open_appears_without_reload(viewer_server):
    server, _ = viewer_server
    from playwright.sync_api import expect

    study_uid = _uid("live study")

    def upload(page, series: str, description: str) -> None:
        ds = make_ct(
            study_uid=study_uid,
            series_uid=series,
            rows=64,
            columns=64,
            SeriesDescription=description,
        )
        token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
        response = page.request.post(
            f"{server.url}/upload/files/",
            multipart={
                "file": {
                    "name": "new.dcm",
                    "mimeType": "application/dicom",
                    "buffer": _part10(ds),
                }
            },
            headers={"X-CSRFToken": token, "Referer": f"{server.url}/"},
        )
        assert response.ok, response.text()
        assert response.json()["counts"]["stored"] == 1

    with chromium_page() as page:
        page.goto(f"{server.url}/")
        page.fill("#id_username", server.username)
        page.fill("#id_password", server.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/")
        upload(page, _uid("live series 1"), "First series")
        page.goto(f"{server.url}/studies/{study_uid}/view/")
        expect(page.locator(".series-card")).to_have_count(1, timeout=TIMEOUT_MS)
        wait_loaded(page, 0)
        upload(page, _uid("live series 2"), "Arrived later")
        expect(page.locator(".series-card")).to_have_count(2, timeout=TIMEOUT_MS)
        titles = page.locator(".series-title").all_inner_texts()
        errors = page.errors

    assert errors == []
    assert any("Arrived later" in title for title in titles)
