"""Viewer benchmark: our viewer page against Orthanc's Web Viewer plugin, side by side in the
same headless Chromium (Debian's, through Playwright, with tests.browser's flags).

Both archives hold the same files: a generated 200-slice CT (512², 16-bit), one 4096×5120
16-bit radiograph-like image and one 3036×3036 one (DX, generated with numpy). Ours runs
under ``python -m viewerproject.serve`` (uvicorn, as ``make run``) and is loaded with
``import_dicom``; Orthanc (Debian packages orthanc, orthanc-webviewer) through REST. Pages
are ours ``/studies/<uid>/view/`` and Orthanc's ``/web-viewer/app/viewer.html?series=<id>``.

Every run is a fresh browser context (empty HTTP cache, no service worker), 1280×800, logged
in beforehand (our session cookie; Orthanc's HTTP Basic sent up front, so no 401 round trip).
One unmeasured open per viewer and image comes first, so both servers have decoded and
cached what they cache; the runs measure a warm server and a cold browser. What is on screen
is read the same way in both pages (tests.bench.page_probe): the biggest canvas, sampled after
every animation frame.

- first pixels: navigation start to the first frame with a non-black image;
- full quality: the last new image before the page rests (ours: after the viewport reports
  its request done; Orthanc shows one quality, its default lossy JPEG 95, so its full
  quality is its first image);
- stack scroll: one wheel event per animation frame, dispatched in the page (one slice each
  in both viewers), through the stack and back for a fixed time; new images drawn per
  second, beside the page's own frames per second meanwhile (the most it could draw) and
  the display's rate, which no page can beat: the frames per second of an empty page in the
  same browser, measured for a second just before each viewer's CT visit (headless
  Chromium's is about 60);
- stack scroll without the frame-rate limit: the display's 60 Hz caps the row above, so a
  single late frame puts it under 60 whatever the viewer could do. The same scroll in a second
  browser launched with ``--disable-frame-rate-limit --disable-gpu-vsync`` (UNCAPPED_ARGS:
  a frame begins as soon as the last one is done) measures what the page can sustain. There
  an animation frame is no proof that anything reached the screen (frames are dropped when a
  newer one replaces them before the display compositor draws), so the scroll runs under a
  Chromium trace and only images presented count (page_probe.presented_images): the probe
  marks the hash of the biggest canvas after every frame, the trace follows each frame from
  its main-thread begin to its activation on the compositor and the compositor frames drawn
  from it, and the compositor's PipelineReporter says which of those were presented; a
  presented frame counts if its image differs from the last presented one. Wheel events
  still come one per animation frame, so they come as fast as frames do. Beside it: the
  page's frames presented meanwhile, and a bare page redrawing a full-window canvas every
  frame under the same flags and count, the most this browser presents of a canvas that big;
  an empty page's animation frames are shown too, but are no ceiling there: with nothing to
  draw no frame is produced, and they run at about 56 per second. The trace's own cost (a
  few events per frame) weighs on both viewers alike;
- window drag: left-button drag (window/level in both) in small moves; new images per second;
- page received: navigation start to the last byte of the page's HTML (Navigation Timing
  ``responseEnd``), which waits for the picture it carries when that is rendered for it;
- 4G: CDP ``Network.emulateNetworkConditions`` (30 Mbit/s down, 10 ms latency), the 3036²
  radiograph; ours also from its WebSocket's ``open`` event to first pixels (negative when
  the page shows the picture it carries before its socket opens, frontend/first_preview.py)
  and to the viewer's canvas first showing an image.

``--cold``: before each of its visits our server is restarted (a new process on the same
archive) and its preview directory emptied, and only its study list is asked for once: a
process that has not opened the study (another process of a scaled deployment, or a
restarted one), where the page renders its first picture (frontend/first_preview.py).
Orthanc stays warm, as its own warm-up leaves it.

Both servers run at once and the viewers take turns, round by round (first in one round,
last in the next): on a machine shared with other work, the load of the moment then weighs
on both sides alike.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from studies.demo.phantom import part10_bytes, write_ct_series
from tests.bench.django_server import DjangoServer, ServerError, manage
from tests.bench.page_probe import (
    FIRST_PIXELS,
    LOADED,
    MARKING,
    NOW,
    PROBE_SCRIPT,
    SCROLL_SCRIPT,
    TRACE_CATEGORIES,
    presented_images,
    snapshot,
)
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.peers.orthanc import WEBVIEWER_PLUGIN, OrthancError, OrthancPeer, orthanc_missing

DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"  # PS3.4 B.5
VIEWPORT = {"width": 1280, "height": 800}
PAGE_TIMEOUT_MS = 60_000
# Navigation start to the last byte of the page's HTML (Navigation Timing Level 2).
PAGE_RECEIVED = "() => performance.getEntriesByType('navigation')[0]?.responseEnd ?? null"
REST_SECONDS = 0.6  # no new image for this long after the last one: the page has settled
# Chromium's frame-rate limiter off: a new frame begins as soon as the last one is done,
# instead of on the display's 60 Hz clock (cc and viz schedulers; vsync of the output).
UNCAPPED_ARGS = ["--disable-frame-rate-limit", "--disable-gpu-vsync"]
# Chromium's DevTools network emulation takes bytes per second.
FOUR_G = {
    "offline": False,
    "latency": 10,
    "downloadThroughput": 30_000_000 / 8,
    "uploadThroughput": -1,  # the link above names no upload rate: not throttled
}


# --- the images -------------------------------------------------------------------------------


def radiograph(rows: int, columns: int, label: str, seed: int) -> Dataset:
    """A 12-bit-in-16 DX image that looks roughly like a chest film: bright mediastinum and
    spine, dark lung fields, rib-like bands, film noise (so JPEG cannot make it tiny)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(-1, 1, rows, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, columns, dtype=np.float32)[None, :]
    image = 2600 - 900 * (x * x + 0.5 * y * y)
    for side in (-1, 1):
        lung = ((x - 0.38 * side) / 0.27) ** 2 + ((y + 0.05) / 0.55) ** 2
        image = image - 1300 * np.clip(1 - lung, 0, 1) ** 0.5
    image = image + 500 * np.exp(-((x / 0.08) ** 2))  # spine
    image = image + 160 * (np.sin(y * 40 + 3 * x * x) > 0.6)  # ribs
    image = image + rng.normal(0, 25, (rows, columns)).astype(np.float32)
    pixels = np.clip(image, 0, 4095).astype(np.uint16)

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = DX_FOR_PRESENTATION
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["bench-viewer", label, "instance"])
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["bench-viewer", label, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["bench-viewer", label, "series"])
    ds.PatientName = f"Bench^{label}"
    ds.PatientID = f"BENCH-{label}"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyDate = ds.SeriesDate = date.today().strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = "120000"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.StudyDescription = ds.SeriesDescription = f"Benchmark {columns}x{rows}"
    ds.Modality = "DX"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.ImagerPixelSpacing = ds.PixelSpacing = [0.14, 0.14]
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PresentationLUTShape = "IDENTITY"
    ds.PixelData = pixels.tobytes()
    return ds


@dataclass(frozen=True)
class Study:
    name: str
    study_uid: str
    files: list[Path]


def write_studies(work: Path, slices: int) -> dict[str, Study]:
    ct_files = write_ct_series(work / "ct", slices=slices, size=512)
    studies = {
        "ct": Study("ct", dcmread(ct_files[0], stop_before_pixels=True).StudyInstanceUID, ct_files)
    }
    for name, rows, columns, seed in (("large", 5120, 4096, 51), ("dx", 3036, 3036, 30)):
        directory = work / name
        directory.mkdir()
        ds = radiograph(rows, columns, name.upper(), seed)
        path = directory / "image.dcm"
        path.write_bytes(part10_bytes(ds))
        studies[name] = Study(name, str(ds.StudyInstanceUID), [path])
    return studies


# --- the two viewers --------------------------------------------------------------------------


@dataclass
class Target:
    """One viewer: how to open a study, and the browser context options it needs."""

    name: str
    url_of: Callable[[Study], str]
    context_options: dict
    loaded_hook: bool  # the page sets data-loaded when the full-quality image is in
    before_visit: Callable[[], None] | None = None  # --cold: a new server process


def ours_target(server: DjangoServer, browser, cold: bool = False) -> Target:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/accounts/login/")
        page.fill("#id_username", server.username)
        page.fill("#id_password", server.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/")
        state = context.storage_state()
    finally:
        context.close()
    return Target(
        "ours",
        lambda study: f"{server.url}/studies/{study.study_uid}/view/",
        {"storage_state": state},
        loaded_hook=True,
        before_visit=(lambda: cold_restart(server, state)) if cold else None,
    )


def cold_restart(server: DjangoServer, state: dict) -> None:
    """A new server process with no preview kept on disk, which has served its study list
    (Django's own first-request work done) but opened no study."""
    import requests

    assert server.var_dir is not None
    server.restart()
    shutil.rmtree(server.var_dir / "previews", ignore_errors=True)
    cookies = {cookie["name"]: cookie["value"] for cookie in state["cookies"]}
    requests.get(f"{server.url}/", cookies=cookies, timeout=60).raise_for_status()


def orthanc_target(orthanc: OrthancPeer, series_ids: dict[str, str]) -> Target:
    token = base64.b64encode(":".join(orthanc.auth).encode()).decode()
    return Target(
        "Orthanc",
        lambda study: f"{orthanc.url}/web-viewer/app/viewer.html?series={series_ids[study.name]}",
        {"extra_http_headers": {"Authorization": f"Basic {token}"}},
        loaded_hook=False,
    )


# --- one visit --------------------------------------------------------------------------------


@dataclass
class Visit:
    first_pixels: float | None = None
    page: float | None = None
    full_quality: float | None = None
    socket_to_pixels: float | None = None
    socket_to_canvas: float | None = None
    scroll_rate: float | None = None
    capacity_rate: float | None = None  # frame-rate limit off: images presented per second
    capacity_frames: float | None = None  # ... and the page's frames presented per second
    drag_rate: float | None = None
    display_rate: float | None = None
    error: str = ""


@contextmanager
def opened(browser, target: Target, study: Study, throttle: bool) -> Iterator:
    if target.before_visit is not None:
        target.before_visit()
    context = browser.new_context(viewport=VIEWPORT, **target.context_options)
    try:
        context.add_init_script(PROBE_SCRIPT)
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        if throttle:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", FOUR_G)
        page.goto(target.url_of(study), wait_until="commit")
        yield page
    finally:
        context.close()


def wait_until_rest(page) -> float | None:
    """The time of the last new image once none came for REST_SECONDS."""
    while True:
        shot = snapshot(page)
        now = page.evaluate(NOW)
        last = shot.last_change() or shot.first_pixels
        if last is not None and now - last >= REST_SECONDS * 1000:
            return last
        if now > PAGE_TIMEOUT_MS:
            return None
        time.sleep(0.1)


def centre(page) -> tuple[float, float]:
    return VIEWPORT["width"] / 2, VIEWPORT["height"] / 2


def scroll(page, slices: int, seconds: float) -> tuple[float, float]:
    """One slice per animation frame through the stack and back; images drawn per second
    and frames per second of the page meanwhile."""
    x, y = centre(page)
    page.mouse.move(x, y)
    done = page.evaluate(SCROLL_SCRIPT, [x, y, slices, seconds * 1000])
    return rates(page, done["start"], done["end"])


def drag(page, seconds: float) -> tuple[float, float]:
    """Hold the left button and move in small steps (window/level in both viewers)."""
    x, y = centre(page)
    page.mouse.move(x, y)
    page.mouse.down()
    start = page.evaluate(NOW)
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        i += 1
        page.mouse.move(x + 120 * np.sin(i * 0.05), y + 80 * np.sin(i * 0.031))
    end = page.evaluate(NOW)
    page.mouse.up()
    return rates(page, start, end)


# Frames per second of the page's animation frames over ``ms`` milliseconds.
FRAME_RATE = """(ms) => new Promise((resolve) => {
  const times = [];
  const frame = (now) => {
    times.push(now);
    if (now - times[0] < ms) requestAnimationFrame(frame);
    else resolve((times.length - 1) * 1000 / (now - times[0]));
  };
  requestAnimationFrame(frame);
})"""


def refresh_rate(browser, seconds: float = 1.0) -> float | None:
    """The display's rate as a page sees it: animation frames per second of an empty page
    in the same browser (no page can draw more images per second than this)."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.set_content("<!doctype html><title>refresh</title>")
        return page.evaluate(FRAME_RATE, seconds * 1000)
    finally:
        context.close()


def traced_scroll(browser, page, slices: int, seconds: float) -> tuple[float, float]:
    """As scroll, in a browser without its frame-rate limiter (UNCAPPED_ARGS), under a trace:
    images presented per second and the page's frames presented per second
    (page_probe.presented_images)."""
    x, y = centre(page)
    page.mouse.move(x, y)
    browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
    try:
        page.evaluate(MARKING, True)
        time.sleep(0.1)  # a few marked frames before the first step
        done = page.evaluate(SCROLL_SCRIPT, [x, y, slices, seconds * 1000])
        time.sleep(0.2)  # the last frames' reporters
    finally:
        events = trace_events(browser.stop_tracing())
        page.evaluate(MARKING, False)
    shown = presented_images(events, done["start"], done["end"])
    elapsed = (done["end"] - done["start"]) / 1000
    return shown.images / elapsed, shown.frames / elapsed


def trace_events(raw: bytes) -> list[dict]:
    data = json.loads(raw)
    return data["traceEvents"] if isinstance(data, dict) else data


# A bare page redrawing a full-window canvas every animation frame (a new grey each frame).
CANVAS_PAGE = """<!doctype html><title>canvas</title>
<style>html, body { margin: 0; background: #000; overflow: hidden; }</style>
<canvas></canvas>
<script>
  const canvas = document.querySelector('canvas');
  canvas.width = innerWidth;
  canvas.height = innerHeight;
  const ctx = canvas.getContext('2d', { alpha: false });
  let n = 0;
  const frame = () => {
    n = (n + 1) % 200;
    ctx.fillStyle = `rgb(${n + 30}, ${n + 30}, ${n + 30})`;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
</script>"""


AFTER = "(ms) => new Promise((done) => setTimeout(() => done(performance.now()), ms))"


def canvas_capacity(browser, seconds: float = 1.0) -> float | None:
    """Canvas images per second a bare page gets presented in this browser: CANVAS_PAGE,
    counted as the viewers' scroll is (presented_images). With the frame-rate limiter off,
    an empty page is no such ceiling: with nothing changing, no frame is drawn, and its
    animation frames run at about 56 per second."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(PROBE_SCRIPT)
        page = context.new_page()
        page.set_content(CANVAS_PAGE)
        page.wait_for_timeout(200)
        browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
        try:
            page.evaluate(MARKING, True)
            start = page.evaluate(AFTER, 100)
            end = page.evaluate(AFTER, seconds * 1000)
            time.sleep(0.2)
        finally:
            events = trace_events(browser.stop_tracing())
        return presented_images(events, start, end).images / ((end - start) / 1000)
    finally:
        context.close()


def rates(page, start: float, end: float) -> tuple[float, float]:
    time.sleep(0.1)  # let the last frame's sample land
    shot = snapshot(page)
    seconds = (end - start) / 1000
    return shot.changes_between(start, end) / seconds, shot.frames_between(start, end) / seconds


def visit(
    browser,
    target: Target,
    study: Study,
    *,
    throttle: bool = False,
    interact: Sequence[str] = (),
    slices: int = 0,
    seconds: float = 2.0,
) -> Visit:
    result = Visit()
    from playwright.sync_api import Error as PlaywrightError

    try:
        with opened(browser, target, study, throttle) as page:
            page.wait_for_function(FIRST_PIXELS, polling=50)
            if target.loaded_hook:
                page.wait_for_function(LOADED, polling=50)
            last = wait_until_rest(page)
            shot = snapshot(page)
            result.first_pixels = shot.first_pixels
            result.page = page.evaluate(PAGE_RECEIVED)
            result.full_quality = last if target.loaded_hook else shot.first_pixels
            if shot.socket_open is not None and shot.first_pixels is not None:
                result.socket_to_pixels = shot.first_pixels - shot.socket_open
            if shot.socket_open is not None and shot.canvas_pixels is not None:
                result.socket_to_canvas = shot.canvas_pixels - shot.socket_open
            if "scroll" in interact:
                result.scroll_rate, result.display_rate = scroll(page, slices, seconds)
                wait_until_rest(page)
            if "capacity" in interact:
                result.capacity_rate, result.capacity_frames = traced_scroll(
                    browser, page, slices, seconds
                )
            if "drag" in interact:
                result.drag_rate, _ = drag(page, seconds)
    except PlaywrightError as exc:
        result.error = f"{target.name}: {str(exc).splitlines()[0]}"[:160]
    return result


# --- numbers ----------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    target: str
    higher_is_better: bool = False
    ours: list[float] = field(default_factory=list)
    orthanc: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def summary(values: Sequence[float], higher_is_better: bool) -> str:
    # For a rate the bad tail is the low one: p50 / p5.
    tail = percentile(values, 0.05 if higher_is_better else 0.95)
    middle = percentile(values, 0.5)
    if middle is None or tail is None:
        return "-"
    return f"{middle:.1f} / {tail:.1f}"


def table(rows: Sequence[Row]) -> str:
    header = ("viewer (p50 / p95; rates p50 / p5)", "ours", "Orthanc", "ours÷Orthanc", "target")
    lines = [header]
    for row in rows:
        a, b = percentile(row.ours, 0.5), percentile(row.orthanc, 0.5)
        ratio = f"{a / b:.2f}" if a and b else "-"
        lines.append(
            (
                row.name,
                summary(row.ours, row.higher_is_better),
                summary(row.orthanc, row.higher_is_better),
                ratio,
                row.target,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(w) for cell, w in zip(line[1:-1], widths[1:-1], strict=True)]
        cells.append(line[-1])
        out.append("  ".join(cells))
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    for row in rows:
        for note in dict.fromkeys(row.notes):
            out.append(f"note [{row.name}]: {note}")
    return "\n".join(out)


# --- servers ----------------------------------------------------------------------------------


def load_ours(server: DjangoServer, work: Path) -> None:
    assert server.var_dir is not None
    for name in ("ct", "large", "dx"):
        out = manage(server.var_dir, "import_dicom", str(work / name), timeout=600)
        if "rejected" in out.lower() and " 0 rejected" not in out.lower():
            raise ServerError(f"import_dicom {name}: {out.strip()[-300:]}")


def load_orthanc(orthanc: OrthancPeer, studies: dict[str, Study]) -> dict[str, str]:
    series = {}
    for study in studies.values():
        for path in study.files:
            series[study.name] = orthanc.upload(path.read_bytes())["ParentSeries"]
    return series


def record_visit(rows, side: str, key: str, value: float | None, error: str) -> None:
    if value is not None:
        getattr(rows[key], side).append(value)
    elif error:
        rows[key].notes.append(error)


def measure_round(
    browsers: Browsers, target: Target, studies: dict[str, Study], plan: Plan, rows, round_
):
    """One round of one viewer: a CT visit (with scrolling and dragging), a CT visit in the
    browser without frame-rate limit (scrolling, traced), a 4096×5120 visit (in the first
    rounds) and a throttled radiograph visit."""
    browser = browsers.capped
    side = "ours" if target.name == "ours" else "orthanc"

    def record(key: str, value: float | None, error: str) -> None:
        record_visit(rows, side, key, value, error)

    record("refresh", refresh_rate(browser), "")
    v = visit(
        browser,
        target,
        studies["ct"],
        interact=("scroll", "drag"),
        slices=plan.slices,
        seconds=plan.interact_seconds,
    )
    record("first", v.first_pixels, v.error)
    record("page", v.page, "")
    record("full", v.full_quality, v.error)
    record("scroll", v.scroll_rate, v.error)
    record("drag", v.drag_rate, v.error)
    record("display", v.display_rate, "")
    record("refresh_uncapped", refresh_rate(browsers.uncapped), "")
    record("canvas_uncapped", canvas_capacity(browsers.uncapped), "")
    v = visit(
        browsers.uncapped,
        target,
        studies["ct"],
        interact=("capacity",),
        slices=plan.slices,
        seconds=plan.interact_seconds,
    )
    record("scroll_uncapped", v.capacity_rate, v.error)
    record("frames_uncapped", v.capacity_frames, "")
    if round_ < plan.large_runs:
        v = visit(browser, target, studies["large"])
        record("large", v.first_pixels, v.error)
        record("large_full", v.full_quality, v.error)
    v = visit(browser, target, studies["dx"], throttle=True)
    record("dx", v.first_pixels, v.error)
    record("dx_page", v.page, "")
    record("dx_socket", v.socket_to_pixels, v.error if side == "ours" else "")
    record("dx_socket_canvas", v.socket_to_canvas, "")
    record("dx_full", v.full_quality, v.error)


def measure(browsers: Browsers, targets: Sequence[Target], studies: dict[str, Study], plan, rows):
    """Fill ``rows`` (Row by key): rounds of every viewer, the viewers taking turns (first in
    one round, last in the next), until ``plan.runs`` rounds or, after two, ``plan.deadline``.
    Taking turns matters on a shared machine: the load of the moment weighs on both sides
    alike instead of on whichever viewer ran while it peaked."""
    for target in targets:
        for study in studies.values():  # warm the server: decoders, caches, code paths
            visit(browsers.capped, target, study)
    for round_ in range(plan.runs):
        if round_ >= 2 and time.monotonic() > plan.deadline:
            rows["first"].notes.append(f"time budget reached after {round_} rounds")
            break
        for target in targets if round_ % 2 == 0 else list(reversed(targets)):
            measure_round(browsers, target, studies, plan, rows, round_)


@dataclass(frozen=True)
class Browsers:
    capped: object  # CHROMIUM_ARGS, as the browser tests run it: frames on a 60 Hz clock
    uncapped: object  # ... and UNCAPPED_ARGS


@dataclass
class Plan:
    runs: int
    slices: int
    large_runs: int
    interact_seconds: float
    deadline: float = 0.0


def new_rows(slices: int) -> dict[str, Row]:
    ct = f"CT {slices}×512²"
    return {
        "first": Row(f"{ct}: open → first pixels (ms)", "≤ 0.5× Orthanc"),
        "page": Row(f"{ct}: open → page received (ms)", "-"),
        "full": Row(f"{ct}: open → full quality (ms)", "-"),
        "scroll": Row(f"{ct}: stack scroll, images drawn/s", "≥ 60", True),
        "display": Row(f"{ct}: page frames/s while scrolling", "(most it could draw)", True),
        "refresh": Row("empty page frames/s, same browser (display rate)", "-", True),
        "scroll_uncapped": Row(
            f"{ct}: stack scroll, no frame-rate limit, images presented/s", "≥ 60", True
        ),
        "frames_uncapped": Row(
            f"{ct}: page frames presented/s meanwhile, no limit", "(most it could draw)", True
        ),
        "refresh_uncapped": Row("empty page frames/s, no limit (draws nothing)", "-", True),
        "canvas_uncapped": Row(
            "bare page, full-window canvas redrawn each frame, no limit: presented/s", "-", True
        ),
        "drag": Row(f"{ct}: window drag, updates shown/s", "-", True),
        "large": Row("4096×5120 16-bit: open → first pixels (ms)", "-"),
        "large_full": Row("4096×5120 16-bit: open → full quality (ms)", "-"),
        "dx": Row("3036² DX over 4G: open → first pixels (ms)", "-"),
        "dx_page": Row("3036² DX over 4G: open → page received (ms)", "-"),
        "dx_socket": Row("3036² DX over 4G: socket open → first pixels (ms)", "≤ 45 (ours)"),
        "dx_socket_canvas": Row("3036² DX over 4G: socket open → canvas lit (ms)", "-"),
        "dx_full": Row("3036² DX over 4G: open → full quality (ms)", "-"),
    }


# --- main -------------------------------------------------------------------------------------


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench viewer", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="visits per measurement")
    parser.add_argument("--slices", type=int, default=200, help="CT slices of 512²")
    parser.add_argument(
        "--budget",
        type=float,
        default=300,
        help="seconds of measured visits, both viewers (5 rounds took 3-4 minutes on the "
        "loaded 2-core machine; past the budget, rounds stop after the second)",
    )
    parser.add_argument("--no-orthanc", action="store_true")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="a new process of our server before each of its visits (see above)",
    )
    args = parser.parse_args(argv)
    if args.runs < 2 or args.slices < 10:
        parser.error("--runs must be at least 2 and --slices at least 10")
    if CHROMIUM is None:
        print("viewer bench skipped: needs the Debian chromium package")
        return 0
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("viewer bench skipped: playwright is not installed")
        return 0

    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    rows = new_rows(args.slices)
    load_before = load_after = float("nan")
    plan = Plan(args.runs, args.slices, max(2, args.runs // 2), interact_seconds=1.5)
    try:
        print(f"Generating a {args.slices}-slice CT, a 4096×5120 and a 3036² radiograph ...")
        studies = write_studies(work, args.slices)
        print(f"  generated in {time.perf_counter() - started:.0f} s")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            uncapped = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS + UNCAPPED_ARGS
            )
            try:
                with ExitStack() as servers:
                    targets = []
                    print("Ours: import_dicom ...")
                    try:
                        server = servers.enter_context(DjangoServer(work / "server"))
                        load_ours(server, work)
                        targets.append(ours_target(server, browser, cold=args.cold))
                    except ServerError as exc:
                        for row in rows.values():
                            row.notes.append(f"our server failed: {str(exc).splitlines()[0]}")
                    missing = "--no-orthanc" if args.no_orthanc else orthanc_missing()
                    if not missing and not WEBVIEWER_PLUGIN.exists():
                        missing = f"{WEBVIEWER_PLUGIN} not found (Debian package orthanc-webviewer)"
                    if missing:
                        for row in rows.values():
                            row.notes.append(f"Orthanc skipped: {missing}")
                    else:
                        print("Orthanc: REST upload ...")
                        try:
                            orthanc = servers.enter_context(
                                OrthancPeer(aet="BENCH_VIEWER", webviewer=True)
                            )
                            targets.append(orthanc_target(orthanc, load_orthanc(orthanc, studies)))
                        except OrthancError as exc:
                            for row in rows.values():
                                row.notes.append(f"Orthanc failed: {str(exc).splitlines()[0]}")
                    print(
                        f"  loaded at {time.perf_counter() - started:.0f} s; viewers in turns ..."
                    )
                    plan.deadline = time.monotonic() + args.budget
                    load_before = os.getloadavg()[0]
                    measure(Browsers(browser, uncapped), targets, studies, plan, rows)
                    load_after = os.getloadavg()[0]
                    print(f"  done at {time.perf_counter() - started:.0f} s")
            finally:
                browser.close()
                uncapped.close()
        print()
        print(
            f"Viewer in headless Chromium ({VIEWPORT['width']}×{VIEWPORT['height']}, no GPU), "
            f"loopback, {os.cpu_count()} CPUs, {args.runs} runs (fresh context each, "
            f"{'ours a cold process, Orthanc warm' if args.cold else 'warm server'}); "
            "times from navigation start; ratio: times < 1 and rates > 1 mean ours is faster; "
            f"load average {load_before:.1f} before the rounds, {load_after:.1f} after"
        )
        print(table(list(rows.values())))
        print(f"bench took {time.perf_counter() - started:.0f} s")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
