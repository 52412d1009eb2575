"""The lean chain's CSP middleware (viewerproject.lean_csp) sets exactly the headers
django-csp's own would, building the settings' policy strings once."""

from __future__ import annotations

import pytest
from csp.constants import HEADER, HEADER_REPORT_ONLY, NONCE
from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory

from viewerproject import lean_csp
from viewerproject.http_handler import LeanChain

POLICY = {"DIRECTIVES": {"default-src": ["'self'"], "img-src": ["'self'", "blob:"]}}
REPORT_ONLY = {
    "DIRECTIVES": {"default-src": ["'none'"], "report-uri": "/csp-report"},
    "EXCLUDE_URL_PREFIXES": ["/static/"],
}


def _answer(kind: str) -> HttpResponse:
    response = HttpResponse(b"x", content_type="image/jpeg")
    if kind == "exempt":
        response._csp_exempt = True
    elif kind == "update":
        response._csp_update = {"img-src": ["data:"]}
    elif kind == "replace_ro":
        response._csp_replace_ro = {"default-src": ["'self'"]}
    elif kind == "has_header":
        response[HEADER] = "default-src 'none'"
    elif kind == "not_found":
        response.status_code = 404
    return response


def _headers(middleware_class: type, kind: str, path: str, nonce: bool) -> dict[str, str]:
    middleware = middleware_class(lambda request: HttpResponse())
    request = RequestFactory().get(path)
    middleware.process_request(request)
    if nonce:
        str(request.csp_nonce)  # a template used the nonce
    response = middleware.process_response(request, _answer(kind))
    headers = {name: response[name] for name in (HEADER, HEADER_REPORT_ONLY) if name in response}
    if nonce:
        headers["nonce"] = request._csp_nonce
    return headers


@pytest.mark.parametrize(
    "kind", ["plain", "exempt", "update", "replace_ro", "has_header", "not_found"]
)
@pytest.mark.parametrize("path", ["/dicomweb/studies/1/rendered", "/static/x.js"])
@pytest.mark.parametrize("debug", [False, True])
def test_the_same_headers_as_django_csps_middleware(settings, kind, path, debug):
    settings.CONTENT_SECURITY_POLICY = POLICY
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = REPORT_ONLY
    settings.DEBUG = debug

    settled = _headers(lean_csp.SettledCSPMiddleware, kind, path, nonce=False)
    original = _headers(CSPMiddleware, kind, path, nonce=False)

    assert settled == original


def test_a_used_nonce_goes_into_the_header_as_django_csp_puts_it(settings):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"script-src": ["'self'", NONCE]}}

    settled = _headers(lean_csp.SettledCSPMiddleware, "plain", "/x", nonce=True)

    assert f"'nonce-{settled['nonce']}'" in settled[HEADER]


def test_the_policy_is_built_once_per_settings_and_again_when_they_change(settings, monkeypatch):
    built = []

    def counting(*args, **kwargs):
        built.append(kwargs.get("report_only", False))
        return lean_csp_build(*args, **kwargs)

    lean_csp_build = lean_csp.build_policy
    monkeypatch.setattr(lean_csp, "build_policy", counting)
    settings.CONTENT_SECURITY_POLICY = POLICY
    middleware = lean_csp.SettledCSPMiddleware(lambda request: HttpResponse())

    def header() -> str:
        request = RequestFactory().get("/x")
        middleware.process_request(request)
        return middleware.process_response(request, _answer("plain"))[HEADER]

    first = [header() for _ in range(3)]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    changed = header()

    assert first == [first[0]] * 3 and "img-src 'self' blob:" in first[0]
    assert changed == "default-src 'none'"
    assert built == [False, True, False, True]  # policy and report-only, per settings


def test_the_lean_chain_runs_the_settled_middleware_in_csps_place(settings):
    chain = LeanChain()
    chain.load_middleware()

    assert "csp.middleware.CSPMiddleware" in chain.middleware_paths
    handler, found = chain._middleware_chain, []
    while handler is not None:  # convert_exception_to_response wraps each middleware
        middleware = handler.__wrapped__ if hasattr(handler, "__wrapped__") else handler
        found.append(type(middleware))
        handler = getattr(middleware, "get_response", None)
    assert lean_csp.SettledCSPMiddleware in found
    assert CSPMiddleware in {cls.__mro__[1] for cls in found}
    assert not [cls for cls in found if cls is CSPMiddleware]
