"""One HTTP request through the project's ASGI application, from a synchronous test.

The lean route lives in the ASGI handler (``viewerproject.http_handler``), which Django's
test client (a WSGI-style handler) never reaches; these requests go where uvicorn sends them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator

from viewerproject.asgi import application


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        found = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(found)


def basic(username: str, password: str) -> tuple[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return "Authorization", f"Basic {token}"


def http_scope(
    path: str, headers: tuple[tuple[str, str], ...] = (), query: str = "", method: str = "GET"
) -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "scheme": "http",
        "headers": [(b"host", b"127.0.0.1")]
        + [(key.lower().encode(), value.encode("latin-1")) for key, value in headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }


async def _exchange(scope: dict) -> Answer:
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=30)
    assert start["type"] == "http.response.start", start
    body = b""
    while True:
        message = await communicator.receive_output(timeout=30)
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await communicator.wait(timeout=5)
    headers = [(key.decode("latin-1"), value.decode("latin-1")) for key, value in start["headers"]]
    return Answer(start["status"], headers, body)


def asgi_get(path: str, *headers: tuple[str, str], query: str = "", method: str = "GET") -> Answer:
    """One request; ``headers`` as (name, value) pairs."""
    return async_to_sync(_exchange)(http_scope(path, headers, query, method))
