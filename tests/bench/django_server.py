"""Our own server for benchmarks and browser tests: a throw-away archive, migrated, with one
user, served by ``python -m viewerproject.serve`` (uvicorn, as deployed) on a free loopback
port; ``server="daphne"`` serves it with Daphne instead, to compare the two
(tests/bench/asgi_servers.py)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.peers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
# Variables that would point a benchmark at a real database, store or channel layer.
_INHERITED_TARGETS = (
    "DATABASE_URL",
    "REDIS_URL",
    "DICOM_STORE_DIR",
    "QUARANTINE_DIR",
    "SECRET_KEY",
    "DJANGO_SETTINGS_MODULE",
)


class ServerError(RuntimeError):
    pass


def archive_environment(var_dir: Path) -> dict[str, str]:
    """Environment for a manage.py process that may only touch ``var_dir``."""
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_TARGETS}
    env.update(
        VAR_DIR=str(var_dir),
        DJANGO_ENV="development",
        DJANGO_SETTINGS_MODULE="viewerproject.settings",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(var_dir: Path, *args: str, timeout: float = 120, **env: str) -> str:
    """Run ``manage.py`` against the archive in ``var_dir``; its stdout, or ServerError."""
    environment = archive_environment(var_dir)
    environment.update(env)
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise ServerError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def new_archive(parent: Path, name: str) -> Path:
    var_dir = parent / name
    var_dir.mkdir(parents=True)
    manage(var_dir, "migrate", "--noinput", "-v", "0")
    return var_dir


SERVERS = ("uvicorn", "daphne")


def server_command(server: str, port: int) -> list[str]:
    """The command that serves the archive on ``127.0.0.1:port`` with ``server``."""
    if server == "daphne":
        return [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "-v",
            "0",  # no access log, as uvicorn
            "viewerproject.asgi:application",
        ]
    return [sys.executable, "-m", "viewerproject.serve", "--host", "127.0.0.1", "--port", str(port)]


class DjangoServer:
    """``with DjangoServer(tmp) as server: server.url, server.auth``."""

    username = "bench"

    def __init__(
        self, parent: Path | None = None, startup_timeout: float = 60, server: str = "uvicorn"
    ) -> None:
        if server not in SERVERS:
            raise ValueError(f"server={server!r}: one of {', '.join(SERVERS)}")
        self.server = server
        self._own_parent = parent is None
        self.parent = Path(parent or tempfile.mkdtemp(prefix="bench-server-"))
        self.password = secrets.token_urlsafe(16)
        self.startup_timeout = startup_timeout
        self.port = 0
        self.var_dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> tuple[str, str]:
        return self.username, self.password

    def __enter__(self) -> DjangoServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self.var_dir = new_archive(self.parent, "server-var")
        manage(
            self.var_dir,
            "shell",
            "-c",
            "import os; from django.contrib.auth.models import User; "
            "User.objects.create_user('bench', password=os.environ['BENCH_PASSWORD'])",
            BENCH_PASSWORD=self.password,
        )
        self._serve()

    def _serve(self) -> None:
        self.port = free_port()
        log = (self.parent / "server.log").open("ab")
        try:
            self.process = subprocess.Popen(
                server_command(self.server, self.port),
                cwd=ROOT,
                env=archive_environment(self.var_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.server} exited:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise ServerError(f"{self.server} did not answer /healthz:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = (self.parent / "server.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def instance_count(self) -> int:
        """Instances in the archive, asked of the database directly."""
        assert self.var_dir is not None
        out = manage(
            self.var_dir,
            "shell",
            "-c",
            "from studies.models import Instance; print(Instance.objects.count())",
        )
        return int(out.strip().splitlines()[-1])

    def restart(self) -> None:
        """A new server process on the same archive (and a new port): nothing in memory."""
        self._end_process()
        self._serve()

    def stop(self) -> None:
        self._end_process()
        if self._own_parent:
            shutil.rmtree(self.parent, ignore_errors=True)

    def _end_process(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
