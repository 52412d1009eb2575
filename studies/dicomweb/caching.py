"""Conditional GET for WADO-RS answers (RFC 9110 13.1.2, RFC 9111 5.2.2).

Answers are for one logged-in user, so they are ``private``: a browser may keep them, a
shared cache may not. Content named by an instance's hash never changes (``IMMUTABLE`` for
an hour); study and series answers can grow and are revalidated (``REVALIDATE``).
"""

from __future__ import annotations

import hashlib

from django.http import HttpRequest, HttpResponse

IMMUTABLE = "private, max-age=3600"
REVALIDATE = "private, no-cache"


def etag(*parts: str) -> str:
    return '"' + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32] + '"'


def if_none_match(request: HttpRequest) -> set[str]:
    """The entity tags of If-None-Match; weak ones compare equal (RFC 9110 8.8.3.2)."""
    header = request.headers.get("If-None-Match", "")
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def not_modified(tag: str, cache_control: str) -> HttpResponse:
    response = HttpResponse(status=304)
    response["ETag"] = tag
    response["Cache-Control"] = cache_control
    return response
