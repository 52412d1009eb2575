"""HTTP plumbing shared by the DICOMweb views: routing by method, media types, answers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse

from studies.audit import dicomweb as dicomweb_audit
from studies.dicomweb.auth import View, dicomweb_auth

# PS3.18 8.7.3.1 / Annex F: DICOM JSON. Sent without parameters: dicomweb-client compares the
# whole Content-Type header with "application/dicom+json", and JSON is UTF-8 by definition.
DICOM_JSON = "application/dicom+json"
_JSON_TYPES = (DICOM_JSON, "application/json")


def route(**handlers: View) -> View:
    """One URL, a view per HTTP method (``GET=..., POST=...``), all behind ``dicomweb_auth``.

    DICOMweb puts different transactions on the same resource (``POST /studies`` stores,
    ``GET /studies`` searches), so a URL maps to several views; authentication comes first,
    so an anonymous caller learns nothing about which methods exist.
    """
    allowed = sorted(handlers)

    @dicomweb_auth
    def dispatch(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        handler = handlers.get(request.method or "")
        if handler is None:
            response = problem(405, f"{request.method} is not supported here.")
            response["Allow"] = ", ".join(allowed)
            return response
        response = handler(request, *args, **kwargs)
        # Reads are audited, at most once per user, study and kind per window (studies.audit).
        dicomweb_audit.note(request, handler, kwargs, response)
        return response

    return dispatch


def accepts_dicom_json(request: HttpRequest) -> bool:
    """Whether the caller can take a DICOM JSON answer (Accept header, or PS3.18 8.3.3.1's
    ``accept`` query parameter, which overrides it)."""
    override = request.GET.get("accept")
    if override is not None:
        ranges = [item.split(";")[0].strip().lower() for item in override.split(",")]
        return any(r in (*_JSON_TYPES, "application/*", "*/*") for r in ranges)
    return any(request.accepts(media_type) for media_type in _JSON_TYPES)


def dicom_json_response(
    payload: Any, status: int = 200, warnings: Iterable[str] = ()
) -> HttpResponse:
    """A DICOM JSON answer. Values stay data: JSON-encoded, served as JSON with nosniff."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    response = HttpResponse(body, status=status, content_type=DICOM_JSON)
    warning_list = [w for w in warnings if w]
    if warning_list:
        response["Warning"] = ", ".join(warning_list)
    return response


def warning(request: HttpRequest, text: str) -> str:
    """A Warning header value in PS3.18's form (RFC 7234 5.5): ``299 <service>: <text>``."""
    service = request.build_absolute_uri("/").rstrip("/")
    return f"299 {service}: {text}"


def problem(status: int, message: str) -> HttpResponse:
    """An error answer for people: plain text, never markup."""
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def not_acceptable() -> HttpResponse:
    return problem(406, f"This server answers with {DICOM_JSON} only.")
