"""Command line for the local services.

    python -m tests.services run -- COMMAND...
        A temp PostgreSQL cluster and Redis for the length of COMMAND, which gets
        DATABASE_URL and REDIS_URL (``make test`` runs its second pass this way).
    python -m tests.services scaled [--port 8000] [--dicom-port 11112] [--no-demo]
        The whole scale-out setup in the foreground until Ctrl-C (``make run-scaled``).

Ctrl-C or SIGTERM stops every child in order; nothing is left running.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.services.postgres import PostgresCluster
from tests.services.processes import REGISTRY, ServiceError, tail
from tests.services.redis import RedisServer
from tests.services.scaled import REPO, Deployment

# A crashed application process is started again, as a process supervisor would, this
# many times before the launcher gives up on it.
MAX_RESTARTS = 3


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def run_with_services(command: list[str]) -> int:
    if not command:
        print("usage: python -m tests.services run -- COMMAND...", file=sys.stderr)
        return 2
    pg = PostgresCluster()
    cache = RedisServer()
    try:
        pg.start()
        cache.start()
        env = dict(os.environ, DATABASE_URL=pg.url(), REDIS_URL=cache.url)
        print(f"services: DATABASE_URL={pg.url()} REDIS_URL={cache.url}", flush=True)
        child = subprocess.Popen(command, env=env)
        # The terminal's Ctrl-C reaches the child too (same process group); we only wait
        # for it to finish, then stop the services.
        signal.signal(signal.SIGINT, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
        return child.wait()
    finally:
        cache.close()
        pg.stop()


def run_scaled(port: int, dicom_port: int, demo: bool, var_dir: Path) -> int:
    stop = _stop_on_signals()
    deployment = Deployment(
        var_dir / "scaled",
        durable=True,
        http_port=port,
        dicom_port=dicom_port,
        store_dir=var_dir / "scaled" / "store",
    )
    login = deployment.login
    credentials = deployment.root / "admin-credentials"
    if credentials.exists():
        # The administrator made on the first run keeps its password.
        login.username, login.password = credentials.read_text().split("\n")[:2]
    else:
        credentials.parent.mkdir(parents=True, exist_ok=True)
        credentials.write_text(f"{login.username}\n{login.password}\n")
        credentials.chmod(0o600)
    try:
        deployment.start(demo=demo)
    except ServiceError as exc:
        print(f"run-scaled: {exc}", file=sys.stderr)
        return 1
    print(
        "\n".join(
            [
                "",
                f"Viewer:         {deployment.base_url}/  (nginx over "
                f"{len(deployment.asgi)} uvicorn processes on ports "
                f"{', '.join(map(str, deployment.asgi_ports))})",
                f"Log in as:      {login.username} / {login.password}  (kept in {credentials})",
                f"DICOM listener: AE {os.environ.get('DICOM_AE_TITLE', 'DICOMVIEWER')} "
                f"on 127.0.0.1:{deployment.dicom_port}",
                f"Workers:        {len(deployment.workers)} retrieve workers",
                f"PostgreSQL:     {deployment.pg.url()}",
                f"Redis:          {deployment.redis.url}",
                f"Logs:           {deployment.logs}",
                "Ctrl-C stops everything.",
            ]
        ),
        flush=True,
    )
    restarts: dict[str, int] = {}
    code = 0
    try:
        while not stop.wait(1.0):
            for service in deployment.services():
                if service.running():
                    continue
                count = restarts.get(service.name, 0)
                print(f"{service.name} stopped unexpectedly:\n{tail(service.log_path, 10)}")
                if count >= MAX_RESTARTS:
                    print(f"{service.name} failed {count} times; stopping everything")
                    code = 1
                    stop.set()
                    break
                restarts[service.name] = count + 1
                if service in deployment.asgi:
                    deployment.start_asgi(deployment.asgi.index(service))
                elif service is deployment.listener:
                    deployment.start_listener()
                else:
                    service.start()
    finally:
        print("stopping...", flush=True)
        deployment.stop()
    return code


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.services")
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="run a command with a temp PostgreSQL and Redis")
    run.add_argument("command", nargs=argparse.REMAINDER)
    scaled = sub.add_parser("scaled", help="the scale-out setup in the foreground")
    scaled.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    scaled.add_argument(
        "--dicom-port", type=int, default=int(os.environ.get("DICOM_PORT", "11112"))
    )
    scaled.add_argument("--no-demo", action="store_true", help="do not load the demo studies")
    scaled.add_argument("--var-dir", type=Path, default=Path(os.environ.get("VAR_DIR", "")))
    args = parser.parse_args(argv)
    try:
        if args.action == "run":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            return run_with_services(command)
        var_dir = (args.var_dir if str(args.var_dir) not in ("", ".") else REPO / "var").resolve()
        return run_scaled(args.port, args.dicom_port, not args.no_demo, var_dir)
    except ServiceError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1
    finally:
        REGISTRY.stop_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
