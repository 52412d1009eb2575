"""A private PostgreSQL cluster from Debian's binaries, on a free loopback port.

``initdb`` makes the cluster in a directory of ours; ``postgres`` runs in the foreground as our
child (stopped with SIGINT, PostgreSQL's "fast" shutdown). PostgreSQL refuses to run as root,
so under root the cluster belongs to the ``postgres`` system user the Debian package creates.
Authentication is ``trust``, acceptable only because the server listens on 127.0.0.1 and a
socket directory nobody else uses; the production setup in the README uses passwords.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import tempfile
from pathlib import Path

from tests.services.processes import Service, ServiceError, free_port, run_checked

SUPERUSER = "viewer"
DATABASE = "viewer"

# Settings for a throwaway test cluster: nothing needs to survive a power cut, so no fsync.
FAST = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has initdb and postgres."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    for initdb in reversed(found):
        bin_dir = Path(initdb).parent
        if (bin_dir / "postgres").exists():
            return bin_dir
    return None


def missing() -> str:
    """Why a cluster cannot be made here, or "" when it can."""
    if binaries() is None:
        return "PostgreSQL is not installed (Debian package postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
    return ""


def _owner() -> str | None:
    """The user the server runs as: ourselves, or ``postgres`` when we are root."""
    return "postgres" if os.geteuid() == 0 else None


class PostgresCluster:
    """A cluster in ``root`` (created if absent) serving one database, ``viewer``.

    ``durable=False`` turns off fsync for test runs; ``root=None`` makes a temp directory that
    ``stop(remove=True)`` deletes.
    """

    def __init__(
        self,
        root: Path | None = None,
        port: int | None = None,
        durable: bool = False,
        max_connections: int = 200,
    ) -> None:
        reason = missing()
        if reason:
            raise ServiceError(reason)
        self.temporary = root is None
        # Under /tmp, not pytest's tmp_path: the postgres user must be able to reach it.
        self.root = Path(root or tempfile.mkdtemp(prefix="viewer-pg-")).resolve()
        self.port = port or free_port()
        self.durable = durable
        self.max_connections = max_connections
        self.bin = binaries()
        self.user = _owner()
        self.service: Service | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = DATABASE) -> str:
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # ---------------------------------------------------------------- lifecycle

    def _chown(self, path: Path) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        self._chown(self.root)
        if self.user:
            # The postgres user must be able to walk down to the cluster.
            probe = run_checked(
                ["sh", "-c", f"test -w '{self.root}' && echo ok || echo no"], user=self.user
            )
            if probe.strip() != "ok":
                raise ServiceError(
                    f"user {self.user!r} cannot write {self.root}: a parent directory is "
                    "closed to it; choose a cluster directory under /tmp or /var"
                )
        run_checked(
            [
                self.bin / "initdb",
                "-D",
                self.data_dir,
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
            ],
            user=self.user,
            cwd=self.root,
            timeout=120,
        )

    def start(self, timeout: float = 60) -> PostgresCluster:
        self.init()
        self.socket_dir.mkdir(exist_ok=True)
        self._chown(self.socket_dir)
        if not self.log_path.exists():
            self.log_path.touch()
        self._chown(self.log_path)
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": str(self.max_connections),
            **({} if self.durable else FAST),
        }
        argv = [self.bin / "postgres", "-D", self.data_dir]
        for key, value in options.items():
            argv += ["-c", f"{key}={value}"]
        self.service = Service(
            "postgres",
            argv,
            self.log_path,
            cwd=self.root,
            user=self.user,
            stop_signal=signal.SIGINT,  # fast shutdown: roll back clients, checkpoint, exit
            stop_timeout=30,
        )
        self.service.start()
        self.service.wait_ready(self._accepts_queries, timeout)
        self._ensure_database()
        return self

    def _connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            dbname=database,
            connect_timeout=2,
            autocommit=True,
        )

    def _accepts_queries(self) -> bool:
        try:
            with self._connect() as conn:
                conn.execute("SELECT 1")
            return True
        except Exception:
            return False

    def _ensure_database(self) -> None:
        with self._connect() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def stop(self, remove: bool | None = None) -> None:
        if self.service is not None:
            self.service.stop()
        if remove if remove is not None else self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    # ---------------------------------------------------------------- fault helpers

    def execute(self, sql: str, params: tuple = (), database: str = DATABASE) -> list[tuple]:
        """Run one statement as the superuser; rows if it returns any."""
        with self._connect(database) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def terminate_connections(self, database: str = DATABASE) -> int:
        """Drop every client connection to ``database`` (as a failover or a restart would)."""
        rows = self.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
            database="postgres",
        )
        return int(rows[0][0])

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
