"""The scale-out deployment on one machine, every piece on loopback.

PostgreSQL (index and retrieve-job queue), Redis (channel layer), N ASGI servers (uvicorn,
``python -m viewerproject.serve``) behind nginx on one port, the DICOM listener and M retrieve
workers, all sharing one file store.
The same code and settings as a single process; only the environment differs
(``DATABASE_URL``, ``REDIS_URL``, ``DICOM_STORE_DIR``, one ``SECRET_KEY`` for all).

``make run-scaled`` runs ``python -m tests.services scaled``; the load generator and the
fault tests start a ``Deployment`` of their own in a temp directory.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.services import postgres, proxy, redis
from tests.services.postgres import PostgresCluster
from tests.services.processes import (
    Service,
    ServiceError,
    free_port,
    port_accepts,
    run_checked,
    wait_until,
)
from tests.services.proxy import Proxy
from tests.services.redis import RedisServer

REPO = Path(__file__).resolve().parents[2]
MANAGE = REPO / "manage.py"

# Variables of a test run that must not leak into the deployment's processes.
_SCRUBBED = ("PACS_TEST_DATABASE", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST")


def missing() -> str:
    """Why the deployment cannot run here ("" when it can)."""
    return "; ".join(r for r in (postgres.missing(), redis.missing(), proxy.missing()) if r)


@dataclass
class Login:
    username: str
    password: str


class Deployment:
    """Every process of the scale-out setup, rooted in one directory.

    ``root`` holds the PostgreSQL cluster, Redis, nginx's run directory, logs and (unless
    ``store_dir`` is given) the shared DICOM store. ``durable`` keeps PostgreSQL's fsync on.
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        asgi_servers: int = 2,
        retrieve_workers: int = 2,
        listener: bool = True,
        durable: bool = False,
        http_port: int | None = None,
        dicom_port: int | None = None,
        store_dir: Path | None = None,
        show_upstream: bool = False,
        env: dict[str, str] | None = None,
        login: Login | None = None,
    ) -> None:
        reason = missing()
        if reason:
            raise ServiceError(reason)
        self.temporary = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="viewer-scaled-")).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        # The postgres and nginx worker users must be able to walk into it.
        self.root.chmod(0o755)
        self.logs = self.root / "logs"
        self.store_dir = Path(store_dir or self.root / "store").resolve()
        self.http_port = http_port or free_port()
        self.dicom_port = dicom_port or free_port()
        self.asgi_ports = [free_port() for _ in range(asgi_servers)]
        self.login = login or Login("scaled-admin", secrets.token_urlsafe(12))
        self.extra_env = dict(env or {})
        self.pg = PostgresCluster(self.root / "postgres", durable=durable)
        self.redis = RedisServer(self.root / "redis")
        # No ASGI server (a listener-only deployment for ingest tests): no proxy either.
        self.proxy = (
            Proxy(self.root / "nginx", self.http_port, self.asgi_ports, show_upstream=show_upstream)
            if asgi_servers
            else None
        )
        self.asgi = [self._asgi_service(i, port) for i, port in enumerate(self.asgi_ports)]
        self.listener = (
            self._manage_service(
                "listener",
                "dicom_listener",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.dicom_port),
            )
            if listener
            else None
        )
        self.workers = [
            self._manage_service(
                f"retrieve-worker-{i + 1}",
                "retrieve_worker",
                "--name",
                f"worker-{i + 1}",
                "--poll",
                "0.5",
            )
            for i in range(retrieve_workers)
        ]

    # ------------------------------------------------------------------ environment

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}/ws/viewer/"

    def _secret_key(self) -> str:
        # One key for every process: a session signed by one ASGI server is valid on all.
        path = self.root / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(64))
            path.chmod(0o600)
        return path.read_text().strip()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "viewerproject.settings",
                "DJANGO_ENV": "development",
                "DATABASE_URL": self.pg.url(),
                "REDIS_URL": self.redis.url,
                "VAR_DIR": str(self.root / "var"),
                "DICOM_STORE_DIR": str(self.store_dir),
                "QUARANTINE_DIR": str(self.root / "quarantine"),
                "SECRET_KEY": self._secret_key(),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DICOM_BIND": "127.0.0.1",
                "DICOM_PORT": str(self.dicom_port),
                "DJANGO_SUPERUSER_USERNAME": self.login.username,
                "DJANGO_SUPERUSER_PASSWORD": self.login.password,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _asgi_service(self, index: int, port: int) -> Service:
        return Service(
            f"asgi-{index + 1}",
            # X-Forwarded-For/-Proto are believed from nginx on loopback only (the default).
            [
                sys.executable,
                "-m",
                "viewerproject.serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            self.logs / f"asgi-{index + 1}.log",
            env=None,  # filled in at start: the environment needs the database port
            cwd=REPO,
            stop_timeout=15,
        )

    def _manage_service(self, name: str, *command: str) -> Service:
        return Service(
            name,
            [sys.executable, MANAGE, *command],
            self.logs / f"{name}.log",
            cwd=REPO,
            stop_timeout=40,
        )

    def manage(self, *command: str, timeout: float = 600) -> str:
        """Run a management command to completion against this deployment."""
        return run_checked(
            [sys.executable, MANAGE, *command], env=self.env(), cwd=REPO, timeout=timeout
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self, demo: bool = False) -> Deployment:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.pg.start()
            self.redis.start()
            self.manage("migrate", "--noinput", "-v", "0")
            self.manage("ensure_admin")
            if demo:
                print("loading the demo studies (once; later runs skip it)", flush=True)
                self.manage("load_demo", timeout=1800)
            # Start every process, then wait for each: their imports overlap.
            for index in range(len(self.asgi)):
                self.start_asgi(index, wait=False)
            if self.listener is not None:
                self.start_listener(wait=False)
            for worker in self.workers:
                worker.env = self.env()
                worker.start()
            for index in range(len(self.asgi)):
                self.wait_asgi(index)
            if self.listener is not None:
                self.listener.wait_ready(lambda: port_accepts(self.dicom_port), 60)
            if self.proxy is not None:
                self.proxy.start()
        except BaseException:
            self.stop()
            raise
        return self

    def start_asgi(self, index: int, wait: bool = True) -> None:
        service = self.asgi[index]
        service.env = self.env()
        service.start()
        if wait:
            self.wait_asgi(index)

    def wait_asgi(self, index: int, timeout: float = 90) -> None:
        port = self.asgi_ports[index]
        self.asgi[index].wait_ready(lambda: _http_ok(f"http://127.0.0.1:{port}/healthz"), timeout)

    def start_listener(self, wait: bool = True) -> None:
        assert self.listener is not None
        self.listener.env = self.env()
        self.listener.start()
        if wait:
            self.listener.wait_ready(lambda: port_accepts(self.dicom_port), 60)

    def services(self) -> list[Service]:
        """Application processes (not PostgreSQL/Redis/nginx), in start order."""
        found = [*self.asgi]
        if self.listener is not None:
            found.append(self.listener)
        return found + self.workers

    def stop(self) -> None:
        """Stop everything, newest first; always safe to call again."""
        for service in reversed(self.services()):
            _quietly(service.stop)
        if self.proxy is not None:
            _quietly(self.proxy.stop)
        _quietly(self.redis.stop)
        _quietly(self.pg.stop, remove=False)

    def close(self) -> None:
        """Stop, and remove the directory when it was a temp one."""
        self.stop()
        if self.temporary:
            import shutil

            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Deployment:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def wait_healthy(self, timeout: float = 60) -> None:
        wait_until(
            lambda: _http_ok(f"{self.base_url}/healthz"), timeout, "the deployment's /healthz"
        )


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback URL)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _quietly(action, *args, **kwargs) -> None:
    try:
        action(*args, **kwargs)
    except Exception as exc:
        print(f"stop: {exc}", file=sys.stderr)
