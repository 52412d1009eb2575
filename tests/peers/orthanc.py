"""A real Orthanc PACS for tests and benchmarks: Debian's binary with the DICOMweb plugin.

Each peer gets its own temporary configuration and storage, free loopback ports for HTTP
and DICOM, HTTP Basic authentication with a per-run password, and is stopped (SIGTERM, then
SIGKILL) on exit::

    with OrthancPeer() as orthanc:
        orthanc.upload(part10_bytes)
        orthanc.request("GET", "/dicom-web/studies")

Orthanc 1.10 has no option to bind HTTP or DICOM to one interface: ``RemoteAccessAllowed``
false makes it refuse HTTP from anything but localhost, and its DICOM server only answers
modalities listed in the configuration (C-ECHO aside) unless ``allow_unregistered_store``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from tests.peers.ports import free_port

ORTHANC_BINARY = Path(os.environ.get("ORTHANC_BINARY", "/usr/sbin/Orthanc"))
PLUGIN_DIR = Path(os.environ.get("ORTHANC_PLUGIN_DIR", "/usr/share/orthanc/plugins"))
DICOMWEB_PLUGIN = PLUGIN_DIR / "libOrthancDicomWeb.so"
WEBVIEWER_PLUGIN = PLUGIN_DIR / "libOrthancWebViewer.so"
DICOMWEB_ROOT = "/dicom-web/"


class OrthancError(RuntimeError):
    """Orthanc could not be started, or answered a request with an error."""


def orthanc_missing() -> str:
    """Why Orthanc cannot run here ("" when it can): the Debian packages it needs."""
    if not os.access(ORTHANC_BINARY, os.X_OK):
        return f"{ORTHANC_BINARY} not found (Debian package orthanc)"
    if not DICOMWEB_PLUGIN.exists():
        return f"{DICOMWEB_PLUGIN} not found (Debian package orthanc-dicomweb)"
    return ""


class OrthancPeer:
    """One Orthanc process. Use as a context manager, or call ``start``/``stop``."""

    def __init__(
        self,
        *,
        aet: str = "ORTHANC_TEST",
        username: str = "orthanc",
        password: str | None = None,
        modalities: Mapping[str, tuple[str, str, int]] | None = None,
        allow_unregistered_store: bool = False,
        webviewer: bool = False,
        workdir: Path | str | None = None,
        startup_timeout: float = 30.0,
        config_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        """``modalities`` maps a name to (AE title, host, port) of DICOM peers Orthanc may
        talk to, e.g. our listener for C-MOVE; ``config_overrides`` is merged last."""
        self.aet = aet
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.modalities = dict(modalities or {})
        self.allow_unregistered_store = allow_unregistered_store
        self.webviewer = webviewer
        self.startup_timeout = startup_timeout
        self.config_overrides = dict(config_overrides or {})
        self._given_workdir = Path(workdir) if workdir is not None else None
        self.workdir: Path | None = None
        self.http_port = 0
        self.dicom_port = 0
        self.process: subprocess.Popen | None = None
        self._session: requests.Session | None = None

    # --- addresses ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return self.url + DICOMWEB_ROOT.rstrip("/")

    @property
    def auth(self) -> tuple[str, str]:
        return self.username, self.password

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "Orthanc was never started"
        return self.workdir / "orthanc.log"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AssertionError):
            return "(no log)"

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> OrthancPeer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, attempts: int = 3) -> OrthancPeer:
        """Start Orthanc and wait until its REST API answers; retry on a port race."""
        missing = orthanc_missing()
        if missing:
            raise OrthancError(missing)
        if self.process is not None:
            raise OrthancError("this Orthanc is already running")
        if self._given_workdir is not None:
            self.workdir = self._given_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="orthanc-peer-"))
        self._session = requests.Session()
        self._session.auth = self.auth
        last_error = ""
        for _ in range(attempts):
            self.http_port, self.dicom_port = free_port(), free_port()
            while self.dicom_port == self.http_port:
                self.dicom_port = free_port()
            config_path = self.workdir / "orthanc.json"
            config_path.write_text(json.dumps(self.config(), indent=2))
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [str(ORTHANC_BINARY), str(config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    start_new_session=True,  # a Ctrl-C meant for pytest is handled by stop()
                )
            try:
                self._wait_until_ready()
                return self
            except OrthancError as exc:
                last_error = str(exc)
                self._stop_process()
        self.stop()
        raise OrthancError(f"Orthanc did not start: {last_error}")

    def _wait_until_ready(self) -> None:
        assert self.process is not None and self._session is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OrthancError(
                    f"exited with status {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                answer = self._session.get(self.url + "/system", timeout=1)
            except requests.ConnectionError:
                answer = None
            if answer is not None and answer.status_code == 200:
                return
            # Poll the condition; Orthanc usually answers within a second.
            time.sleep(0.05)
        raise OrthancError(
            f"no answer on {self.url}/system within {self.startup_timeout:.0f} s:\n"
            f"{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and remove a workdir we created."""
        # Close our keep-alive connections first: Orthanc's HTTP server waits for open
        # connections before it exits.
        if self._session is not None:
            self._session.close()
            self._session = None
        self._stop_process()
        if self.workdir is not None and self._given_workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def _stop_process(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # --- configuration --------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        assert self.workdir is not None
        storage = self.workdir / "storage"
        plugins = [str(DICOMWEB_PLUGIN)]
        if self.webviewer and WEBVIEWER_PLUGIN.exists():
            plugins.append(str(WEBVIEWER_PLUGIN))
        config: dict[str, Any] = {
            "Name": "orthanc-test-peer",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "Plugins": plugins,
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.username: self.password},
            "HttpCompressionEnabled": False,
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
            "MetricsEnabled": False,
            "ExecuteLuaEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": self.allow_unregistered_store,
            "DicomCheckModalityHost": True,
            "DicomModalities": {
                name: [aet, host, port] for name, (aet, host, port) in self.modalities.items()
            },
            "DicomScuTimeout": 10,
            "SynchronousCMove": True,
            "StableAge": 2,
            "SaveJobs": False,
            "OverwriteInstances": False,
            "DeidentifyLogs": True,
            "DicomWeb": {
                "Enable": True,
                "Root": DICOMWEB_ROOT,
                "EnableWado": True,
                "WadoRoot": "/wado",
                "Host": f"127.0.0.1:{self.http_port}",
                "Ssl": False,
            },
        }
        config.update(self.config_overrides)
        return config

    # --- REST -----------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An authenticated request to this Orthanc; ``path`` starts with '/'."""
        if self._session is None or not self.running:
            raise OrthancError("Orthanc is not running")
        kwargs.setdefault("timeout", 60)
        return self._session.request(method, self.url + path, **kwargs)

    def upload(self, data: bytes) -> dict[str, Any]:
        """Store one Part 10 file through REST ``POST /instances``; the answer as JSON."""
        answer = self.request(
            "POST", "/instances", data=data, headers={"Content-Type": "application/dicom"}
        )
        if answer.status_code != 200:
            raise OrthancError(f"POST /instances: HTTP {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    def instance_count(self) -> int:
        answer = self.request("GET", "/statistics")
        answer.raise_for_status()
        return int(answer.json()["CountInstances"])
