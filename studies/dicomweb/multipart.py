"""Reading a multipart/related request body (RFC 2387, RFC 2046 5.1) without holding it.

STOW-RS bodies can be gigabytes, so the body is read from the request stream in chunks
(``request.body`` would be refused above DATA_UPLOAD_MAX_MEMORY_SIZE, and would hold it all)
and each part's content is written to a spool file, recording where it starts and how long
it is. The whole body is parsed before any part is used: a malformed or over-size request is
refused as a whole, with nothing stored (PS3.18 10.5.3: 400 means no instance was stored).

Bounded everywhere: total bytes, number of parts, bytes of part headers, and bytes kept per
part (a longer part is still read to its end, counted, and reported, but not kept).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Protocol

from django.utils.http import parse_header_parameters

CHUNK_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
# RFC 2046 5.1.1: a boundary is 1 to 70 characters.
MAX_BOUNDARY_LENGTH = 70


class MultipartError(ValueError):
    """The body is not a well-formed multipart message (answer 400)."""


class UnsupportedMediaType(ValueError):
    """The request is not multipart/related, or not of the expected root type (answer 415)."""


class TooLarge(ValueError):
    """The body is over the byte or part-count limit (answer 413)."""


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class Related:
    """The parameters of a ``multipart/related`` Content-Type header."""

    root_type: str  # the ``type`` parameter, lower case; "" when absent
    boundary: bytes


def parse_related(content_type: str) -> Related:
    media_type, params = parse_header_parameters(content_type or "")
    if media_type != "multipart/related":
        raise UnsupportedMediaType(
            f"expected multipart/related, got {media_type or 'no Content-Type'}"
        )
    boundary = params.get("boundary", "")
    if not boundary:
        raise MultipartError("multipart/related without a boundary parameter")
    if len(boundary) > MAX_BOUNDARY_LENGTH or not boundary.isascii():
        raise MultipartError("the boundary must be 1 to 70 ASCII characters (RFC 2046 5.1.1)")
    root_type, _ = parse_header_parameters(params.get("type", ""))
    return Related(root_type=root_type, boundary=boundary.encode("ascii"))


@dataclass
class Part:
    number: int  # 1-based position in the body
    headers: dict[str, str]
    offset: int = 0  # where the kept content starts in the spool
    size: int = 0  # the part's true length
    kept: bool = True  # False when over the per-part limit: only the size is known

    @property
    def media_type(self) -> str:
        return parse_header_parameters(self.headers.get("content-type", ""))[0]


@dataclass
class Parts:
    spool: IO[bytes]
    items: list[Part] = field(default_factory=list)

    def __iter__(self) -> Iterator[Part]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def content(self, part: Part) -> bytes:
        if not part.kept:
            raise ValueError(f"part {part.number} was over the size limit and was not kept")
        self.spool.seek(part.offset)
        return self.spool.read(part.size)


@contextmanager
def spooled_parts(
    stream: Readable,
    boundary: bytes,
    *,
    max_bytes: int,
    max_parts: int,
    max_part_bytes: int,
    spool_memory_bytes: int = 2 * 1024**2,
    temp_dir: str | None = None,
) -> Iterator[Parts]:
    """Parse the whole body into a spool; the spool is removed when the block ends."""
    with tempfile.SpooledTemporaryFile(max_size=spool_memory_bytes, dir=temp_dir) as spool:
        parts = Parts(spool)
        _Parser(stream, boundary, parts, max_bytes, max_parts, max_part_bytes).run()
        yield parts


class _Parser:
    def __init__(
        self,
        stream: Readable,
        boundary: bytes,
        parts: Parts,
        max_bytes: int,
        max_parts: int,
        max_part_bytes: int,
    ) -> None:
        self.stream = stream
        self.delimiter = b"\r\n--" + boundary
        self.parts = parts
        self.max_bytes = max_bytes
        self.max_parts = max_parts
        self.max_part_bytes = max_part_bytes
        # RFC 2046 5.1.1: the first boundary may start the body without a preceding CRLF;
        # a virtual CRLF in front lets one delimiter pattern find them all.
        self.buffer = bytearray(b"\r\n")
        self.read_total = 0
        self.eof = False
        self.current: Part | None = None

    def run(self) -> None:
        step = self._preamble
        while step is not None:
            next_step = step()
            if next_step is _MORE:
                if self.eof:
                    raise MultipartError("the body ends before the closing boundary")
                self._fill()
            else:
                step = next_step

    def _fill(self) -> None:
        chunk = self.stream.read(CHUNK_BYTES)
        if not chunk:
            self.eof = True
            return
        self.read_total += len(chunk)
        if self.read_total > self.max_bytes:
            raise TooLarge(f"the request body is over the {self.max_bytes:,} byte limit")
        self.buffer += chunk

    # Each step returns the next step, _MORE when it needs more bytes, or None when done.

    def _preamble(self):
        index = self.buffer.find(self.delimiter)
        if index < 0:
            # Preamble text is ignored (RFC 2046 5.1.1); keep only what could start a delimiter.
            del self.buffer[: max(0, len(self.buffer) - len(self.delimiter) + 1)]
            return _MORE
        del self.buffer[: index + len(self.delimiter)]
        return self._after_delimiter

    def _after_delimiter(self):
        if len(self.buffer) < 2:
            return _MORE
        if self.buffer.startswith(b"--"):
            return None  # close delimiter; an epilogue, if any, is ignored
        line_end = self.buffer.find(b"\r\n")
        if line_end < 0:
            if len(self.buffer) > MAX_HEADER_BYTES:
                raise MultipartError("a boundary line does not end")
            return _MORE
        if self.buffer[:line_end].strip(b" \t"):
            raise MultipartError("unexpected text after a boundary")  # only padding allowed
        del self.buffer[: line_end + 2]
        return self._headers

    def _headers(self):
        if self.buffer.startswith(b"\r\n"):
            raw, consumed = b"", 2
        else:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    raise MultipartError(f"part headers are over {MAX_HEADER_BYTES:,} bytes")
                return _MORE
            raw, consumed = bytes(self.buffer[:end]), end + 4
        if len(self.parts) >= self.max_parts:
            raise TooLarge(f"the request has more than {self.max_parts:,} parts")
        del self.buffer[:consumed]
        self.current = Part(
            number=len(self.parts) + 1,
            headers=_parse_headers(raw),
            offset=self.parts.spool.tell(),
        )
        return self._content

    def _content(self):
        part = self.current
        assert part is not None  # set by _headers
        index = self.buffer.find(self.delimiter)
        if index >= 0:
            self._keep(part, self.buffer[:index])
            del self.buffer[: index + len(self.delimiter)]
            self.parts.items.append(part)
            self.current = None
            return self._after_delimiter
        # Everything but a possible delimiter start is content.
        safe = len(self.buffer) - len(self.delimiter) + 1
        if safe > 0:
            self._keep(part, self.buffer[:safe])
            del self.buffer[:safe]
        return _MORE

    def _keep(self, part: Part, data: bytearray) -> None:
        part.size += len(data)
        if part.kept and part.size > self.max_part_bytes:
            part.kept = False  # stop spooling it; what was written is left unused
        if part.kept:
            self.parts.spool.write(data)


_MORE = object()


def _parse_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    if not raw:
        return headers  # RFC 2046 5.1.1: a part may have no header fields
    for line in raw.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or not name.strip():
            raise MultipartError("a part header line is not 'Name: value'")
        # RFC 7230 3.2.4: header text outside ASCII is opaque; latin-1 keeps every byte.
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers
