"""Two versions of the server side by side on the window drag: ``python -m tests.bench.ws_ab
ROOT_A ROOT_B [--repeat N] [--orthanc]``.

Each ROOT is a checkout of this project (``git worktree add --detach /tmp/base HEAD`` makes
the "before" one); both serve one throw-away archive (the render benchmark's CT slice,
uploaded by STOW-RS), each with ``python -m viewerproject.serve`` run from its own ROOT and
this virtualenv. The window drag's ``view`` (``"preview": false``, tests/bench/ws_view.py)
is asked of A and B in turn, request by request, alternating which goes first, with a
``ping`` on each socket after it (and Orthanc REST's rendered frame with ``--orthanc``), so
a shared machine's load falls on both alike. Prints p25 / p50 / p75 / mean ms to the last
full-resolution tile.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import requests

from studies.demo.phantom import generate_ct_series, part10_bytes
from tests.bench.django_server import archive_environment, manage, new_archive
from tests.bench.ingest import multipart_related
from tests.bench.ws_view import ViewerSocket
from tests.peers.ports import free_port

PASSWORD = "bench-ab-password"


def serve(
    root: Path, var_dir: Path, log: Path, launcher: Path | None = None
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    start = [str(launcher)] if launcher is not None else ["-m", "viewerproject.serve"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, *start, "--host", "127.0.0.1", "--port", str(port)],
            cwd=root,
            env=archive_environment(var_dir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server of {root} exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return process, url
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server of {root} did not start")


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    q = statistics.quantiles(ms, n=4)
    return f"{q[0]:5.2f} / {q[1]:5.2f} / {q[2]:5.2f} / {statistics.fmean(ms):5.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--orthanc", action="store_true")
    parser.add_argument(
        "--launcher",
        type=Path,
        help="serve the LAST root with this script (same arguments as viewerproject.serve), "
        "e.g. one that installs a tracer and then runs viewerproject.serve",
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ws-ab-"))
    var_dir = new_archive(work, "var")
    manage(
        var_dir,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user('bench', password='{PASSWORD}')",
    )
    # The slice the render benchmark's window change uses (its warm CT: the last but one of
    # the 122-slice demo CT); a slice's detail sets its JPEG's size and encoding time.
    ds = list(generate_ct_series(slices=122))[-2]
    data = part10_bytes(ds)
    processes = []
    with ExitStack() as stack:
        try:
            urls = []
            for index, root in enumerate(args.roots):
                last = index == len(args.roots) - 1
                process, url = serve(
                    root.resolve(),
                    var_dir,
                    work / f"server{index}.log",
                    args.launcher if last else None,
                )
                processes.append(process)
                urls.append(url)
            body, content_type = multipart_related([data])
            answer = requests.post(
                urls[0] + "/dicomweb/studies",
                data=body,
                headers={"Content-Type": content_type},
                auth=("bench", PASSWORD),
                timeout=60,
            )
            answer.raise_for_status()
            rest = None
            if args.orthanc:
                from tests.peers.orthanc import OrthancPeer

                orthanc = stack.enter_context(OrthancPeer(aet="BENCH_AB"))
                oid = orthanc.upload(data)["ID"]
                rest = stack.enter_context(requests.Session())
                rest.auth = orthanc.auth
            sockets = [stack.enter_context(ViewerSocket(url, "bench", PASSWORD)) for url in urls]
            sop, study = str(ds.SOPInstanceUID), str(ds.StudyInstanceUID)
            for socket in sockets:
                socket.open_study(study)
                for warm in ((40, 350), (50, 360)):
                    socket.window_change(sop, ds.Rows, ds.Columns, warm, preview=False)
            times: list[list[float]] = [[] for _ in sockets]
            pings: list[list[float]] = [[] for _ in sockets]
            theirs: list[float] = []
            for i in range(args.repeat):
                order = list(range(len(sockets)))
                if i % 2:
                    order.reverse()
                window = (-100 + 7 * i, 400 + i)
                for k in order:
                    answer = sockets[k].window_change(
                        sop, ds.Rows, ds.Columns, window, preview=False
                    )
                    times[k].append(answer.full)
                    pings[k].append(sockets[k].ping())
                if rest is not None:
                    started = time.perf_counter()
                    got = rest.get(
                        f"{orthanc.url}/instances/{oid}/frames/0/rendered",
                        params={
                            "window-center": window[0],
                            "window-width": window[1],
                            "quality": 90,
                        },
                        headers={"Accept": "image/jpeg"},
                        timeout=30,
                    )
                    theirs.append(time.perf_counter() - started)
                    got.raise_for_status()
            print("ms to the last full-res tile: p25 / p50 / p75 / mean;  ping p50")
            for root, each, ping in zip(args.roots, times, pings, strict=True):
                print(
                    f"  {str(root):30s} {summary(each)}   ping {statistics.median(ping) * 1000:.2f}"
                )
            if theirs:
                print(f"  {'Orthanc REST':30s} {summary(theirs)}")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
