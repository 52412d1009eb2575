"""``make load``: simulated radiologists and modalities against the scale-out setup.

    python -m tests.load [--viewers 20] [--senders 2] [--duration 60] [--json FILE]

Starts a private deployment (tests/services/scaled.py: PostgreSQL, Redis, nginx over two
uvicorn processes, the DICOM listener, two retrieve workers) in a temp directory, seeds phantom
CT studies through C-STORE, then for ``--duration`` seconds:

- each viewer holds a websocket through nginx, opens a study and reads it as today's browser
  does (tests/load/reader.py): one ``previews`` request per stack and settings, wheel steps
  at ``--fps`` in bursts drawn from the previews it holds, the sharp ``view`` once scrolling
  rests 120 ms, at most one view in flight, a window change now and then;
- each sender stores new instances into a viewed study at ``--store-rate`` per second, so the
  viewers also receive live ``instance_stored`` events over Redis.

Two latencies, as the reader sees them (reader.py): ``step_latency``, from a wheel step to a
picture of that slice on screen (0 when its preview is held; infinite when the reader scrolled
on before any came), and ``sharp_latency``, from the view of the slice the reader rests on to
its last full-resolution tile (infinite when the rest ended without it); ``sharp_from_stop``
adds the browser's deliberate 120 ms rest. The 100 ms target is judged on both step and
sharp latency: the step is what a scrolling clinician sees, the sharp frame is the server's
answer once they stop; the rest before it is the browser's choice, reported, not judged.
Memory is the PSS of each service's process group, sampled through the run. Everything runs
on 127.0.0.1, every loop is bounded by the deadline, and the deployment is stopped on exit
or Ctrl-C.

Exit status 1 when a target is missed: any error, p95 step or sharp latency over
``--p95-target-ms`` (closed loop: frame latency),
or ASGI memory growing more than ``--memory-growth`` over the measured phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import threading
import time
from dataclasses import dataclass, field

from tests.load import memory
from tests.load.client import LoginFailed, Socket, ViewError, login, series_instances
from tests.load.reader import Pace, run_reader
from tests.load.senders import CALLING_AE, Sender, seed_studies
from tests.load.stats import summary_ms
from tests.services.processes import REGISTRY, ServiceError
from tests.services.scaled import Deployment

# Window presets a reader flips between (centre, width in HU).
WINDOWS = [[40, 400], [-600, 1500], [400, 1800], [50, 150], None]
CALLED_AE = os.environ.get("DICOM_AE_TITLE", "DICOMVIEWER")


@dataclass
class ViewerResult:
    frames: list[float] = field(default_factory=list)  # view -> last tile, seconds
    previews: list[float] = field(default_factory=list)  # view -> preview
    errors: list[str] = field(default_factory=list)
    events: int = 0  # instance_stored messages received
    upstream: str = ""


async def run_viewer(
    number: int,
    deployment: Deployment,
    cookie: str,
    study_uid: str,
    fps: float,
    window_every: int,
    measure_from: float,
    deadline: float,
) -> ViewerResult:
    result = ViewerResult()
    rng = random.Random(number)
    period = 1.0 / fps
    try:
        socket = await Socket.open(deployment.ws_url, deployment.base_url, cookie)
    except Exception as exc:
        result.errors.append(f"connect: {type(exc).__name__}: {exc}")
        return result
    result.upstream = socket.upstream
    try:
        study = await socket.open_study(study_uid)
        instances = series_instances(study)
        index = rng.randrange(len(instances))
        step = 1
        window = None
        frames = 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            frames += 1
            if frames % window_every == 0:
                window = rng.choice(WINDOWS)  # window change: same slice, new rendering
            else:
                if not 0 <= index + step < len(instances):
                    step = -step  # scroll back the other way at either end
                index += step
            target = instances[index]
            try:
                timing = await socket.view(
                    target["uid"],
                    target["rows"],
                    target["columns"],
                    window=window,
                    timeout=max(1.0, min(10.0, deadline + 10 - time.monotonic())),
                )
            except ViewError as exc:
                result.errors.append(f"view: {exc}")
                continue
            except TimeoutError:
                result.errors.append("view: no complete frame within 10 s")
                continue
            if started >= measure_from:
                result.frames.append(timing.complete)
                result.previews.append(timing.preview)
            await asyncio.sleep(max(0.0, started + period - time.monotonic()))
    except Exception as exc:
        result.errors.append(f"socket: {type(exc).__name__}: {exc}")
    finally:
        result.events = len(socket.events)
        await socket.close()
    return result


async def warm_study(deployment: Deployment, cookie: str, study_uid: str) -> set[str]:
    """View every slice of a study once, as a reader opening it would (fills the caches of
    the ASGI server the socket reached); returns that server's name."""
    socket = await Socket.open(deployment.ws_url, deployment.base_url, cookie)
    try:
        study = await socket.open_study(study_uid)
        for instance in series_instances(study):
            await socket.view(instance["uid"], instance["rows"], instance["columns"])
    finally:
        await socket.close()
    return {socket.upstream}


async def warm_everywhere(deployment: Deployment, cookie: str, study_uid: str, servers: int):
    """Warm the study on every ASGI server (readers switch studies, nginx spreads sockets):
    the measured phase then starts with the working set in the caches, so memory growing
    after it is growth, not first fill. Bounded: at most 4 sockets per server."""
    reached: set[str] = set()
    for _ in range(4 * servers):
        reached |= await warm_study(deployment, cookie, study_uid)
        if len(reached) >= servers or "" in reached:
            break


class MemorySampler(threading.Thread):
    def __init__(self, groups: dict[str, int | None], interval: float = 2.0) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.groups = groups
        self.interval = interval
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.samples.append((time.monotonic(), memory.snapshot(self.groups)))
            self.stop_event.wait(self.interval)


def _groups(deployment: Deployment) -> dict[str, int | None]:
    groups = {service.name: service.pid for service in deployment.services()}
    groups["postgres"] = deployment.pg.service.pid if deployment.pg.service else None
    groups["redis"] = deployment.redis.service.pid if deployment.redis.service else None
    proxy = deployment.proxy
    groups["nginx"] = proxy.service.pid if proxy and proxy.service else None
    return groups


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _asgi_total(snapshot: dict[str, float]) -> float:
    return round(sum(v for k, v in snapshot.items() if k.startswith("asgi-")), 1)


async def load_phase(args, deployment, cookies, studies, deadline, measure_from):
    if args.closed_loop:
        tasks = [
            run_viewer(
                number,
                deployment,
                cookies[number],
                studies[number % len(studies)].study_uid,
                args.fps,
                args.window_every,
                measure_from,
                deadline,
            )
            for number in range(args.viewers)
        ]
    else:
        pace = Pace(
            fps=args.fps,
            burst=(args.burst[0], args.burst[1]),
            pause=(args.pause[0], args.pause[1]),
            switch_every=args.switch_every,
        )
        uids = [study.study_uid for study in studies]
        tasks = [
            run_reader(
                deployment.ws_url,
                deployment.base_url,
                cookies[number],
                studies[number % len(studies)].study_uid,
                pace,
                number,
                measure_from,
                deadline,
                uids,
            )
            for number in range(args.viewers)
        ]
    return await asyncio.gather(*tasks)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__)
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--store-rate", type=float, default=4.0, help="instances/s per sender")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=10.0, help="unmeasured seconds first")
    parser.add_argument("--fps", type=float, default=10.0, help="scroll steps/s in a burst")
    parser.add_argument("--burst", type=int, nargs=2, default=[6, 20], metavar=("MIN", "MAX"))
    parser.add_argument("--pause", type=float, nargs=2, default=[0.5, 2.5], metavar=("MIN", "MAX"))
    parser.add_argument(
        "--closed-loop",
        action="store_true",
        help="each viewer waits for a whole frame before the next, at up to --fps, no pauses",
    )
    parser.add_argument("--window-every", type=int, default=8, help="closed loop only")
    parser.add_argument(
        "--switch-every", type=int, default=4, help="bursts per study before the next (0: never)"
    )
    parser.add_argument("--studies", type=int, default=4)
    parser.add_argument("--slices", type=int, default=48)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--asgi-servers", type=int, default=2)
    parser.add_argument("--p95-target-ms", type=float, default=100.0)
    parser.add_argument(
        "--memory-growth", type=float, default=0.10, help="allowed ASGI growth, fraction"
    )
    parser.add_argument("--json", help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the deployment's directory")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="setting for every server process (e.g. IMAGING_WORKERS=2); repeatable",
    )
    args = parser.parse_args(argv)
    if not (1 <= args.viewers <= 200 and 0 <= args.senders <= 20 and args.duration <= 1800):
        parser.error("bounded on purpose: 1-200 viewers, 0-20 senders, at most 1800 s")

    extra_env = dict(item.split("=", 1) for item in args.env)
    deployment = Deployment(asgi_servers=args.asgi_servers, show_upstream=True, env=extra_env)
    sampler: MemorySampler | None = None
    stop_senders = threading.Event()
    try:
        started = time.monotonic()
        deployment.start()
        deployment.manage("pacs", "allow", CALLING_AE, "--host", "127.0.0.1")
        print(f"deployment up in {time.monotonic() - started:.1f} s at {deployment.base_url}")
        started = time.monotonic()
        studies = seed_studies(
            "127.0.0.1", deployment.dicom_port, CALLED_AE, args.studies, args.slices, args.size
        )
        seeded = sum(len(s.instances) for s in studies)
        print(f"seeded {seeded} instances in {time.monotonic() - started:.1f} s")
        cookies = [
            login(deployment.base_url, deployment.login.username, deployment.login.password)
            for _ in range(args.viewers)
        ]
        groups = _groups(deployment)
        idle = memory.snapshot(groups)

        # Memory per open study: open each study on one socket, view every slice once.
        for study in studies:
            asyncio.run(warm_everywhere(deployment, cookies[0], study.study_uid, args.asgi_servers))
        warmed = memory.snapshot(groups)
        # Every study warmed on every server: per study and server.
        per_study = (_asgi_total(warmed) - _asgi_total(idle)) / len(studies) / args.asgi_servers
        print(
            f"memory per open study and server ({args.slices} slices of {args.size}²): "
            f"{per_study:.1f} MiB (ASGI {_asgi_total(idle)} -> {_asgi_total(warmed)} MiB)"
        )

        load_before = os.getloadavg()
        cpu_before = memory.cpu(groups)
        own_before = _own_cpu()
        sampler = MemorySampler(groups)
        sampler.start()
        now = time.monotonic()
        measure_from = now + args.warmup
        deadline = measure_from + args.duration
        senders = [
            Sender(
                "127.0.0.1",
                deployment.dicom_port,
                CALLED_AE,
                studies[i % len(studies)],
                args.store_rate,
                deadline,
                stop_senders,
                number=i,
            )
            for i in range(args.senders)
        ]
        for sender in senders:
            sender.start()
        print(
            f"{args.viewers} viewers scrolling at {args.fps:g} slices/s "
            f"({'closed loop' if args.closed_loop else 'in bursts, with pauses'}) and "
            f"{args.senders} "
            f"C-STORE senders at {args.store_rate:g}/s for {args.warmup:g} + "
            f"{args.duration:g} s"
        )
        results = asyncio.run(
            asyncio.wait_for(
                load_phase(args, deployment, cookies, studies, deadline, measure_from),
                args.warmup + args.duration + 120,
            )
        )
        stop_senders.set()
        for sender in senders:
            sender.join(timeout=60)
        sampler.stop_event.set()
        sampler.join(timeout=10)
        cpu_used = {k: v - cpu_before.get(k, 0.0) for k, v in memory.cpu(groups).items()}
        report = _report(args, deployment, results, senders, sampler, studies, per_study)
        report["cpu_seconds"] = {k: round(v, 1) for k, v in cpu_used.items()}
        # This process (viewers and senders) shares the two cores with the servers.
        report["cpu_seconds"]["load_generator"] = round(_own_cpu() - own_before, 1)
        served = sum(1 for r in results for t in r.frames if t != float("inf"))
        asgi_cpu = sum(v for k, v in cpu_used.items() if k.startswith("asgi-"))
        # Warm-up frames are served too but not counted in `served`: an upper bound.
        report["asgi_cpu_ms_per_frame"] = round(1000 * asgi_cpu / served, 1) if served else None
        # The load generator shares the machine; other work on it shows here.
        report["load_average_before_after"] = [
            round(load_before[0], 2),
            round(os.getloadavg()[0], 2),
        ]
    except (ServiceError, LoginFailed) as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 2
    finally:
        stop_senders.set()
        if sampler is not None:
            sampler.stop_event.set()
        if args.keep:
            deployment.stop()
            print(f"kept {deployment.root} (logs in {deployment.logs})")
        else:
            deployment.close()
        REGISTRY.stop_all()

    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    missed = [name for name, ok in report["targets"].items() if not ok]
    print("targets: " + ("all met" if not missed else "MISSED " + ", ".join(missed)))
    return 1 if missed else 0


def _report(args, deployment, results, senders, sampler, studies, per_study) -> dict:
    frames = [t for r in results for t in r.frames]
    previews = [t for r in results for t in getattr(r, "previews", [])]
    view_errors = [e for r in results for e in r.errors]
    store_errors = [e for s in senders for e in s.stats.errors]
    stored = sum(s.stats.sent for s in senders)
    expected = sum(len(s.instances) for s in studies) + stored
    indexed = int(deployment.pg.execute("SELECT count(*) FROM studies_instance")[0][0])
    samples = sampler.samples
    # Memory "start" is the first sample after the warm-up, so caches filling while every
    # viewer first reaches its study is not counted as growth.
    measure_from = samples[0][0] + args.warmup if samples else 0
    measured = [s for t, s in samples if t >= measure_from] or [s for _, s in samples]
    start, end = measured[0], measured[-1]
    peak = {k: max(s.get(k, 0) for s in measured) for k in start}
    asgi_start, asgi_end = _asgi_total(start), _asgi_total(end)
    growth = (asgi_end - asgi_start) / asgi_start if asgi_start else 0.0
    frame_stats = summary_ms(frames)
    steps = [t for r in results for t in getattr(r, "steps", [])]
    from_stop = [t for r in results for t in getattr(r, "sharp_from_stop", [])]
    step_stats = summary_ms(steps)
    upstreams = sorted({r.upstream for r in results if r.upstream})
    return {
        "viewers": args.viewers,
        "mode": "closed loop" if args.closed_loop else "reader (browser-like, latest wins)",
        "scroll_fps": args.fps,
        "burst_slices": args.burst,
        "pause_s": args.pause,
        "env": dict(item.split("=", 1) for item in args.env),
        "asgi_servers": args.asgi_servers,
        "upstreams_used": upstreams,
        "duration_s": args.duration,
        # Reader mode: wheel step -> slice on screen; view at rest -> last tile (and from the
        # reader's stop, with the browser's 120 ms rest). Closed loop: view -> last tile.
        "step_latency": step_stats,
        "sharp_latency" if not args.closed_loop else "frame_latency": frame_stats,
        "sharp_from_stop": summary_ms(from_stop),
        "preview_latency": summary_ms(previews),
        "views": sum(getattr(r, "views", 0) or len(r.frames) for r in results),
        "studies_opened": sum(getattr(r, "studies_opened", 0) for r in results),
        "outline_refreshes": sum(getattr(r, "outline_refreshes", 0) for r in results),
        "previews_requests": sum(getattr(r, "previews_requests", 0) for r in results),
        # Views replaced by a newer one while the last was unanswered (never sent, as in
        # the browser's pacer).
        "views_replaced_before_sending": sum(getattr(r, "held", 0) for r in results),
        "steps_stale": sum(1 for t in steps if t == float("inf")),
        "steps_per_second": round(sum(1 for t in steps if t != float("inf")) / args.duration, 1),
        "sharp_missed": sum(1 for t in frames if t == float("inf")),
        "sharp_frames_per_second": round(
            sum(1 for t in frames if t != float("inf")) / args.duration, 1
        ),
        "view_errors": len(view_errors),
        "view_error_examples": view_errors[:5],
        "instance_stored_events": sum(r.events for r in results),
        "cstore": {
            "sent": stored,
            "failed": sum(s.stats.failed for s in senders),
            "per_second": round(stored / args.duration, 1),
            "errors": store_errors[:5],
            **summary_ms([t for s in senders for t in s.stats.latencies]),
        },
        "instances_indexed": indexed,
        "instances_expected": expected,
        "memory_mib": {"start": start, "end": end, "peak": peak},
        "asgi_memory_mib": {"start": asgi_start, "end": asgi_end, "growth": round(growth, 3)},
        "memory_per_open_study_mib": round(per_study, 1),
        "memory_per_viewed_slice_mib": round(per_study / args.slices, 2),
        "targets": {
            "p95_sharp_latency": frame_stats["p95_ms"] <= args.p95_target_ms,
            "p95_step_latency": args.closed_loop or step_stats["p95_ms"] <= args.p95_target_ms,
            "zero_errors": not view_errors and not store_errors and indexed == expected,
            "memory_flat": growth <= args.memory_growth,
        },
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
