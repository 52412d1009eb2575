"""Ingest benchmark: our archive against Orthanc on the same generated CT series.

Generates the demo CT (200 slices of 512×512, ~100 MB) into a temporary directory and
measures, one client and one request at a time, on loopback:

- one file per call: our ``ingest_path`` loop (what ``import_dicom`` runs) against
  Orthanc's REST ``POST /instances`` (what its ImportDicomFiles script does);
- ``manage.py import_dicom DIR``, whole command including Python and Django start-up;
- STOW-RS ``POST .../studies`` with several instances per request, and with one.

Each measurement stores its own copy of the series (fresh UIDs), so no path meets
duplicates. Both archives write durably (our store fsyncs; Orthanc's SyncStorageArea is
on by default). Every process and temporary directory is removed at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests
from pydicom import dcmread
from pydicom.uid import generate_uid

from studies.demo.phantom import part10_bytes, write_ct_series
from tests.bench.django_server import ROOT, DjangoServer, ServerError, archive_environment
from tests.bench.django_server import new_archive as new_django_archive
from tests.peers.orthanc import OrthancError, OrthancPeer, orthanc_missing

STOW_PATH_OURS = "/dicomweb/studies"
STOW_PATH_ORTHANC = "/dicom-web/studies"


@dataclass
class Measurement:
    """Instances sent, seconds taken, per-request durations; a note when it fell short."""

    instances: int = 0
    seconds: float = 0.0
    request_seconds: list[float] = field(default_factory=list)
    stored: int = 0
    note: str = ""

    @property
    def rate(self) -> float | None:
        return self.stored / self.seconds if self.seconds > 0 and self.stored else None

    def percentile_ms(self, q: float) -> float | None:
        if not self.request_seconds:
            return None
        if len(self.request_seconds) == 1:
            return self.request_seconds[0] * 1000
        cuts = statistics.quantiles(self.request_seconds, n=100, method="inclusive")
        return cuts[round(q * 100) - 1] * 1000


def skipped(reason: str) -> Measurement:
    return Measurement(note=reason)


# --- the series and its copies ---------------------------------------------------------------


def relabelled(files: Sequence[Path], label: str) -> list[bytes]:
    """The series with new study, series and instance UIDs derived from ``label``."""
    copies = []
    for path in files:
        ds = dcmread(path)
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            setattr(ds, keyword, generate_uid(entropy_srcs=[label, str(ds.get(keyword))]))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        copies.append(part10_bytes(ds))
    return copies


def batches(items: Sequence[bytes], size: int) -> Iterable[list[bytes]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def multipart_related(parts: Sequence[bytes]) -> tuple[bytes, str]:
    """A STOW-RS request body (PS3.18 8.6.1.2): one application/dicom part per file."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for part in parts:
        body.write(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        body.write(part)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return body.getvalue(), content_type


# --- measurements ------------------------------------------------------------------------------


def timed_requests(
    send: Callable[[list[bytes]], int],
    groups: Iterable[list[bytes]],
    time_limit: float,
) -> Measurement:
    """Send each group with ``send`` (returns instances stored); stop at the time limit."""
    result = Measurement()
    failures = 0
    started = time.perf_counter()
    for group in groups:
        if time.perf_counter() - started > time_limit:
            result.note = f"stopped at the {time_limit:.0f} s limit"
            break
        before = time.perf_counter()
        try:
            stored = send(group)
        except (requests.RequestException, ValueError) as exc:
            stored = 0
            result.note = f"error: {exc}"[:120]
        result.request_seconds.append(time.perf_counter() - before)
        result.instances += len(group)
        result.stored += stored
        failures = failures + 1 if stored < len(group) else 0
        if failures >= 3:
            result.note = result.note or "three requests in a row failed"
            break
    result.seconds = time.perf_counter() - started
    if result.stored < result.instances and not result.note:
        result.note = f"only {result.stored} of {result.instances} stored"
    return result


def stow_sender(session: requests.Session, url: str) -> Callable[[list[bytes]], int]:
    def send(group: list[bytes]) -> int:
        body, content_type = multipart_related(group)
        answer = session.post(
            url,
            data=body,
            headers={"Content-Type": content_type, "Accept": "application/dicom+json"},
            timeout=300,
        )
        if answer.status_code not in (200, 202):
            raise ValueError(f"HTTP {answer.status_code}: {answer.text[:80]}")
        # Store Instances Response (PS3.18 I.2): ReferencedSOPSequence lists what was kept.
        response = answer.json() if answer.content else {}
        if isinstance(response, list):  # some servers wrap the data set in a list
            response = response[0] if response else {}
        return len(response.get("00081199", {}).get("Value", []))

    return send


def measure_import(files_dir: Path, work: Path, time_limit: float) -> Measurement:
    """Our ingest loop, in a subprocess with its own archive, timed per file."""
    var_dir = new_django_archive(work, "import-var")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.bench.import_worker", str(files_dir)],
            cwd=ROOT,
            env=archive_environment(var_dir),
            capture_output=True,
            text=True,
            timeout=time_limit + 120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return skipped("import worker timed out")
    if done.returncode != 0:
        return skipped(f"import worker failed: {done.stderr.strip().splitlines()[-1:]}")
    report = json.loads(done.stdout)
    return Measurement(
        instances=len(report["statuses"]),
        seconds=report["total"],
        request_seconds=report["durations"],
        stored=report["statuses"].count("stored"),
    )


def measure_import_command(files_dir: Path, work: Path, time_limit: float) -> Measurement:
    """``manage.py import_dicom DIR`` from process start to exit."""
    var_dir = new_django_archive(work, "import-command-var")
    before = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "import_dicom", str(files_dir)]
            + ["--no-progress"],
            cwd=ROOT,
            env=archive_environment(var_dir),
            capture_output=True,
            text=True,
            timeout=time_limit + 120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return skipped("import_dicom timed out")
    seconds = time.perf_counter() - before
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return skipped(f"import_dicom exited {done.returncode}: {tail}")
    count = len(list(files_dir.iterdir()))
    return Measurement(instances=count, seconds=seconds, stored=count)


def measure_ours_stow(
    work: Path, copies: dict[str, list[bytes]], batch: int, time_limit: float
) -> tuple[Measurement, Measurement, str]:
    try:
        with DjangoServer(work / "server") as server:
            session = requests.Session()
            session.auth = server.auth
            url = server.url + STOW_PATH_OURS
            # Warm-up outside the clock: the first request loads the URLconf and views.
            probe = session.get(url, timeout=30)
            if probe.status_code == 404:
                note = "no STOW-RS endpoint at " + STOW_PATH_OURS
                return skipped(note), skipped(note), ""
            send = stow_sender(session, url)
            batched = timed_requests(send, batches(copies["stow-batch"], batch), time_limit)
            single = timed_requests(send, batches(copies["stow-single"], 1), time_limit)
            session.close()
            check = f"our archive holds {server.instance_count()} instances"
            return batched, single, check
    except ServerError as exc:
        note = f"server failed: {str(exc).splitlines()[0]}"
        return skipped(note), skipped(note), ""


def measure_orthanc(
    files: Sequence[Path], copies: dict[str, list[bytes]], batch: int, time_limit: float
) -> tuple[Measurement, Measurement, Measurement, str]:
    missing = orthanc_missing()
    if missing:
        return skipped(missing), skipped(missing), skipped(missing), ""
    try:
        with OrthancPeer(aet="BENCH_ORTHANC") as orthanc:
            orthanc.request("GET", "/system")

            def post_instance(group: list[bytes]) -> int:
                answer = orthanc.request(
                    "POST",
                    "/instances",
                    data=group[0],
                    headers={"Content-Type": "application/dicom"},
                )
                return 1 if answer.status_code == 200 else 0

            # Read one file per request as a client would, reading from disk on the clock,
            # like our ingest_path does.
            rest = timed_requests(
                post_instance, ([path.read_bytes()] for path in files), time_limit
            )
            session = requests.Session()
            session.auth = orthanc.auth
            send = stow_sender(session, orthanc.url + STOW_PATH_ORTHANC)
            batched = timed_requests(send, batches(copies["stow-batch"], batch), time_limit)
            single = timed_requests(send, batches(copies["stow-single"], 1), time_limit)
            session.close()
            check = f"Orthanc holds {orthanc.instance_count()} instances"
            return rest, batched, single, check
    except OrthancError as exc:
        note = f"Orthanc failed: {str(exc).splitlines()[0]}"
        return skipped(note), skipped(note), skipped(note), ""


# --- report ------------------------------------------------------------------------------------


def _fmt_rate(m: Measurement) -> str:
    return f"{m.rate:.1f}" if m.rate else "-"


def _fmt_latency(m: Measurement) -> str:
    p50, p95 = m.percentile_ms(0.5), m.percentile_ms(0.95)
    return f"{p50:.0f} / {p95:.0f}" if p50 is not None and p95 is not None else "-"


def table(rows: Sequence[tuple[str, Measurement, Measurement | None]]) -> str:
    header = (
        "path",
        "ours inst/s",
        "Orthanc inst/s",
        "ours/Orthanc",
        "ours p50/p95 ms",
        "Orthanc p50/p95 ms",
    )
    lines = [header]
    notes = []
    for name, ours, theirs in rows:
        ratio = "-"
        if theirs is not None and ours.rate and theirs.rate:
            ratio = f"{ours.rate / theirs.rate:.2f}"
        lines.append(
            (
                name,
                _fmt_rate(ours),
                _fmt_rate(theirs) if theirs else "n/a",
                ratio,
                _fmt_latency(ours),
                _fmt_latency(theirs) if theirs else "n/a",
            )
        )
        for who, m in (("ours", ours), ("Orthanc", theirs)):
            if m is not None and m.note:
                notes.append(f"  {name} [{who}]: {m.note}")
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = []
    for index, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)
        ]
        rendered.append("  ".join(cells))
        if index == 0:
            rendered.append("  ".join("-" * w for w in widths))
    return "\n".join(rendered + (["notes:", *notes] if notes else []))


# --- main --------------------------------------------------------------------------------------


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=20, help="instances per STOW request")
    parser.add_argument(
        "--time-limit", type=float, default=30.0, help="seconds per measurement before stopping"
    )
    parser.add_argument("--no-orthanc", action="store_true")
    args = parser.parse_args(argv)
    # cstore builds on this module's Measurement and table, so it is imported here.
    from tests.bench import cstore

    if args.batch < 1 or args.slices < 1:
        parser.error("--batch and --slices must be positive")

    # make or a supervisor stops us with SIGTERM: unwind so servers and temp dirs go too.
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        print(f"Generating the demo CT: {args.slices} slices of {args.size}x{args.size} ...")
        before = time.perf_counter()
        files = write_ct_series(work / "ct", slices=args.slices, size=args.size)
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        print(f"  {len(files)} files, {megabytes:.0f} MB in {time.perf_counter() - before:.1f} s")
        copies = {label: relabelled(files, label) for label in ("stow-batch", "stow-single")}

        print("Ours: ingest_path loop ...")
        ours_import = measure_import(work / "ct", work, args.time_limit)
        print("Ours: import_dicom command ...")
        ours_command = measure_import_command(work / "ct", work, args.time_limit)
        print(f"Ours: STOW-RS via uvicorn ({args.batch} per request, then 1) ...")
        ours_batch, ours_single, ours_check = measure_ours_stow(
            work, copies, args.batch, args.time_limit
        )
        if args.no_orthanc:
            theirs = (skipped("--no-orthanc"),) * 3
            orthanc_check = ""
        else:
            print("Orthanc: REST POST /instances, then STOW-RS ...")
            *theirs, orthanc_check = measure_orthanc(files, copies, args.batch, args.time_limit)
        rest, orthanc_batch, orthanc_single = theirs
        print("C-STORE: storescu (one association, TCP_NODELAY=1) to our listener and Orthanc ...")
        if args.no_orthanc:
            cstore_ours = cstore.measure_ours(work / "ct", work, args.time_limit)
            cstore_theirs = skipped("--no-orthanc")
        else:
            cstore_ours, cstore_theirs = cstore.measure_cstore(work / "ct", work, args.time_limit)

        print()
        print(
            f"Ingest of {len(files)} CT instances ({megabytes:.0f} MB), one client, loopback, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
        )
        print(
            table(
                [
                    ("one file per call (ingest_path | REST POST /instances)", ours_import, rest),
                    ("import_dicom DIR, whole command incl. start-up", ours_command, None),
                    (f"STOW-RS, {args.batch} instances per request", ours_batch, orthanc_batch),
                    ("STOW-RS, 1 instance per request", ours_single, orthanc_single),
                    (cstore.ROW_NAME, cstore_ours, cstore_theirs),
                ]
            )
        )
        expected = 2 * len(files)
        for check, total in ((ours_check, expected), (orthanc_check, 3 * len(files))):
            if check:
                print(f"check: {check} (expected {total} if every path completed)")
        print(f"bench took {time.perf_counter() - started:.0f} s")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
