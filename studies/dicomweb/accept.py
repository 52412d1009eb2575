"""What a WADO-RS caller will take: the Accept header read as PS3.18 8.7 writes it.

An item is a bare media type (``image/png``) or ``multipart/related`` naming the media type
of its parts in ``type`` and, for DICOM and bulk data, the transfer syntax in
``transfer-syntax`` (PS3.18 8.7.3.5). The ``accept`` query parameter replaces the header
(PS3.18 8.3.3.1). Items come back best first: by quality value, then in the caller's order.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.http import parse_header_parameters

ANY = "*/*"
MULTIPART_RELATED = "multipart/related"
# Items are separated by commas outside quoted strings (RFC 9110 5.6.1, 5.6.4).
_ITEM = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*")+')


@dataclass(frozen=True)
class MediaRange:
    media_type: str  # the single-part type, or the type of the parts of multipart/related
    multipart: bool  # asked for as multipart/related
    transfer_syntax: str | None  # a UID, "*", or None when not given
    quality: float

    def matches(self, media_type: str) -> bool:
        """Whether ``media_type`` (a concrete type) falls in this range."""
        if self.media_type == ANY:
            return True
        kind, _, subtype = self.media_type.partition("/")
        if subtype == "*":
            return media_type.partition("/")[0] == kind
        return media_type == self.media_type

    def allows_syntax(self, uid: str) -> bool:
        return self.transfer_syntax in (None, "*", uid)


def media_ranges(request: HttpRequest) -> list[MediaRange]:
    """The acceptable media ranges of a request, best first; ``*/*`` when none are given."""
    override = request.GET.get("accept")
    # META, not request.headers: that builds a dict of every header on first use.
    header = override if override is not None else request.META.get("HTTP_ACCEPT", "")
    ranges = parse_accept(header)
    return ranges or [MediaRange(ANY, False, None, 1.0)]


def parse_accept(value: str) -> list[MediaRange]:
    return list(_parsed(value or ""))


@functools.lru_cache(maxsize=256)
def _parsed(value: str) -> tuple[MediaRange, ...]:
    # A viewer sends the same few Accept headers hundreds of times: parse each once.
    found: list[tuple[float, int, MediaRange]] = []
    for position, match in enumerate(_ITEM.finditer(value)):
        item = match.group(0).strip()
        if not item:
            continue
        media_type, params = parse_header_parameters(item)
        params = {key.lower(): value.strip() for key, value in params.items()}
        try:
            quality = float(params.get("q", "1"))
        except ValueError:
            quality = 1.0
        if quality <= 0:
            continue  # RFC 9110 12.4.2: q=0 means "not acceptable"
        multipart = media_type == MULTIPART_RELATED
        if multipart:
            inner = parse_header_parameters(params.get("type", ""))[0] or ANY
        else:
            inner = media_type
        syntax = params.get("transfer-syntax") or None
        found.append((-quality, position, MediaRange(inner, multipart, syntax, quality)))
    return tuple(entry[2] for entry in sorted(found, key=lambda entry: (entry[0], entry[1])))


def describe(ranges: list[MediaRange]) -> str:
    """The caller's Accept, for an error message."""
    parts = []
    for item in ranges:
        text = (
            f'{MULTIPART_RELATED}; type="{item.media_type}"' if item.multipart else item.media_type
        )
        if item.transfer_syntax:
            text += f"; transfer-syntax={item.transfer_syntax}"
        parts.append(text)
    return ", ".join(parts)
