"""nginx (Debian) as the one front port over several ASGI servers.

The configuration is ``nginx.conf.template`` with its ``@...@`` fields filled in and written
into the run directory; nginx runs in the foreground (``daemon off``) as our child.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
from pathlib import Path

from tests.services.processes import Service, ServiceError, port_accepts, run_checked

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
# Worker user when we are root: nginx would otherwise pick "nobody" anyway; say it.
WORKER_USER = "www-data"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None
    )


def missing() -> str:
    if nginx_binary() is None:
        return "nginx is not installed (Debian package nginx)"
    return ""


def render_config(
    run_dir: Path,
    listen_port: int,
    upstream_ports: list[int],
    *,
    show_upstream: bool = False,
) -> str:
    """The nginx configuration text for these ports.

    ``show_upstream`` adds an ``X-Upstream`` response header naming the ASGI server that
    answered (tests use it to kill the right one; never in production: it leaks addresses).
    """
    user_line = ""
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(WORKER_USER)
            user_line = f"user {WORKER_USER};"
        except KeyError:
            user_line = "user nobody nogroup;"
    upstreams = "\n".join(
        # One failure takes a server out of rotation for 5 s; then it is tried again.
        f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;"
        for port in upstream_ports
    )
    extra = "            add_header X-Upstream $upstream_addr always;" if show_upstream else ""
    fields = {
        "@user@": user_line,
        "@run@": str(run_dir),
        "@listen@": f"127.0.0.1:{listen_port}",
        "@upstreams@": upstreams,
        "@extra@": extra,
    }
    text = TEMPLATE.read_text()
    for key, value in fields.items():
        text = text.replace(key, value)
    return text


class Proxy:
    def __init__(
        self,
        run_dir: Path,
        listen_port: int,
        upstream_ports: list[int],
        show_upstream: bool = False,
    ) -> None:
        reason = missing()
        if reason:
            raise ServiceError(reason)
        self.run_dir = Path(run_dir).resolve()
        self.port = listen_port
        self.upstream_ports = upstream_ports
        self.show_upstream = show_upstream
        self.service: Service | None = None

    @property
    def config_path(self) -> Path:
        return self.run_dir / "nginx.conf"

    def write_config(self) -> Path:
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.run_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # Workers run unprivileged and may spool bodies here.
            for sub in (self.run_dir / "tmp").iterdir():
                sub.chmod(0o777)
        self.config_path.write_text(
            render_config(
                self.run_dir, self.port, self.upstream_ports, show_upstream=self.show_upstream
            )
        )
        return self.config_path

    def start(self, timeout: float = 20) -> Proxy:
        self.write_config()
        binary = nginx_binary()
        argv = [binary, "-p", self.run_dir, "-e", self.run_dir / "error.log"]
        argv += ["-c", self.config_path]
        run_checked([*argv, "-t"], timeout=30)  # a bad configuration fails here, clearly
        self.service = Service(
            "nginx",
            argv,
            self.run_dir / "nginx.out",
            # Fast stop: open viewer sockets would hold a graceful (SIGQUIT) one for an hour.
            stop_signal=signal.SIGTERM,
            stop_timeout=10,
        )
        self.service.start()
        self.service.wait_ready(lambda: port_accepts(self.port), timeout)
        return self

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
