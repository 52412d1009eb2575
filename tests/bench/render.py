"""Rendering benchmark: our WADO-RS rendered/thumbnail against Orthanc, on the same files.

Both archives hold the same images: slices of the generated demo CT (512×512, 16-bit), a
few large 4096×5120 16-bit images (the 2048 phantom padded to 2048×2560 and enlarged, with
fresh full-resolution noise, so they are not flat blocks), and real sample files (JPEG 2000
CT, JPEG baseline ultrasound, MR with overlays, RGB ultrasound). Ours runs under uvicorn
(``python -m viewerproject.serve``) and is loaded through STOW-RS; Orthanc (Debian package)
through REST. Both run at once, and each row alternates its requests between ours, Orthanc REST and
Orthanc DICOMweb, so the load of a shared machine, which comes and goes, falls on all alike.

One client, one request at a time, loopback, keep-alive sessions, HTTP Basic on both. Each
row is a bounded number of requests; "cold" rows ask each image once (nothing of it decoded
yet in that server), "warm" rows ask one already-shown image again with a new window.
Orthanc is measured through its REST API (``/instances/{id}/frames/0/rendered``, which
takes window-center, window-width, width, height, quality: the URL issue 3 names) and its
DICOMweb plugin (``rendered`` with window and viewport; the plugin has no ``thumbnail``, so
its thumbnail row is ``rendered?viewport=128,128``). Before the clock starts, every server
and API is asked once for a spare slice, the images of the warm rows, and one file of each
codec.

Our viewer does not change the window over HTTP: its window drag sends a ``view`` on its
websocket (studies/streaming/PROTOCOL.md) with ``"preview": false`` (the browser re-maps the
picture it shows meanwhile), and the server answers with the tiles, then (after 300 ms idle)
a lossless PNG; a view without that field gets a preview first. So the CT window change is
also asked that way (tests/bench/ws_view.py: a logged-in session, ``open_study``, then per
request a ``view`` of the whole frame at scale 1, quality interactive, a new window and a
fresh request id), both kinds alternating with each other and with Orthanc's REST and
DICOMweb calls for the same windows, and timed to the first pixels (the preview) and to the
last full-resolution JPEG tile; each view's ``done`` is awaited, untimed, before the next
request, and pixels are matched to their request id. A ``ping`` on the same socket after
each is the floor of that path. Issue 3's CT target is judged on the full-resolution row of
the drag's view (preview:false), the viewer's own path, against Orthanc's whole-frame JPEG.

Below the table: issue 3's targets (a window change at most 0.5× Orthanc's REST
latency, on the CT frame and on the large image; the large image at most 2× our CT frame),
and the HTTP floor: the CT window-change requests asked of a uvicorn app that answers a fixed
JPEG with no work (tests/bench/null_server.py), alternating with Orthanc's, so the part of
every latency that no server can save is in the table too; then frames per second: two
concurrent clients re-rendering different CT frames, each request a new window, for a
bounded time, against each server held to two cores; and the same work done in-process by
``studies.imaging`` in two threads, as a reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import requests
from pydicom import dcmread
from pydicom.uid import generate_uid

from studies.demo.phantom import generate_ct_series, part10_bytes, write_ct_series
from studies.demo.samples import sample_path
from studies.imaging.render import Renderer
from tests.bench.django_server import DjangoServer, ServerError
from tests.bench.ingest import Measurement, batches, multipart_related, skipped
from tests.bench.null_server import NullServer
from tests.bench.ws_view import SocketError, ViewerSocket
from tests.peers.orthanc import OrthancError, OrthancPeer, orthanc_missing

SAMPLES = (
    "693_J2KR.dcm",
    "examples_ybr_color.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "US1_UNCI.dcm",
)
# Rendered once before the clock starts, so each decoder is loaded (as Orthanc's are at
# start-up) and the samples row measures decoding, not Python importing a codec.
CODEC_WARM_UP = ("JPEG2000.dcm", "MR_small_jpeg_ls_lossless.dcm", "SC_rgb_jpeg_dcmtk.dcm")
LARGE_COLUMNS, LARGE_ROWS = 4096, 5120  # issue 3: "a 4096×5120 16-bit image"
LARGE = f"{LARGE_COLUMNS}×{LARGE_ROWS}"
VIEWPORT = 1024
THUMBNAIL = 128
QUALITY = 90
CORES = 2  # issue 3: "frames per second rendered on 2 cores"
ORTHANC_TARGET = 0.5  # our window change ≤ 0.5× Orthanc's latency
LARGE_TARGET = 2.0  # the large image ≤ 2× our CT frame


@dataclass(frozen=True)
class Image:
    study: str
    series: str
    sop: str
    path: Path

    @property
    def wado(self) -> str:
        return f"/studies/{self.study}/series/{self.series}/instances/{self.sop}"


@dataclass(frozen=True)
class Request:
    image: Image
    window: tuple[float, float] | None = None
    size: int | None = None  # fit in size×size
    kind: str = "rendered"  # or "thumbnail", or "metadata" (the stack without pixels)

    @property
    def thumbnail(self) -> bool:
        return self.kind == "thumbnail"


# --- the images -------------------------------------------------------------------------------


def image_of(path: Path) -> Image:
    ds = dcmread(path, stop_before_pixels=True)
    return Image(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, path)


def write_large_images(directory: Path, count: int) -> list[Path]:
    """``count`` 4096×5120 (columns × rows) 16-bit CT-like images in one new series."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(20240611)
    series_uid = generate_uid(entropy_srcs=["bench-render-large"])
    paths = []
    for index, ds in enumerate(generate_ct_series(slices=count, size=LARGE_COLUMNS // 2)):
        # Taller than wide (like a mammogram): the square phantom gets air rows above and below.
        extra = (LARGE_ROWS - LARGE_COLUMNS) // 4
        half = np.pad(ds.pixel_array.astype(np.int32), ((extra, extra), (0, 0)), mode="edge")
        full = np.repeat(np.repeat(half, 2, axis=0), 2, axis=1)
        full += rng.normal(0, 8, full.shape).astype(np.int32)
        ds.PixelData = np.clip(full, 0, 4095).astype(np.uint16).tobytes()
        ds.Rows, ds.Columns = LARGE_ROWS, LARGE_COLUMNS
        ds.PixelSpacing = [float(v) / 2 for v in ds.PixelSpacing]
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = 90
        ds.SeriesDescription = f"Large {LARGE} (benchmark)"
        ds.SOPInstanceUID = generate_uid(entropy_srcs=["bench-render-large", str(index)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = directory / f"large-{index:02d}.dcm"
        path.write_bytes(part10_bytes(ds))
        paths.append(path)
    return paths


# --- the three ways to ask --------------------------------------------------------------------


def ours(request: Request) -> tuple[str, dict[str, str]]:
    path = f"/dicomweb{request.image.wado}/{request.kind}"
    params = {"quality": str(QUALITY)} if request.kind == "rendered" else {}
    if request.window:
        params["window"] = f"{request.window[0]:g},{request.window[1]:g},linear"
    if request.size:
        params["viewport"] = f"{request.size},{request.size}"
    return path, params


def orthanc_dicomweb(request: Request) -> tuple[str, dict[str, str]]:
    if request.kind == "metadata":
        return f"/dicom-web{request.image.wado}/metadata", {}
    # No thumbnail resource in the plugin: a rendered image fitted to the same size.
    path = f"/dicom-web{request.image.wado}/rendered"
    params = {"quality": str(QUALITY)}
    if request.window:
        params["window"] = f"{request.window[0]:g},{request.window[1]:g},linear"
    size = THUMBNAIL if request.thumbnail else request.size
    if size:
        params["viewport"] = f"{size},{size}"
    return path, params


def orthanc_rest(ids: dict[str, str]) -> Build:
    def build(request: Request) -> tuple[str, dict[str, str]]:
        if request.kind == "metadata":
            return f"/instances/{ids[request.image.sop]}/tags", {}
        params = {"quality": str(QUALITY)}
        if request.window:
            params["window-center"] = f"{request.window[0]:g}"
            params["window-width"] = f"{request.window[1]:g}"
        size = THUMBNAIL if request.thumbnail else request.size
        if size:
            params["width"] = params["height"] = str(size)
        # Frame 0 explicitly (Orthanc counts frames from 0): the URL issue 3 compares against.
        return f"/instances/{ids[request.image.sop]}/frames/0/rendered", params

    return build


Build = Callable[[Request], tuple[str, dict[str, str]]]


@dataclass(frozen=True)
class Api:
    """One way to ask one server: a keep-alive session, its base URL, how URLs are built,
    and the server's process id (for the CPU it spends on each answer)."""

    session: requests.Session
    base: str
    build: Build
    pid: int | None = None


@dataclass
class Timed(Measurement):
    server_cpu_seconds: float = 0.0  # the server process's CPU time over these requests

    def cpu_ms_per_request(self) -> float | None:
        return 1000 * self.server_cpu_seconds / self.stored if self.stored else None


def process_cpu_seconds(pid: int | None) -> float:
    """User + system CPU of every thread of a process (/proc; 0 elsewhere or when gone).
    Less at the mercy of a shared machine's load than wall time: only the CPU the server
    itself spent counts, not the time it waited for a core."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ask(api: Api, request: Request, result: Measurement) -> None:
    """One request, timed and counted into ``result``."""
    cpu_before = process_cpu_seconds(api.pid)
    path, params = api.build(request)
    target = f"{api.base}{path}?{urlencode(params, safe=',')}"
    wanted = "application/" if request.kind == "metadata" else "image/"
    accept = "application/dicom+json" if request.kind == "metadata" else "image/jpeg"
    before = time.perf_counter()
    try:
        answer = api.session.get(target, headers={"Accept": accept}, timeout=120)
        content_type = answer.headers.get("Content-Type", "")
        ok = answer.status_code == 200 and content_type.startswith(wanted)
        note = "" if ok else f"HTTP {answer.status_code}: {answer.text[:80].strip()}"
    except requests.RequestException as exc:
        ok, note = False, f"error: {exc}"[:120]
    elapsed = time.perf_counter() - before
    result.instances += 1
    if ok:
        result.stored += 1
        result.request_seconds.append(elapsed)
        if isinstance(result, Timed):
            result.server_cpu_seconds += process_cpu_seconds(api.pid) - cpu_before
    elif not result.note:
        result.note = note


def _finish(result: Measurement) -> Measurement:
    result.seconds = sum(result.request_seconds)
    if result.stored < result.instances:
        result.note = (
            f"{result.instances - result.stored} of {result.instances} failed; {result.note}"
        )
    return result


def measure(api: Api, requests_: Sequence[Request]) -> Measurement:
    result = Measurement()
    for request in requests_:
        ask(api, request, result)
    return _finish(result)


def side_by_side(asks: Sequence[tuple[Api | None, list[Request]]]) -> list[Measurement]:
    """Request i of every API before request i+1 of any: on a shared machine whose load
    comes and goes, every server meets the same load (an API that is None is skipped)."""
    results = [Timed() for _ in asks]
    for index in range(max(len(requests_) for _, requests_ in asks)):
        for (api, requests_), result in zip(asks, results, strict=True):
            if api is not None and index < len(requests_):
                ask(api, requests_[index], result)
    return [_finish(result) for result in results]


# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    rows: list[tuple[str, list[Request], list[Request]]]  # name, ours and REST, DICOMweb
    warm_up: list[Request]  # asked once of every server and API before the clock starts
    ct_warm: int = 2  # index of the CT window-change row, for the targets
    large_warm: int = 5  # index of the large-image window-change row
    fps_clients: tuple[list[Image], ...] = ()  # the frames of each concurrent client


def plan(
    ct: list[Image], large: list[Image], samples: list[Image], codecs: list[Image], repeat: int
) -> Plan:
    """Disjoint slices for Orthanc's two APIs (same process, same caches); ours takes the
    first set, so every cold row is cold for every server."""

    def windows(count: int, width: float) -> list[tuple[float, float]]:
        return [(-100 + 20 * i, width) for i in range(count)]

    cold = ct[:repeat], ct[repeat : 2 * repeat]
    thumbs = ct[2 * repeat : 3 * repeat], ct[3 * repeat : 4 * repeat]
    spare, warm_ct, warm_large = ct[-1], ct[-2], large[-1]
    large_cold = large[:-1]
    rows = [
        (
            f"reference: one instance's metadata, no pixels, n={repeat}",
            [Request(warm_ct, kind="metadata")] * repeat,
            [Request(warm_ct, kind="metadata")] * repeat,
        ),
        (
            f"CT 512² first render, file window (cold), n={repeat}",
            [Request(i) for i in cold[0]],
            [Request(i) for i in cold[1]],
        ),
        (
            f"CT 512² re-render with a new window (warm), n={repeat}",
            [Request(warm_ct, w) for w in windows(repeat, 400)],
            [Request(warm_ct, w) for w in windows(repeat, 400)],
        ),
        (
            f"thumbnail {THUMBNAIL}² of a CT slice (cold), n={repeat}",
            [Request(i, kind="thumbnail") for i in thumbs[0]],
            [Request(i, kind="thumbnail") for i in thumbs[1]],
        ),
        (
            f"{LARGE} image into a {VIEWPORT}² viewport (cold), n={len(large_cold)}",
            [Request(i, size=VIEWPORT) for i in large_cold],
            [Request(i, size=VIEWPORT) for i in large_cold],
        ),
        (
            f"{LARGE} into {VIEWPORT}², new window (warm), n={repeat}",
            [Request(warm_large, w, VIEWPORT) for w in windows(repeat, 1500)],
            [Request(warm_large, w, VIEWPORT) for w in windows(repeat, 1500)],
        ),
        (
            f"real samples, first render (J2K CT, JPEG US, MR, RGB US), n={len(samples)}",
            [Request(i) for i in samples],
            [Request(i) for i in samples],
        ),
    ]
    warm_up = [
        Request(spare),
        Request(spare, kind="thumbnail"),
        Request(spare, kind="metadata"),
        Request(warm_ct),
        Request(warm_large, size=VIEWPORT),
        *(Request(i) for i in codecs),
    ]
    # Each client pages through its own CT frames (shown once already), a new window each time.
    return Plan(rows, warm_up, ct_warm=2, large_warm=5, fps_clients=(cold[0], thumbs[0]))


def warm_up(api: Api, plan_: Plan) -> None:
    measure(api, plan_.warm_up)  # failures show up in the rows that matter


# --- frames per second ------------------------------------------------------------------------


def fps_window(step: int) -> tuple[float, float]:
    """A different window for every request of a run (pairs repeat after 3000 steps)."""
    return -200 + (13 * step) % 600, 300 + (7 * step) % 500


def hold_to_cores(pid: int) -> str:
    """Restrict a server (all its threads and child processes) to ``CORES`` CPUs."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) <= CORES:
        return f"this machine has {len(allowed)} CPUs, shared with the clients"
    cores = set(allowed[:CORES])
    pending = [pid]
    while pending:
        process = pending.pop()
        for task in Path(f"/proc/{process}/task").glob("*"):
            try:
                os.sched_setaffinity(int(task.name), cores)
                pending += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass  # a thread that ended meanwhile
    return f"server held to CPUs {sorted(cores)}"


def concurrent_rate(
    clients: Sequence[Sequence[Image]], seconds: float, render_one: Callable[[Image, int], bool]
) -> Measurement:
    """One thread per client, each rendering its frames in turn, until ``seconds`` pass."""
    result = Measurement()
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(frames: Sequence[Image], first_step: int) -> None:
        step = first_step
        while time.perf_counter() < deadline:
            before = time.perf_counter()
            try:
                ok = render_one(frames[step % len(frames)], step)
            except Exception as exc:  # noqa: BLE001 - reported in the row, not raised
                ok, result.note = False, f"error: {exc}"[:120]
            elapsed = time.perf_counter() - before
            step += 1
            with lock:
                result.instances += 1
                if ok:
                    result.stored += 1
                    result.request_seconds.append(elapsed)

    threads = [
        threading.Thread(target=client, args=(frames, 1000 * index))
        for index, frames in enumerate(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    if result.stored < result.instances and not result.note:
        result.note = f"{result.instances - result.stored} of {result.instances} failed"
    return result


def http_rate(
    base: str,
    auth: tuple[str, str],
    build: Build,
    plan_: Plan,
    seconds: float,
) -> Measurement:
    """Renders per second by concurrent HTTP clients, each on its own keep-alive session."""
    sessions: dict[int, requests.Session] = {}

    def render_one(image: Image, step: int) -> bool:
        session = sessions.setdefault(threading.get_ident(), requests.Session())
        session.auth = auth
        path, params = build(Request(image, fps_window(step)))
        answer = session.get(
            f"{base}{path}?{urlencode(params, safe=',')}",
            headers={"Accept": "image/jpeg"},
            timeout=120,
        )
        return answer.status_code == 200 and answer.headers.get("Content-Type", "").startswith(
            "image/jpeg"
        )

    try:
        return concurrent_rate(plan_.fps_clients, seconds, render_one)
    finally:
        for session in sessions.values():
            session.close()


def in_process_rate(plan_: Plan, seconds: float) -> Measurement:
    """The same renders by ``studies.imaging`` in this process, one thread per client."""
    renderer = Renderer()
    for frames in plan_.fps_clients:
        for image in frames:
            renderer.render(image.path, 0)  # decoded once, like the servers' frames

    def render_one(image: Image, step: int) -> bool:
        return bool(renderer.render(image.path, 0, window=fps_window(step), quality=QUALITY))

    # The client threads inherit this thread's CPUs: hold them to as many cores as a server.
    everything = os.sched_getaffinity(0)
    os.sched_setaffinity(0, sorted(everything)[:CORES])
    try:
        result = concurrent_rate(plan_.fps_clients, seconds, render_one)
    finally:
        os.sched_setaffinity(0, everything)
    return result


# --- the servers ------------------------------------------------------------------------------


def start_ours(stack: ExitStack, work: Path, files: list[Path]) -> DjangoServer:
    server = stack.enter_context(DjangoServer(work / "server"))
    session = stack.enter_context(requests.Session())
    session.auth = server.auth
    for group in batches([p.read_bytes() for p in files], 10):
        body, content_type = multipart_related(group)
        answer = session.post(
            server.url + "/dicomweb/studies",
            data=body,
            headers={"Content-Type": content_type},
            timeout=300,
        )
        if answer.status_code != 200:
            raise ServerError(f"STOW-RS: HTTP {answer.status_code}: {answer.text[:200]}")
    return server


def start_orthanc(stack: ExitStack, files: list[Path]) -> tuple[OrthancPeer, dict[str, str]]:
    orthanc = stack.enter_context(OrthancPeer(aet="BENCH_RENDER"))
    ids = {}
    for path in files:
        ids[image_of(path).sop] = orthanc.upload(path.read_bytes())["ID"]
    return orthanc, ids


def api(stack: ExitStack, base: str, auth: tuple[str, str], build: Build, pid: int | None) -> Api:
    session = stack.enter_context(requests.Session())
    session.auth = auth
    return Api(session, base, build, pid)


def http_floor(
    stack: ExitStack, work: Path, our_api: Api, rest: Api, window_changes: list[Request]
) -> list[Measurement]:
    """The CT window-change requests asked of a server that does no work (it answers our
    JPEG of that frame, fixed: tests/bench/null_server.py), alternating with Orthanc's: the
    part of a request's latency that is the client, loopback and uvicorn, the same for all.
    Answers the floor's measurement and Orthanc's of this run."""
    path, params = our_api.build(window_changes[0])
    answer = our_api.session.get(
        f"{our_api.base}{path}?{urlencode(params, safe=',')}",
        headers={"Accept": "image/jpeg"},
        timeout=120,
    )
    body_file = work / "floor.jpg"
    body_file.write_bytes(answer.content)
    floor = stack.enter_context(NullServer(body_file))
    floor_api = api(stack, floor.url, ("", ""), lambda request: ("/", {}), floor.process.pid)
    measure(floor_api, window_changes[:2])  # connect before the clock starts
    return side_by_side([(floor_api, window_changes), (rest, window_changes)])


SOCKET_WIDTH = 410  # not the HTTP row's windows: nothing rendered for them is reused


def socket_window_changes(
    server: DjangoServer, rest: Api | None, dicomweb: Api | None, image: Image, repeat: int
) -> list[Measurement]:
    """The CT window change as our viewer makes it: a ``view`` over its websocket
    (tests/bench/ws_view.py), alternating request by request with Orthanc's REST and
    DICOMweb rendered calls for the same windows; and, after each, a ``ping`` on the
    socket (the floor of this path: a round trip that does no work).

    Each window is asked twice on the socket, alternating which goes first: a view with
    ``"preview": false``, as the viewer's window drag sends it (it re-maps the picture it
    shows meanwhile), and a view without the field (the old path: a preview, then the
    tiles), each with a window of its own so neither reuses the other's work. Answers ours
    to the first pixels (preview, old path), ours to the full-resolution tiles (old path),
    ours to the full-resolution tiles without preview (the drag), Orthanc REST, Orthanc
    DICOMweb, and the pings."""
    windows = [(-100 + 20 * i, SOCKET_WIDTH) for i in range(repeat)]
    preview, full, drag, pings = Timed(), Timed(), Timed(), Timed()
    theirs = [Timed(), Timed()]
    pid = server.process.pid if server.process is not None else None
    ds = dcmread(image.path, stop_before_pixels=True)

    def change(window: tuple[float, float], wants_preview: bool) -> None:
        cpu_before = process_cpu_seconds(pid)
        answer = socket.window_change(image.sop, ds.Rows, ds.Columns, window, preview=wants_preview)
        cpu = process_cpu_seconds(pid) - cpu_before
        timed = ((preview, answer.preview), (full, answer.full)) if wants_preview else ()
        for result, seconds in timed or ((drag, answer.full),):
            result.instances += 1
            result.stored += 1
            result.request_seconds.append(seconds)
            result.server_cpu_seconds += cpu

    try:
        socket = ViewerSocket(server.url, *server.auth)
        with socket:
            socket.open_study(image.study)
            for warm in ((40, 350), (50, 360)):  # the socket's first views, untimed
                socket.window_change(image.sop, ds.Rows, ds.Columns, warm)
                socket.window_change(image.sop, ds.Rows, ds.Columns, warm, preview=False)
            for index, window in enumerate(windows):
                other = (window[0] + 10, window[1])  # the old path's own window
                if index % 2:
                    change(window, False)
                    change(other, True)
                else:
                    change(other, True)
                    change(window, False)
                for each, result in zip((rest, dicomweb), theirs, strict=True):
                    if each is not None:
                        ask(each, Request(image, window), result)
                cpu_before = process_cpu_seconds(pid)
                pings.request_seconds.append(socket.ping())
                pings.server_cpu_seconds += process_cpu_seconds(pid) - cpu_before
                pings.instances += 1
                pings.stored += 1
    except (SocketError, OSError, ServerError) as exc:
        note = f"socket: {exc}"[:120]
        for result in (preview, full, drag, pings):
            result.note = result.note or note
    return [_finish(m) for m in (preview, full, drag, *theirs, pings)]


def socket_row_names(plan_: Plan) -> list[str]:
    repeat = len(plan_.rows[plan_.ct_warm][1])
    return [
        f"CT 512² new window, our websocket view: first pixels (preview), n={repeat}",
        f"CT 512² new window, our websocket view with preview: full-res tiles, n={repeat}",
        f"CT 512² window drag, websocket view preview:false: full-res [TARGET], n={repeat}",
        f"reference: websocket floor, ping → pong on that socket, n={repeat}",
    ]


# The rows socket_rows appends after the plan's rows: preview, full (old), drag, floor.
SOCKET_ROWS = 4
SOCKET_TARGET = 2  # the drag's full-resolution row, among them


def socket_rows(
    server: DjangoServer | None,
    rest: Api | None,
    dicomweb: Api | None,
    plan_: Plan,
    our_note: str,
    their_note: str,
) -> list[list[Measurement]]:
    """The websocket rows (appended after the plan's rows), each beside the same
    Orthanc requests: its REST and DICOMweb answers are complete JPEGs at full resolution."""
    if server is None:
        return [[skipped(our_note), skipped(their_note), skipped(their_note)]] * SOCKET_ROWS
    image = plan_.rows[plan_.ct_warm][1][0].image
    repeat = len(plan_.rows[plan_.ct_warm][1])
    preview, full, drag, by_rest, by_dicomweb, pings = socket_window_changes(
        server, rest, dicomweb, image, repeat
    )
    if their_note:
        by_rest = by_dicomweb = skipped(their_note)
    return [
        [preview, by_rest, by_dicomweb],
        [full, by_rest, by_dicomweb],
        [drag, by_rest, by_dicomweb],
        [pings, by_rest, by_dicomweb],
    ]


def run(
    work: Path, files: list[Path], plan_: Plan, fps_seconds: float, with_orthanc: bool
) -> tuple[list[list[Measurement]], list[Measurement], list[Measurement]]:
    """Both servers up at once; each row's requests alternate between ours, Orthanc REST and
    Orthanc DICOMweb; then the HTTP floor beside Orthanc's window change; then the
    frames-per-second runs, one server at a time. Answers the rows (ours, REST, DICOMweb per
    row), the two rates and the floor; a server that cannot start gets its columns marked
    with the reason."""
    with ExitStack() as stack:
        our_api = rest = dicomweb = None
        our_note = their_note = ""
        try:
            server = start_ours(stack, work, files)
            assert server.process is not None
            our_api = api(stack, server.url, server.auth, ours, server.process.pid)
        except (ServerError, requests.RequestException) as exc:
            our_note = f"our server failed: {str(exc).splitlines()[0]}"
        their_note = orthanc_missing() if with_orthanc else "--no-orthanc"
        if not their_note:
            try:
                orthanc, ids = start_orthanc(stack, files)
                assert orthanc.process is not None
                pid = orthanc.process.pid
                rest = api(stack, orthanc.url, orthanc.auth, orthanc_rest(ids), pid)
                dicomweb = api(stack, orthanc.url, orthanc.auth, orthanc_dicomweb, pid)
            except (OrthancError, requests.RequestException) as exc:
                their_note = f"Orthanc failed: {str(exc).splitlines()[0]}"
        for each in (our_api, rest, dicomweb):
            if each is not None:
                warm_up(each, plan_)
        table_rows = [
            side_by_side([(our_api, mine), (rest, mine), (dicomweb, theirs)])
            for _, mine, theirs in plan_.rows
        ]
        for row in table_rows:
            for column, note in ((0, our_note), (1, their_note), (2, their_note)):
                if note:
                    row[column] = skipped(note)
        table_rows += socket_rows(
            server if our_api else None, rest, dicomweb, plan_, our_note, their_note
        )
        floor = [skipped(our_note or their_note)] * 2
        if our_api is not None and rest is not None:
            floor = http_floor(stack, work, our_api, rest, plan_.rows[plan_.ct_warm][1])
        our_rate = skipped(our_note)
        if our_api is not None:
            assert server.process is not None
            held = hold_to_cores(server.process.pid)
            our_rate = http_rate(server.url, server.auth, ours, plan_, fps_seconds)
            our_rate.note = our_rate.note or held
        their_rate = skipped(their_note)
        if rest is not None:
            assert orthanc.process is not None
            held = hold_to_cores(orthanc.process.pid)
            their_rate = http_rate(orthanc.url, orthanc.auth, rest.build, plan_, fps_seconds)
            their_rate.note = their_rate.note or held
    return table_rows, [our_rate, their_rate], floor


# --- report -----------------------------------------------------------------------------------


def _latency(m: Measurement) -> str:
    p50, p95 = m.percentile_ms(0.5), m.percentile_ms(0.95)
    return f"{p50:.1f} / {p95:.1f}" if p50 is not None and p95 is not None else "-"


def _ratio(ours_: Measurement, theirs: Measurement) -> str:
    a, b = ours_.percentile_ms(0.5), theirs.percentile_ms(0.5)
    return f"{a / b:.2f}" if a and b else "-"


def table(
    names: Sequence[str],
    ours_: Sequence[Measurement],
    rest: Sequence[Measurement],
    dicomweb: Sequence[Measurement],
) -> str:
    header = (
        "rendering (p50 / p95 ms)",
        "ours",
        "Orthanc REST",
        "Orthanc DICOMweb",
        "ours÷REST",
        "ours÷DICOMweb",
    )
    lines = [header]
    notes: dict[tuple[str, str], list[str]] = {}
    for name, mine, by_rest, by_dicomweb in zip(names, ours_, rest, dicomweb, strict=True):
        lines.append(
            (
                name,
                _latency(mine),
                _latency(by_rest),
                _latency(by_dicomweb),
                _ratio(mine, by_rest),
                _ratio(mine, by_dicomweb),
            )
        )
        for who, m in (
            ("ours", mine),
            ("Orthanc REST", by_rest),
            ("Orthanc DICOMweb", by_dicomweb),
        ):
            if m.note:
                notes.setdefault((who, " ".join(m.note.split())[:160]), []).append(name)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    for (who, note), rows in notes.items():
        where = rows[0] if len(rows) == 1 else f"{len(rows)} rows"
        out.append(f"note [{who}, {where}]: {note}")
    return "\n".join(out)


def cpu_table(
    names: Sequence[str],
    ours_: Sequence[Measurement],
    rest: Sequence[Measurement],
    dicomweb: Sequence[Measurement],
) -> str:
    """Server CPU per answered request (ms), the same rows: /proc counts in 10 ms ticks,
    so a row of 15 requests is an estimate, but one that the machine's load hardly moves."""

    def cell(m: Measurement) -> str:
        value = m.cpu_ms_per_request() if isinstance(m, Timed) else None
        return f"{value:.1f}" if value is not None else "-"

    def ratio(a: Measurement, b: Measurement) -> str:
        x = a.cpu_ms_per_request() if isinstance(a, Timed) else None
        y = b.cpu_ms_per_request() if isinstance(b, Timed) else None
        return f"{x / y:.2f}" if x and y else "-"

    header = (
        "server CPU per request (ms)",
        "ours",
        "Orthanc REST",
        "Orthanc DICOMweb",
        "ours÷REST",
    )
    lines = [header] + [
        (name, cell(mine), cell(by_rest), cell(by_dicomweb), ratio(mine, by_rest))
        for name, mine, by_rest, by_dicomweb in zip(names, ours_, rest, dicomweb, strict=True)
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} (target ≤ {target:g}: {'met' if value <= target else 'NOT met'})"


def _quotient(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def targets(plan_: Plan, ours_: Sequence[Measurement], rest: Sequence[Measurement]) -> str:
    """Issue 3's targets, on p50 latencies. The CT window change is judged on the websocket
    row: our viewer changes the window with a ``view`` on its socket, never over HTTP, so
    that is "our render" as a clinician gets it; the full-resolution tiles, because
    Orthanc's answer is the whole frame at full resolution too."""
    ct, large = plan_.ct_warm, plan_.large_warm
    socket_full = len(plan_.rows) + SOCKET_TARGET
    p50 = [m.percentile_ms(0.5) for m in ours_]
    out = [
        "issue 3 targets (p50):",
        "  CT 512² window change, judged on the row marked [TARGET]: the viewer's own path (a",
        '  `view` on its websocket, whole frame, scale 1, interactive, `"preview": false` as',
        "  its window drag sends it), timed to its last full-resolution JPEG tile, against",
        "  Orthanc's frames/0/rendered JPEG of the frame:",
    ]
    value = _quotient(p50[socket_full], rest[socket_full].percentile_ms(0.5))
    out.append(
        "  CT 512² window change, ours (websocket) ÷ Orthanc REST: "
        + _verdict(value, ORTHANC_TARGET)
    )
    value = _quotient(p50[socket_full - 1], rest[socket_full].percentile_ms(0.5))
    out.append(
        f"  (the same view with a preview first, alternating with it: {value:.2f})"
        if value
        else "  (the same view with a preview first: -)"
    )
    value = _quotient(p50[socket_full + 1], rest[socket_full].percentile_ms(0.5))
    out.append(
        f"  (its floor: a ping on the same socket ÷ Orthanc REST: {value:.2f})"
        if value
        else "  (its floor: -)"
    )
    value = _quotient(p50[ct], rest[ct].percentile_ms(0.5))
    out.append(
        f"  (for reference, not the target's path) over HTTP WADO-RS rendered: {value:.2f}"
        if value
        else "  (for reference) over HTTP WADO-RS rendered: -"
    )
    for label, index in ((f"{LARGE} window change", large),):
        value = _quotient(p50[index], rest[index].percentile_ms(0.5))
        out.append(
            f"  {label}, ours ÷ Orthanc frames/0/rendered: {_verdict(value, ORTHANC_TARGET)}"
        )
    value = _quotient(p50[large], p50[ct])
    out.append(f"  {LARGE} into {VIEWPORT}² ÷ CT 512², ours: {_verdict(value, LARGE_TARGET)}")
    return "\n".join(out)


def floor_line(floor: Measurement, theirs: Measurement) -> str:
    """The floor's p50 beside Orthanc's CT window change, asked alternately in one run."""
    if floor.note or theirs.note:
        return f"  HTTP floor: - [{' '.join((floor.note or theirs.note).split())[:120]}]"
    value = _quotient(floor.percentile_ms(0.5), theirs.percentile_ms(0.5))
    return (
        f"  HTTP floor, a uvicorn app answering the same JPEG with no work, alternating with"
        f" Orthanc's CT window change: p50 / p95 {_latency(floor)} vs {_latency(theirs)} ms"
        f" = {value:.2f}× (a ratio target below this cannot be met by any server, measured"
        " this way)"
        if value
        else "  HTTP floor: -"
    )


def rates(rows: Sequence[tuple[str, Measurement]], clients: int, seconds: float) -> str:
    out = [
        f"frames per second: {clients} concurrent clients, a new window on each request, "
        f"512² CT frames to JPEG, {seconds:g} s, on {CORES} cores"
    ]
    for name, m in rows:
        rate = f"{m.rate:.1f} fps" if m.rate else "-"
        latency = _latency(m)
        note = f" [{' '.join(m.note.split())[:120]}]" if m.note else ""
        out.append(f"  {name}: {rate}, {m.stored} renders, p50 / p95 {latency} ms{note}")
    return "\n".join(out)


# --- main -------------------------------------------------------------------------------------


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench render", description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="requests per row")
    parser.add_argument("--large", type=int, default=5, help=f"{LARGE} images (one kept warm)")
    parser.add_argument("--fps-seconds", type=float, default=5.0, help="frames-per-second run")
    parser.add_argument("--no-orthanc", action="store_true")
    args = parser.parse_args(argv)
    if args.repeat < 2 or args.large < 2:
        parser.error("--repeat and --large must be at least 2")
    if args.fps_seconds <= 0:
        parser.error("--fps-seconds must be positive")

    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-render-"))
    try:
        slices = 4 * args.repeat + 2
        print(f"Generating {slices} CT slices of 512² and {args.large} images of {LARGE} ...")
        ct_files = write_ct_series(work / "ct", slices=slices, size=512)
        large_files = write_large_images(work / "large", args.large)
        sample_files, codec_files = [], []
        for names, found in ((SAMPLES, sample_files), (CODEC_WARM_UP, codec_files)):
            for name in names:
                try:
                    found.append(sample_path(name))
                except FileNotFoundError:
                    print(f"  sample {name} is not installed; skipped")
        files = [*ct_files, *large_files, *sample_files, *codec_files]
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        ct, large = [image_of(p) for p in ct_files], [image_of(p) for p in large_files]
        samples = [image_of(p) for p in sample_files]
        plan_ = plan(ct, large, samples, [image_of(p) for p in codec_files], args.repeat)

        print(
            f"Ours by STOW-RS and Orthanc by REST: {len(files)} files ({megabytes:.0f} MB); "
            "then each row side by side, request by request ..."
        )
        table_rows, (our_rate, their_rate), floor = run(
            work, files, plan_, args.fps_seconds, with_orthanc=not args.no_orthanc
        )
        mine, rest, dicomweb = (list(column) for column in zip(*table_rows, strict=True))
        print("In-process studies.imaging render rate (reference) ...")
        reference_rate = in_process_rate(plan_, args.fps_seconds)

        print()
        print(
            f"Rendering to JPEG (quality {QUALITY}), one client, loopback, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}; ratio < 1: ours faster"
        )
        names = [name for name, _, _ in plan_.rows] + socket_row_names(plan_)
        print(table(names, mine, rest, dicomweb))
        print(
            "ours: WADO-RS rendered over HTTP, except the websocket rows (a `view` on the\n"
            "viewer's socket); [TARGET] is the view its window drag sends (preview:false), the\n"
            "row issue 3 is judged on (below). CPU of a websocket row includes the view's\n"
            "lossless PNG, which follows the tiles after 300 ms idle."
        )
        print(cpu_table(names, mine, rest, dicomweb))
        print(targets(plan_, mine, rest))
        print(floor_line(*floor))
        rate_rows = [
            ("ours WADO-RS rendered", our_rate),
            ("Orthanc REST frames/0/rendered", their_rate),
            (f"reference: studies.imaging in this process, {CORES} threads", reference_rate),
        ]
        print(rates(rate_rows, len(plan_.fps_clients), args.fps_seconds))
        print(f"bench took {time.perf_counter() - started:.0f} s")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
