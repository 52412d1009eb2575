"""Child processes that are always cleaned up: own process group, log file, bounded waits.

Every service of the scale-out setup (PostgreSQL, Redis, nginx, uvicorn, the DICOM listener,
retrieve workers) runs as a ``Service``. Each starts in its own session, so a Ctrl-C in the
terminal reaches only the launcher, which then stops the children in order; the ``Registry``
stops whatever is still running when the launcher exits, however it exits.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class ServiceError(RuntimeError):
    """A service did not start, or stopped when it should not have."""


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> object:
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise ServiceError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A loopback port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Service:
    """One long-running child process with its output in ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 20.0,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.user = user
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Service:
        if self.running():
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                user=self.user,
                # Own session: the terminal's Ctrl-C goes to the launcher, which stops us
                # in order, and a kill of the group reaches our helpers (decode workers).
                start_new_session=True,
            )
        REGISTRY.add(self)
        return self

    def check_alive(self) -> None:
        if self.process is None:
            raise ServiceError(f"{self.name} was never started")
        code = self.process.poll()
        if code is not None:
            raise ServiceError(
                f"{self.name} exited with {code}; last lines of {self.log_path}:\n"
                + tail(self.log_path)
            )

    def wait_ready(self, ready: Callable[[], object], timeout: float = 60.0) -> None:
        def check() -> object:
            self.check_alive()
            return ready()

        wait_until(check, timeout, f"{self.name} to be ready (log: {self.log_path})")

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self) -> int | None:
        """Ask politely (``stop_signal``), then SIGKILL the group after ``stop_timeout``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                self.process.send_signal(self.stop_signal)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=10)
        # Helpers the process left behind (its decode workers, nginx workers) go too.
        self._signal_group(signal.SIGKILL)
        REGISTRY.discard(self)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the process alone: a crash, no clean-up (helpers die with their parent's
        pipes or are orphaned, as in a real crash; ``stop`` later reaps the group)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class Registry:
    """Every started service, stopped newest first at interpreter exit."""

    def __init__(self) -> None:
        self._services: list[Service] = []
        atexit.register(self.stop_all)

    def add(self, service: Service) -> None:
        if service not in self._services:
            self._services.append(service)

    def discard(self, service: Service) -> None:
        if service in self._services:
            self._services.remove(service)

    def stop_all(self) -> None:
        for service in reversed(list(self._services)):
            try:
                service.stop()
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {service.name}: {exc}")


REGISTRY = Registry()


def run_checked(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    timeout: float = 300,
) -> str:
    """Run a short command to completion; a failure raises with its output."""
    result = subprocess.run(
        [str(a) for a in argv],
        env=env,
        cwd=cwd,
        user=user,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise ServiceError(
            f"{' '.join(str(a) for a in argv)} exited with {result.returncode}:\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return result.stdout
