"""Retrieve benchmark: the demo CT fetched from Orthanc by our retrieve job (C-MOVE, then
C-GET) against Orthanc moving the same study to DCMTK's ``storescp``, and how soon the first
image is viewable while our retrieve runs.

One Orthanc (Debian's) holds the study (loaded once through REST) and knows three
modalities: our listener, a ``storescp`` and the DCMTK client AE titles. Every round of ours
starts from an empty archive with the processes ``make run`` starts: ``manage.py
dicom_listener``, ``manage.py retrieve_worker`` (its default poll, RETRIEVE_POLL_MS, so the wall
time includes the wait for a worker to pick the job up) and, for the first-image rows,
uvicorn. The job is queued with ``manage.py retrieve --node --study --wait``;
its wall time is read from the job itself (queued ``created_at`` to ``finished_at``), so
Python start-up of the command is not counted.

Ours splits the study into RETRIEVE_PARALLEL_REQUESTS (2) requests sent at once (studies.pacs.jobs);
``RETRIEVE_PARALLEL_REQUESTS=1`` in the environment measures one request. The listener and the
worker ingest in their own threads (INGEST_PROCESSES 0); ``INGEST_PROCESSES=2`` measures
ingest in two forked processes each (studies.ingest_pool).

Orthanc's side is ``movescu`` asking Orthanc to C-MOVE the study to ``storescp`` (files
written to a temporary directory, no fsync; ours fsyncs every instance), timed from
``movescu`` start to exit. ``getscu`` (C-GET by a DCMTK client) is a reference row. All
DCMTK tools run with Nagle off (``TCP_NODELAY=1``); everything is on loopback.

CPU seconds are counted beside the wall time, as the machine may be busy with other work:
the receiving side's (ours: ``dicom_listener`` and ``retrieve_worker`` together with their
ingest processes, from queueing to done; Orthanc's side: ``storescp`` plus ``movescu``, or
``getscu``) and Orthanc's own.
On a loaded machine the CPU a side needs per instance decides its wall time.

"First image viewable": while a retrieve runs, the benchmark polls our QIDO-RS for the
study's instances every 20 ms; when one is indexed it asks WADO-RS for its first frame
rendered (JPEG). Both times are counted from the job's ``created_at``.

    python -m tests.bench retrieve [--slices 200] [--rounds 3] [--no-orthanc]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests
from pydicom import dcmread

from studies.demo.phantom import write_ct_series
from tests.bench.django_server import (
    ROOT,
    DjangoServer,
    ServerError,
    archive_environment,
    manage,
    new_archive,
)
from tests.peers.orthanc import OrthancError, OrthancPeer, orthanc_missing
from tests.peers.ports import free_port, port_is_open

OUR_AE = "DICOMVIEWER"
ORTHANC_AE = "BENCH_PACS"
STORESCP_AE = "STORESCP"
MOVESCU_AE = "MOVESCU"
GETSCU_AE = "GETSCU"
NODE = "bench-orthanc"
TARGET = 1.25  # issue 5: our wall time at most 1.25× Orthanc → storescp
POLL_SECONDS = 0.02


@dataclass
class Timing:
    """One retrieve: seconds to done, and (ours) pickup and first-image times; a note."""

    seconds: float | None = None
    instances: int = 0
    pickup: float | None = None
    first_indexed: float | None = None
    first_rendered: float | None = None
    first_stored: float | None = None  # ours: first and last instance indexed, from queueing
    last_stored: float | None = None
    cpu: float | None = None  # receiving side: ours (listener + worker) or the DCMTK tools
    pacs_cpu: float | None = None  # Orthanc's
    note: str = ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while not port_is_open(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise ServerError(f"{what} did not start on port {port}")
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process and its live child processes (our ingest
    processes, studies.ingest_pool) have used so far, all threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(child) for child in task.read_text().split())
        except OSError:
            continue
    return found


def children_cpu() -> float:
    """CPU seconds of this process's children that have been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def orthanc_cpu(orthanc: OrthancPeer) -> float:
    return cpu_seconds(orthanc.process.pid) if orthanc.process is not None else 0.0


def dcmtk_env() -> dict[str, str]:
    return dict(os.environ, TCP_NODELAY="1")


# --- Orthanc's side -----------------------------------------------------------------------------


def orthanc_to_storescp(
    orthanc: OrthancPeer, study: str, storescp_port: int, work: Path, timeout: float
) -> Timing:
    """``movescu`` asks Orthanc to C-MOVE the study to a fresh ``storescp``."""
    out = Path(tempfile.mkdtemp(prefix="storescp-", dir=work))
    receiver = subprocess.Popen(
        ["storescp", "-aet", STORESCP_AE, "-od", str(out), str(storescp_port)],
        env=dcmtk_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(storescp_port, receiver, "storescp")
        command = ["movescu", "-aet", MOVESCU_AE, "-aec", orthanc.aet, "-aem", STORESCP_AE]
        command += ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"]
        before = (cpu_seconds(receiver.pid), children_cpu(), orthanc_cpu(orthanc))
        seconds, error = _timed_tool([*command, "127.0.0.1", str(orthanc.dicom_port)], timeout)
        cpu = cpu_seconds(receiver.pid) - before[0] + children_cpu() - before[1]
        pacs_cpu = orthanc_cpu(orthanc) - before[2]
    except ServerError as exc:
        return Timing(note=str(exc))
    finally:
        _stop(receiver)
    received = len(list(out.iterdir()))
    shutil.rmtree(out, ignore_errors=True)
    return Timing(seconds=seconds, instances=received, cpu=cpu, pacs_cpu=pacs_cpu, note=error)


def getscu_from_orthanc(orthanc: OrthancPeer, study: str, work: Path, timeout: float) -> Timing:
    """``getscu`` C-GETs the study on its own association, files to a temporary directory."""
    out = Path(tempfile.mkdtemp(prefix="getscu-", dir=work))
    command = ["getscu", "-aet", GETSCU_AE, "-aec", orthanc.aet, "-od", str(out)]
    command += ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"]
    before = (children_cpu(), orthanc_cpu(orthanc))
    seconds, error = _timed_tool([*command, "127.0.0.1", str(orthanc.dicom_port)], timeout)
    cpu, pacs_cpu = children_cpu() - before[0], orthanc_cpu(orthanc) - before[1]
    received = len(list(out.iterdir()))
    shutil.rmtree(out, ignore_errors=True)
    return Timing(seconds=seconds, instances=received, cpu=cpu, pacs_cpu=pacs_cpu, note=error)


def _timed_tool(command: list[str], timeout: float) -> tuple[float, str]:
    if shutil.which(command[0]) is None:
        return 0.0, f"{command[0]} not found (Debian package dcmtk)"
    before = time.perf_counter()
    try:
        done = subprocess.run(
            command, env=dcmtk_env(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - before, f"{command[0]} did not finish within {timeout:.0f} s"
    seconds = time.perf_counter() - before
    if done.returncode != 0:
        return seconds, f"{command[0]} exited {done.returncode}: {done.stderr.strip()[-160:]}"
    return seconds, ""


# --- our side ---------------------------------------------------------------------------------


@contextmanager
def our_processes(var_dir: Path, listener_port: int) -> Iterator[list[subprocess.Popen]]:
    """``dicom_listener`` and ``retrieve_worker`` on the archive in ``var_dir``."""
    env = archive_environment(var_dir)
    env.update(DICOM_AE_TITLE=OUR_AE)
    manage_py = [sys.executable, str(ROOT / "manage.py")]
    started: list[subprocess.Popen] = []
    try:
        for args in (
            ["dicom_listener", "--bind", "127.0.0.1", "--port", str(listener_port)],
            ["retrieve_worker"],
        ):
            started.append(
                subprocess.Popen(
                    [*manage_py, *args],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
            )
        _wait_for_port(listener_port, started[0], "our listener")
        # The worker prints one line when it starts polling (then nothing until it stops).
        assert started[1].stdout is not None
        if not started[1].stdout.readline().startswith("retrieve worker"):
            raise ServerError("retrieve_worker exited at start-up")
        yield started
    finally:
        for process in started:
            _stop(process)


def add_node(var_dir: Path, orthanc: OrthancPeer, method: str) -> None:
    manage(var_dir, "pacs", "add", NODE, "--aet", orthanc.aet, "--host", "127.0.0.1",
           "--port", str(orthanc.dicom_port), "--method", method)  # fmt: skip


def archive_template(work: Path, orthanc: OrthancPeer, method: str) -> Path:
    """An empty, migrated archive that knows Orthanc as ``NODE``; rounds start from copies
    (Django start-ups cost seconds on a busy machine and are not what is measured)."""
    var_dir = new_archive(work, f"template-{method}")
    add_node(var_dir, orthanc, method)
    return var_dir


_JOB_TIMES = (
    "from django.db.models import Max, Min; "
    "from studies.models import Instance as I, RetrieveJob as J; j = J.objects.latest('pk'); "
    "t = I.objects.aggregate(a=Min('received_at'), b=Max('received_at')); "
    "f = (j.finished_at or j.created_at).timestamp(); "
    "print(j.state, j.received_count, j.created_at.timestamp(), "
    "(j.started_at or j.created_at).timestamp(), f, "
    "t['a'].timestamp() if t['a'] else f, t['b'].timestamp() if t['b'] else f)"
)


def job_times(var_dir: Path) -> tuple[str, int, float, float, float, float, float]:
    """State, received count, and epochs: queued, picked up, done, first and last indexed."""
    state, received, *times = manage(
        var_dir, "shell", "--no-imports", "-c", _JOB_TIMES, DICOM_AE_TITLE=OUR_AE
    ).split()
    created, started, finished, first, last = (float(t) for t in times)
    return state, int(received), created, started, finished, first, last


def run_ours(
    work: Path,
    method: str,
    orthanc: OrthancPeer,
    study: str,
    listener_port: int,
    timeout: float,
    template: Path | None,
) -> Timing:
    """One retrieve into an empty archive: a copy of ``template`` (migrated, node added), or
    without one a fresh archive served by ``viewerproject.serve``, watched for the first image."""
    parent = Path(tempfile.mkdtemp(prefix=f"ours-{method}-", dir=work))
    server: DjangoServer | None = None
    try:
        if template is None:
            server = DjangoServer(parent)
            server.start()
            var_dir = server.var_dir
            assert var_dir is not None
            add_node(var_dir, orthanc, method)
        else:
            var_dir = parent / "var"
            shutil.copytree(template, var_dir)
        with our_processes(var_dir, listener_port) as ours:
            before = (sum(cpu_seconds(p.pid) for p in ours), orthanc_cpu(orthanc))
            env = archive_environment(var_dir)
            env.update(DICOM_AE_TITLE=OUR_AE)
            queue = subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), "retrieve", "--node", NODE]
                + ["--study", study, "--wait", "--timeout", str(timeout)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            seen = watch_first_image(server, study, queue, timeout) if server else None
            try:
                out, err = queue.communicate(timeout=timeout + 60)
            except subprocess.TimeoutExpired:
                queue.kill()
                out, err = queue.communicate()
            cpu = sum(cpu_seconds(p.pid) for p in ours) - before[0]
            pacs_cpu = orthanc_cpu(orthanc) - before[1]
        state, received, created, picked, finished, first, last = job_times(var_dir)
    except (ServerError, requests.RequestException, ValueError) as exc:
        return Timing(note=f"ours failed: {str(exc).splitlines()[0][:160]}")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(parent, ignore_errors=True)
    timing = Timing(instances=received, pickup=picked - created, cpu=cpu, pacs_cpu=pacs_cpu)
    timing.first_stored, timing.last_stored = first - created, last - created
    if state == "done":
        timing.seconds = finished - created
    else:
        timing.note = f"job {state}: {(err or out).strip()[-160:]}"
    if seen is not None:
        indexed, rendered, note = seen
        timing.first_indexed = indexed - created if indexed else None
        timing.first_rendered = rendered - created if rendered else None
        timing.note = timing.note or note
    return timing


def watch_first_image(
    server: DjangoServer, study: str, queue: subprocess.Popen, timeout: float
) -> tuple[float | None, float | None, str]:
    """(epoch the first instance was indexed, epoch its first frame rendered, note)."""
    session = requests.Session()
    session.auth = server.auth
    qido = f"{server.url}/dicomweb/studies/{study}/instances"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            answer = session.get(
                qido, params={"limit": "1"}, headers={"Accept": "application/dicom+json"}
            )
            if answer.status_code == 200 and answer.content and answer.json():
                indexed = time.time()
                found = answer.json()[0]
                series = found["0020000E"]["Value"][0]
                sop = found["00080018"]["Value"][0]
                path = (
                    f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/frames/1/rendered"
                )
                image = session.get(server.url + path, headers={"Accept": "image/jpeg"})
                if image.status_code != 200 or not image.content:
                    return indexed, None, f"first frame: HTTP {image.status_code}"
                return indexed, time.time(), ""
            if answer.status_code not in (200, 204):
                return None, None, f"QIDO-RS: HTTP {answer.status_code}: {answer.text[:80]}"
            if queue.poll() is not None:
                return None, None, "the retrieve ended before any instance was seen"
            time.sleep(POLL_SECONDS)
        return None, None, "no instance within the time limit"
    finally:
        session.close()


# --- report -------------------------------------------------------------------------------------


def median_timing(timings: Sequence[Timing]) -> Timing:
    """The round with the median time (a real round, so its counts and notes stay true)."""
    complete = [t for t in timings if t.seconds is not None and not t.note]
    if not complete:
        return timings[0] if timings else Timing(note="no rounds")
    ranked = sorted(complete, key=lambda t: t.seconds or 0.0)
    chosen = ranked[(len(ranked) - 1) // 2]
    if len(complete) > 1:
        chosen.note = "rounds: " + ", ".join(f"{t.seconds:.2f}" for t in complete) + " s"
    return chosen


def _seconds(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def table(rows: Sequence[tuple[str, Timing]], reference: Timing, count: int) -> str:
    header = (
        "retrieve (median round)",
        "seconds",
        "inst/s",
        "÷ Orthanc→storescp",
        "target",
        "receiver CPU s",
        "Orthanc CPU s",
    )
    lines = [header]
    notes = []
    for name, timing in rows:
        rate = (
            f"{timing.instances / timing.seconds:.1f}"
            if timing.seconds and timing.instances
            else "-"
        )
        ratio, target = "-", ""
        if name.startswith("ours") and timing.seconds and reference.seconds:
            value = timing.seconds / reference.seconds
            ratio = f"{value:.2f}"
            target = f"≤ {TARGET:g}: {'met' if value <= TARGET else 'NOT met'}"
        lines.append(
            (
                name,
                _seconds(timing.seconds),
                rate,
                ratio,
                target,
                _seconds(timing.cpu),
                _seconds(timing.pacs_cpu),
            )
        )
        extra = []
        if timing.instances and timing.instances != count:
            extra.append(f"received {timing.instances} of {count}")
        if timing.pickup is not None:
            extra.append(f"worker pickup {timing.pickup:.2f} s")
        if timing.first_stored is not None and timing.last_stored is not None:
            extra.append(
                f"first instance indexed {timing.first_stored:.2f} s, last "
                f"{timing.last_stored:.2f} s after queueing"
            )
        if timing.note:
            extra.append(timing.note)
        if extra:
            notes.append(f"note [{name}]: {'; '.join(extra)}")
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(w) for cell, w in zip(line[1:], widths[1:], strict=True)]
        out.append("  ".join(cells).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out + notes)


def first_image_lines(rows: Sequence[tuple[str, Timing]]) -> str:
    out = ["time to first image while the retrieve runs (from queueing)"]
    for name, timing in rows:
        if timing.first_rendered is None:
            out.append(f"  {name}: - ({timing.note or 'not measured'})")
            continue
        out.append(
            f"  {name}: first instance in QIDO-RS after {timing.first_indexed:.2f} s, "
            f"its first frame rendered after {timing.first_rendered:.2f} s "
            f"(whole study {_seconds(timing.seconds)} s; worker pickup {_seconds(timing.pickup)} s)"
        )
    return "\n".join(out)


# --- main -------------------------------------------------------------------------------------


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench retrieve", description=__doc__)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--no-orthanc", action="store_true")
    args = parser.parse_args(argv)
    if args.slices < 1 or args.rounds < 1:
        parser.error("--slices and --rounds must be positive")
    print("Retrieve (issue 5): our retrieve job vs Orthanc C-MOVE to DCMTK storescp")
    if args.no_orthanc:
        print("skipped: every row needs Orthanc as the PACS (--no-orthanc)")
        return 0
    missing = orthanc_missing() or (
        "" if shutil.which("movescu") and shutil.which("storescp") else "DCMTK is not installed"
    )
    if missing:
        print(f"skipped: {missing}")
        return 0
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-retrieve-"))
    try:
        print(f"Generating the demo CT: {args.slices} slices of {args.size}x{args.size} ...")
        files = write_ct_series(work / "ct", slices=args.slices, size=args.size)
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        study = str(dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
        listener_port, storescp_port = free_port(), free_port()
        modalities = {
            "viewer": (OUR_AE, "127.0.0.1", listener_port),
            "storescp": (STORESCP_AE, "127.0.0.1", storescp_port),
            "movescu": (MOVESCU_AE, "127.0.0.1", free_port()),
            "getscu": (GETSCU_AE, "127.0.0.1", free_port()),
        }
        results: dict[str, list[Timing]] = {"move": [], "get": [], "storescp": [], "getscu": []}
        watched: list[tuple[str, Timing]] = []
        with OrthancPeer(aet=ORTHANC_AE, modalities=modalities) as orthanc:
            print(f"Loading {len(files)} files ({megabytes:.0f} MB) into Orthanc ...")
            for path in files:
                orthanc.upload(path.read_bytes())
            limit = args.time_limit
            templates = {m: archive_template(work, orthanc, m) for m in ("move", "get")}
            runs = {
                "move": lambda: run_ours(
                    work, "move", orthanc, study, listener_port, limit, templates["move"]
                ),
                "get": lambda: run_ours(
                    work, "get", orthanc, study, listener_port, limit, templates["get"]
                ),
                "storescp": lambda: orthanc_to_storescp(orthanc, study, storescp_port, work, limit),
                "getscu": lambda: getscu_from_orthanc(orthanc, study, work, limit),
            }
            for index in range(args.rounds):
                print(f"Round {index + 1} of {args.rounds} ...")
                order = list(runs) if index % 2 == 0 else list(reversed(runs))
                for name in order:
                    results[name].append(runs[name]())
            print("First image while retrieving (C-MOVE, then C-GET) ...")
            for method in ("move", "get"):
                label = f"ours C-{method.upper()}"
                timing = run_ours(work, method, orthanc, study, listener_port, limit, None)
                watched.append((label, timing))
        reference = median_timing(results["storescp"])
        rows = [
            ("ours C-MOVE (Orthanc → our listener), queue→done", median_timing(results["move"])),
            ("ours C-GET (to our worker), queue→done", median_timing(results["get"])),
            ("Orthanc C-MOVE → DCMTK storescp (movescu)", reference),
            ("reference: DCMTK getscu C-GET from Orthanc", median_timing(results["getscu"])),
        ]
        print()
        print(
            f"Retrieve of the demo CT: {len(files)} instances ({megabytes:.0f} MB), "
            f"{args.rounds} rounds, TCP_NODELAY=1, loopback, {os.cpu_count()} CPUs, "
            f"{datetime.now():%Y-%m-%d}"
        )
        print(table(rows, reference, len(files)))
        print(first_image_lines(watched))
        print(f"bench took {time.perf_counter() - started:.0f} s")
        return 0
    except (OrthancError, ServerError, requests.RequestException) as exc:
        print(f"retrieve bench failed: {str(exc).splitlines()[0]}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
