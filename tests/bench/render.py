"""Rendering benchmark: our WADO-RS rendered/thumbnail against Orthanc, on the same files.

Both archives hold the same images: slices of the generated demo CT (512×512, 16-bit), a
few large 4096×4096 16-bit images (the 2048 phantom enlarged, with fresh full-resolution
noise, so they are not flat blocks), and real sample files (JPEG 2000 CT, JPEG baseline
ultrasound, MR with overlays, RGB ultrasound). Ours runs under ``manage.py runserver``
(Daphne, ASGI) and is loaded through STOW-RS; Orthanc (Debian package) through REST.

One client, one request at a time, loopback, keep-alive sessions, HTTP Basic on both. Each
row is a bounded number of requests; "cold" rows ask each image once (nothing of it decoded
yet in that server), "warm" rows ask one already-shown image again with a new window.
Orthanc is measured through its REST API (``/instances/{id}/rendered``, which takes
window-center, window-width, width, height, quality) and its DICOMweb plugin (``rendered``
with window and viewport; the plugin has no ``thumbnail``, so its thumbnail row is
``rendered?viewport=128,128``). Before the clock starts, every server and API is asked once
for a spare slice, the images of the warm rows, and one file of each codec.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import requests
from pydicom import dcmread
from pydicom.uid import generate_uid

from studies.demo.phantom import generate_ct_series, part10_bytes, write_ct_series
from studies.demo.samples import sample_path
from tests.bench.django_server import DjangoServer, ServerError
from tests.bench.ingest import Measurement, batches, multipart_related, skipped
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
LARGE_SIZE = 4096
VIEWPORT = 1024
THUMBNAIL = 128
QUALITY = 90


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
    """``count`` 4096×4096 16-bit CT-like images in one new series."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(20240611)
    series_uid = generate_uid(entropy_srcs=["bench-render-large"])
    paths = []
    for index, ds in enumerate(generate_ct_series(slices=count, size=LARGE_SIZE // 2)):
        half = ds.pixel_array.astype(np.int32)
        full = np.repeat(np.repeat(half, 2, axis=0), 2, axis=1)
        full += rng.normal(0, 8, full.shape).astype(np.int32)
        ds.PixelData = np.clip(full, 0, 4095).astype(np.uint16).tobytes()
        ds.Rows = ds.Columns = LARGE_SIZE
        ds.PixelSpacing = [float(v) / 2 for v in ds.PixelSpacing]
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = 90
        ds.SeriesDescription = "Large 4096 (benchmark)"
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


def orthanc_rest(ids: dict[str, str]) -> Callable[[Request], tuple[str, dict[str, str]]]:
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
        return f"/instances/{ids[request.image.sop]}/rendered", params

    return build


def measure(
    session: requests.Session,
    base: str,
    build: Callable[[Request], tuple[str, dict[str, str]]],
    requests_: Sequence[Request],
) -> Measurement:
    result = Measurement()
    for request in requests_:
        path, params = build(request)
        target = f"{base}{path}?{urlencode(params, safe=',')}"
        wanted = "application/" if request.kind == "metadata" else "image/"
        accept = "application/dicom+json" if request.kind == "metadata" else "image/jpeg"
        before = time.perf_counter()
        try:
            answer = session.get(target, headers={"Accept": accept}, timeout=120)
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
        elif not result.note:
            result.note = note
    result.seconds = sum(result.request_seconds)
    if result.stored < result.instances:
        result.note = (
            f"{result.instances - result.stored} of {result.instances} failed; {result.note}"
        )
    return result


# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    rows: list[tuple[str, list[Request], list[Request]]]  # name, ours and REST, DICOMweb
    warm_up: list[Request]  # asked once of every server and API before the clock starts


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
            f"{LARGE_SIZE}² image into a {VIEWPORT}² viewport (cold), n={len(large_cold)}",
            [Request(i, size=VIEWPORT) for i in large_cold],
            [Request(i, size=VIEWPORT) for i in large_cold],
        ),
        (
            f"{LARGE_SIZE}² into {VIEWPORT}², new window (warm), n={repeat}",
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
    return Plan(rows, warm_up)


def warm_up(
    session: requests.Session,
    base: str,
    build: Callable[[Request], tuple[str, dict[str, str]]],
    plan_: Plan,
) -> None:
    measure(session, base, build, plan_.warm_up)  # failures show up in the rows that matter


# --- the servers ------------------------------------------------------------------------------


def run_ours(work: Path, files: list[Path], plan_: Plan) -> list[Measurement]:
    try:
        with DjangoServer(work / "server") as server:
            session = requests.Session()
            session.auth = server.auth
            stow = server.url + "/dicomweb/studies"
            for group in batches([p.read_bytes() for p in files], 10):
                body, content_type = multipart_related(group)
                answer = session.post(
                    stow, data=body, headers={"Content-Type": content_type}, timeout=300
                )
                if answer.status_code != 200:
                    raise ServerError(f"STOW-RS: HTTP {answer.status_code}: {answer.text[:200]}")
            base = server.url
            warm_up(session, base, ours, plan_)
            results = [measure(session, base, ours, mine) for _, mine, _ in plan_.rows]
            session.close()
            return results
    except (ServerError, requests.RequestException) as exc:
        note = f"our server failed: {str(exc).splitlines()[0]}"
        return [skipped(note) for _ in plan_.rows]


def run_orthanc(files: list[Path], plan_: Plan) -> tuple[list[Measurement], list[Measurement]]:
    missing = orthanc_missing()
    if missing:
        return [skipped(missing) for _ in plan_.rows], [skipped(missing) for _ in plan_.rows]
    try:
        with OrthancPeer(aet="BENCH_RENDER") as orthanc:
            ids = {}
            for path in files:
                answer = orthanc.upload(path.read_bytes())
                ids[image_of(path).sop] = answer["ID"]
            session = requests.Session()
            session.auth = orthanc.auth
            rest = orthanc_rest(ids)
            warm_up(session, orthanc.url, rest, plan_)
            warm_up(session, orthanc.url, orthanc_dicomweb, plan_)
            by_rest = [measure(session, orthanc.url, rest, mine) for _, mine, _ in plan_.rows]
            by_dicomweb = [
                measure(session, orthanc.url, orthanc_dicomweb, theirs)
                for _, _, theirs in plan_.rows
            ]
            session.close()
            return by_rest, by_dicomweb
    except (OrthancError, requests.RequestException) as exc:
        note = f"Orthanc failed: {str(exc).splitlines()[0]}"
        return [skipped(note) for _ in plan_.rows], [skipped(note) for _ in plan_.rows]


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
        "ours WADO-RS",
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


# --- main -------------------------------------------------------------------------------------


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench render", description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="requests per row")
    parser.add_argument("--large", type=int, default=5, help="4096² images (one kept warm)")
    parser.add_argument("--no-orthanc", action="store_true")
    args = parser.parse_args(argv)
    if args.repeat < 2 or args.large < 2:
        parser.error("--repeat and --large must be at least 2")

    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-render-"))
    try:
        slices = 4 * args.repeat + 2
        print(f"Generating {slices} CT slices of 512² and {args.large} images of {LARGE_SIZE}² ...")
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

        print(f"Ours: {len(files)} files ({megabytes:.0f} MB) by STOW-RS, then WADO-RS ...")
        mine = run_ours(work, files, plan_)
        if args.no_orthanc:
            rest = dicomweb = [skipped("--no-orthanc") for _ in plan_.rows]
        else:
            print("Orthanc: the same files by REST, then REST and DICOMweb rendering ...")
            rest, dicomweb = run_orthanc(files, plan_)

        print()
        print(
            f"Rendering to JPEG (quality {QUALITY}), one client, loopback, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}; ratio < 1: ours faster"
        )
        print(table([name for name, _, _ in plan_.rows], mine, rest, dicomweb))
        print(f"bench took {time.perf_counter() - started:.0f} s")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
