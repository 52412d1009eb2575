"""uvicorn against Daphne on the same work: ``python -m tests.bench.asgi_servers``.

Both serve the same CT series (each its own archive, loaded by STOW-RS), at once; every row
alternates its requests between them, so a shared machine's load falls on both alike. What
is compared is the server process's CPU per answer (/proc, all its threads), which that load
hardly moves; latencies and frames per second are printed too but swing with the machine.

- HTTP, one client: an instance's metadata, a first render, a warm window change, a thumbnail.
- HTTP, two clients re-rendering CT frames with a new window each time, in alternating runs.
- The viewer socket (tests/load/client.py, as a browser speaks it): whole 512² frames at scale
  1 (a preview and four tiles) and 0.5 (one tile), a new window each time, then the next slice.

Kept to reproduce the measurement behind the switch to uvicorn (viewerproject/serve.py).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

import requests

from studies.demo.phantom import write_ct_series
from tests.bench.django_server import SERVERS, DjangoServer, ServerError
from tests.bench.ingest import Measurement, batches, multipart_related
from tests.bench.render import (
    Image,
    Plan,
    Request,
    Timed,
    api,
    http_rate,
    image_of,
    measure,
    ours,
    process_cpu_seconds,
    side_by_side,
)
from tests.load.client import Socket, login, series_instances


def start(stack: ExitStack, work: Path, server: str, files: list[Path]) -> DjangoServer:
    running = stack.enter_context(DjangoServer(work / server, server=server))
    session = stack.enter_context(requests.Session())
    session.auth = running.auth
    for group in batches([p.read_bytes() for p in files], 10):
        body, content_type = multipart_related(group)
        answer = session.post(
            running.url + "/dicomweb/studies",
            data=body,
            headers={"Content-Type": content_type},
            timeout=300,
        )
        if answer.status_code != 200:
            raise ServerError(f"STOW-RS: HTTP {answer.status_code}: {answer.text[:200]}")
    return running


def http_rows(ct: list[Image], repeat: int) -> list[tuple[str, list[Request]]]:
    warm = ct[-1]
    return [
        ("metadata, no pixels", [Request(warm, kind="metadata")] * repeat),
        ("CT 512² first render", [Request(i) for i in ct[:repeat]]),
        ("CT 512² new window (warm)", [Request(warm, (-100 + 20 * i, 400)) for i in range(repeat)]),
        ("thumbnail (cold)", [Request(i, kind="thumbnail") for i in ct[repeat : 2 * repeat]]),
    ]


def cell(result: Measurement) -> str:
    cpu = result.cpu_ms_per_request() if isinstance(result, Timed) else None
    p50 = result.percentile_ms(0.5)
    if cpu is None or p50 is None:
        return f"failed: {result.note}"
    return f"{cpu:6.2f} ms CPU  p50 {p50:6.1f} ms"


async def socket_rows(
    servers: dict[str, DjangoServer], study: str, views: int
) -> list[tuple[str, dict[str, str]]]:
    sockets = {}
    for name, server in servers.items():
        cookie = login(server.url, *server.auth)
        socket = await Socket.open("ws" + server.url[4:] + "/ws/viewer/", server.url, cookie)
        sockets[name] = (socket, series_instances(await socket.open_study(study)))
    kinds: list[tuple[str, Callable[[int], list[float] | None], float]] = [
        ("frame at scale 1, new window", lambda i: [40 + 3 * i, 400], 1.0),
        ("frame at scale 0.5, new window", lambda i: [41 + 3 * i, 350], 0.5),
        ("next slice at scale 1", lambda i: None, 1.0),
    ]
    rows = []
    try:
        for label, window, scale in kinds:
            cpu = {name: 0.0 for name in servers}
            seconds: dict[str, list[float]] = {name: [] for name in servers}
            tiles = 0
            for step in range(views):
                for name, server in servers.items():
                    socket, instances = sockets[name]
                    instance = instances[step % len(instances)]
                    assert server.process is not None
                    before = process_cpu_seconds(server.process.pid)
                    timing = await socket.view(
                        instance["uid"],
                        instance["rows"],
                        instance["columns"],
                        window=window(step),
                        scale=scale,
                    )
                    cpu[name] += process_cpu_seconds(server.process.pid) - before
                    seconds[name].append(timing.complete)
                    tiles = timing.tiles
            rows.append(
                (
                    f"{label} ({tiles} tile{'s' if tiles != 1 else ''}), n={views}",
                    {
                        name: f"{1000 * cpu[name] / views:6.2f} ms CPU  "
                        f"p50 {1000 * statistics.median(seconds[name]):6.1f} ms"
                        for name in servers
                    },
                )
            )
    finally:
        for socket, _ in sockets.values():
            await socket.close()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.asgi_servers", description=__doc__)
    parser.add_argument("--repeat", type=int, default=30, help="requests per HTTP row")
    parser.add_argument("--views", type=int, default=100, help="views per socket row")
    parser.add_argument("--fps-seconds", type=float, default=5.0, help="one two-client run")
    parser.add_argument("--rounds", type=int, default=4, help="two-client runs per server")
    args = parser.parse_args(argv)
    if min(args.repeat, args.views, args.rounds) < 1 or args.fps_seconds <= 0:
        parser.error("--repeat, --views, --rounds and --fps-seconds must be positive")

    work = Path(tempfile.mkdtemp(prefix="bench-asgi-"))
    try:
        files = write_ct_series(work / "ct", slices=2 * args.repeat + 1, size=512)
        ct = [image_of(p) for p in files]
        print(f"{', '.join(SERVERS)}: {len(files)} CT slices each, by STOW-RS ...")
        with ExitStack() as stack:
            servers = {name: start(stack, work, name, files) for name in SERVERS}
            apis = {}
            for name, server in servers.items():
                assert server.process is not None
                apis[name] = api(stack, server.url, server.auth, ours, server.process.pid)
                measure(apis[name], [Request(ct[-1]), Request(ct[-1], kind="metadata")])

            header = f"{'':56s}" + "".join(f"{name:32s}" for name in SERVERS)
            print(f"\nServer CPU per answer (and latency), requests alternating\n{header}")
            for label, asked in http_rows(ct, args.repeat):
                results = side_by_side([(apis[name], asked) for name in SERVERS])
                line = "".join(f"{cell(r):32s}" for r in results)
                print(f"HTTP {label}, n={len(asked)}".ljust(56) + line)

            plan = Plan([], [], fps_clients=(ct[: args.repeat], ct[args.repeat : 2 * args.repeat]))
            totals = {name: [0, 0.0, 0.0] for name in SERVERS}
            for round_ in range(args.rounds):
                for name in SERVERS if round_ % 2 == 0 else SERVERS[::-1]:
                    server = servers[name]
                    assert server.process is not None
                    before = process_cpu_seconds(server.process.pid)
                    rate = http_rate(server.url, server.auth, ours, plan, args.fps_seconds)
                    totals[name][0] += rate.stored
                    totals[name][1] += rate.seconds
                    totals[name][2] += process_cpu_seconds(server.process.pid) - before
            line = "".join(
                f"{1000 * cpu / max(done, 1):6.2f} ms CPU  {done / elapsed:5.1f} frames/s     "
                for done, elapsed, cpu in totals.values()
            )
            print(f"HTTP two clients, {args.rounds}×{args.fps_seconds:g} s".ljust(56) + line)

            for label, cells in asyncio.run(socket_rows(servers, ct[0].study, args.views)):
                line = "".join(f"{cells[name]:32s}" for name in SERVERS)
                print(f"socket {label}".ljust(56) + line)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
