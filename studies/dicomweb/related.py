"""Writing a multipart/related answer (RFC 2387, PS3.18 8.7.3.3) as a stream.

Parts are produced lazily: a part's bytes are read (a stored file in chunks, a frame from
its place in the file) only when the body reaches it, so a study of gigabytes goes out with
a few megabytes in memory.

Django serves a synchronous iterator under ASGI only by reading it to the end first, and an
asynchronous one under WSGI the same way; so the body is handed over in the form the
request's handler streams: a plain generator under WSGI (tests, live_server), an async
generator that pulls each chunk in a worker thread under ASGI (Daphne).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Part:
    content_type: str  # the part's Content-Type, parameters included
    content: Callable[[], Iterable[bytes]]  # called when the body reaches the part
    location: str = ""  # Content-Location (PS3.18 8.7.3.3.3), when the part has a URL


def file_chunks(path: Path) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                yield chunk

    return chunks


def once(data: bytes) -> Callable[[], Iterable[bytes]]:
    return lambda: (data,)


def multipart_response(
    request: HttpRequest, root_type: str, parts: Iterable[Part]
) -> StreamingHttpResponse:
    """``multipart/related; type="<root_type>"`` with ``parts``, streamed."""
    boundary = uuid.uuid4().hex
    body = _body(parts, boundary)
    content = _in_threads(body) if isinstance(request, ASGIRequest) else body
    return StreamingHttpResponse(
        content,
        content_type=f'multipart/related; type="{root_type}"; boundary={boundary}',
    )


def _body(parts: Iterable[Part], boundary: str) -> Generator[bytes, None, None]:
    for part in parts:
        head = f"--{boundary}\r\nContent-Type: {part.content_type}\r\n"
        if part.location:
            head += f"Content-Location: {part.location}\r\n"
        yield (head + "\r\n").encode("ascii")
        yield from part.content()
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")


async def _in_threads(body: Generator[bytes, None, None]) -> AsyncIterator[bytes]:
    """The chunks of ``body``, each read in a worker thread so disk reads never hold the
    event loop; the generator is closed (its file with it) if the client goes away."""
    done = object()
    try:
        while True:
            chunk = await asyncio.to_thread(next, body, done)
            if chunk is done:
                return
            yield chunk  # type: ignore[misc]  # not the sentinel
    finally:
        await asyncio.to_thread(body.close)
