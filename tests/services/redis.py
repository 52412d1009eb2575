"""A private Redis (Debian's ``redis-server``) on a free loopback port, as the channel layer.

The channel layer holds only messages in flight (live "instance stored" events, group
membership), so the server keeps nothing on disk. ``stop`` then ``start`` brings it back on
the same port with empty memory, which is what the fault tests need: a Redis that went away
and came back.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from pathlib import Path

from tests.services.processes import Service, ServiceError, free_port

SERVER = "redis-server"


def missing() -> str:
    if shutil.which(SERVER) is None:
        return "Redis is not installed (Debian package redis-server)"
    return ""


class RedisServer:
    def __init__(self, root: Path | None = None, port: int | None = None) -> None:
        reason = missing()
        if reason:
            raise ServiceError(reason)
        self.temporary = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="viewer-redis-")).resolve()
        self.port = port or free_port()
        self.service: Service | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def config_path(self) -> Path:
        return self.root / "redis.conf"

    def _write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    "protected-mode yes",
                    "daemonize no",
                    f"dir {self.root}",
                    'logfile ""',
                    # Messages in flight only: nothing to persist.
                    'save ""',
                    "appendonly no",
                    # Bounded like every other cache here; channels_redis expires its keys.
                    "maxmemory 256mb",
                    "maxmemory-policy noeviction",
                    "",
                ]
            )
        )

    def start(self, timeout: float = 30) -> RedisServer:
        self._write_config()
        self.service = Service(
            "redis",
            [SERVER, self.config_path],
            self.root / "redis.log",
            cwd=self.root,
            stop_signal=signal.SIGTERM,
        )
        self.service.start()
        self.service.wait_ready(self.ping, timeout)
        return self

    def ping(self) -> bool:
        import redis  # redis-py, installed with channels-redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def running(self) -> bool:
        return self.service is not None and self.service.running()

    def stop(self, remove: bool | None = None) -> None:
        if self.service is not None:
            self.service.stop()
        if remove if remove is not None else False:
            shutil.rmtree(self.root, ignore_errors=True)

    def close(self) -> None:
        """Stop and, for a temp directory, remove it."""
        self.stop(remove=self.temporary)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()
