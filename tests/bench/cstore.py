"""C-STORE ingest benchmark: DCMTK's ``storescu`` sends the demo CT to our listener and to
Orthanc, one association each, Nagle off (``TCP_NODELAY=1``), on loopback.

Our side is ``manage.py dicom_listener`` in its own process with a throw-away archive (so the
clock includes exactly what a modality would wait for: network, ingest, fsync, index);
Orthanc is Debian's, with its default durable storage. Every round starts both from an
empty archive; the rounds alternate who goes first, and the median rate is reported.

    python -m tests.bench.cstore [--slices 200] [--rounds 3]

The ingest benchmark (``python -m tests.bench``) can add the row with ``measure_cstore``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from studies.demo.phantom import write_ct_series
from tests.bench.django_server import ROOT, ServerError, archive_environment, manage, new_archive
from tests.bench.ingest import Measurement, skipped, table
from tests.peers.orthanc import OrthancError, OrthancPeer, orthanc_missing
from tests.peers.ports import free_port, port_is_open

CALLING_AE = "STORESCU"
OUR_AE = "DICOMVIEWER"
ROW_NAME = "C-STORE, storescu, one association"


def storescu(directory: Path, port: int, called_ae: str, timeout: float) -> tuple[float, str]:
    """Send every file in ``directory`` over one association; (seconds, error or "")."""
    if shutil.which("storescu") is None:
        return 0.0, "storescu not found (Debian package dcmtk)"
    env = dict(os.environ, TCP_NODELAY="1")
    command = ["storescu", "-aet", CALLING_AE, "-aec", called_ae, "127.0.0.1", str(port)]
    before = time.perf_counter()
    try:
        done = subprocess.run(
            [*command, "+sd", str(directory)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - before, f"storescu did not finish within {timeout:.0f} s"
    seconds = time.perf_counter() - before
    if done.returncode != 0:
        return seconds, f"storescu exited {done.returncode}: {done.stderr.strip()[-200:]}"
    return seconds, ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def measure_ours(files_dir: Path, work: Path, time_limit: float) -> Measurement:
    """storescu → ``manage.py dicom_listener`` on a fresh archive."""
    count = len(list(files_dir.iterdir()))
    try:
        var_dir = new_archive(work, f"cstore-var-{time.monotonic_ns()}")
        manage(var_dir, "pacs", "allow", CALLING_AE, "--host", "127.0.0.1")
    except ServerError as exc:
        return skipped(f"archive set-up failed: {str(exc).splitlines()[0]}")
    port = free_port()
    env = archive_environment(var_dir)
    env.update(DICOM_AE_TITLE=OUR_AE)
    listener = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "dicom_listener"]
        + ["--bind", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_is_open(port):
            if listener.poll() is not None or time.monotonic() > deadline:
                return skipped("our listener did not start")
            time.sleep(0.05)
        seconds, error = storescu(files_dir, port, OUR_AE, time_limit + 120)
    finally:
        _stop(listener)
    answer = manage(
        var_dir,
        "shell",
        "--no-imports",
        "-c",
        "from studies.models import Instance; print(Instance.objects.count())",
    )
    stored = int(answer.strip().splitlines()[-1])
    return Measurement(instances=count, seconds=seconds, stored=stored, note=error)


def measure_orthanc(files_dir: Path, time_limit: float) -> Measurement:
    """storescu → Orthanc's DICOM port, Orthanc fresh."""
    missing = orthanc_missing()
    if missing:
        return skipped(missing)
    count = len(list(files_dir.iterdir()))
    try:
        with OrthancPeer(aet="BENCH_ORTHANC", allow_unregistered_store=True) as orthanc:
            seconds, error = storescu(files_dir, orthanc.dicom_port, orthanc.aet, time_limit + 120)
            stored = orthanc.instance_count()
    except OrthancError as exc:
        return skipped(f"Orthanc failed: {str(exc).splitlines()[0]}")
    return Measurement(instances=count, seconds=seconds, stored=stored, note=error)


def _median(measurements: Sequence[Measurement]) -> Measurement:
    """The round with the median rate (a real round, so its notes stay true)."""
    complete = [m for m in measurements if m.rate]
    if not complete:
        return measurements[0] if measurements else skipped("no rounds")
    ranked = sorted(complete, key=lambda m: m.rate or 0.0)
    chosen = ranked[(len(ranked) - 1) // 2]
    rates = ", ".join(f"{m.rate:.1f}" for m in complete)
    if len(complete) > 1 and not chosen.note:
        chosen.note = f"median of {len(complete)} rounds (inst/s: {rates})"
    return chosen


def measure_cstore(
    files_dir: Path, work: Path, time_limit: float = 120.0, rounds: int = 3
) -> tuple[Measurement, Measurement]:
    """(ours, Orthanc) for the row ``ROW_NAME``: each the median of ``rounds`` runs."""
    ours: list[Measurement] = []
    theirs: list[Measurement] = []
    for index in range(rounds):
        pair = [
            lambda: ours.append(measure_ours(files_dir, work, time_limit)),
            lambda: theirs.append(measure_orthanc(files_dir, time_limit)),
        ]
        for run in pair if index % 2 == 0 else reversed(pair):
            run()
    return _median(ours), _median(theirs)


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.cstore", description=__doc__)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=120.0)
    args = parser.parse_args(argv)
    if args.slices < 1 or args.rounds < 1:
        parser.error("--slices and --rounds must be positive")
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    work = Path(tempfile.mkdtemp(prefix="bench-cstore-"))
    try:
        print(f"Generating the demo CT: {args.slices} slices of {args.size}x{args.size} ...")
        files = write_ct_series(work / "ct", slices=args.slices, size=args.size)
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        print(f"storescu → our listener and → Orthanc, {args.rounds} rounds ...")
        ours, theirs = measure_cstore(work / "ct", work, args.time_limit, args.rounds)
        print()
        print(
            f"C-STORE of {len(files)} CT instances ({megabytes:.0f} MB), one association, "
            f"TCP_NODELAY=1, loopback, {os.cpu_count()} CPUs"
        )
        print(table([(ROW_NAME, ours, theirs)]))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
