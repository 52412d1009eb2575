"""The HTTP floor for the rendering benchmark: an ASGI app that does no work at all.

It answers every GET with the same JPEG bytes, under uvicorn with the options our server
uses (httptools, uvloop; viewerproject.serve), so one request to it costs only what every
server pays on this machine: the client's own request and response handling, loopback,
and uvicorn. Asked side by side with Orthanc's window change (tests/bench/render.py), it
shows how much of Orthanc's latency no server could save: a ratio target below the floor's
own ratio cannot be met by any server, measured this way.

Run as ``python -m tests.bench.null_server PORT BODY_FILE``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.peers.ports import free_port


def make_app(body: bytes):
    headers = [(b"content-type", b"image/jpeg"), (b"content-length", str(len(body)).encode())]

    async def app(scope, receive, send):
        if scope["type"] != "http":  # lifespan: nothing to set up
            return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class NullServer:
    """The floor server in a child process on a free loopback port, stopped on exit."""

    def __init__(self, body_file: Path) -> None:
        self.body_file = body_file
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NullServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.null_server", str(self.port), str(self.body_file)],
            cwd=Path(__file__).resolve().parents[2],
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                requests.get(self.url, timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError("the floor server did not start within 15 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> None:
    import uvicorn

    port, body_file = int(sys.argv[1]), Path(sys.argv[2])
    uvicorn.run(
        make_app(body_file.read_bytes()),
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
