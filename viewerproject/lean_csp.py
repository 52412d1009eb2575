"""django-csp's middleware with the settings' policy strings built once, for lean GETs.

``csp.middleware.CSPMiddleware`` rebuilds both headers (the policy and the report-only one)
from the settings on every response: ``dataclasses.asdict``, a default-directives copy and a
join per directive, 0.1-0.3 ms of pure Python per rendered image, about as much as the user's
re-check. When a response asks for nothing of its own (no ``csp_update``/``csp_replace``/
``csp`` decorator left its parts on it, no nonce was used), the strings depend on the
settings alone, so ``SettledCSPMiddleware`` builds them with django-csp's own
``build_policy`` once per settings object and sets them exactly as the original would
(same exemptions, excluded prefixes, existing headers left alone). Anything else goes to the
original code. ``viewerproject.http_handler`` uses it in the lean chain only.
"""

from __future__ import annotations

import http.client
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

# What django-csp's decorators leave on a response for ``get_policy_parts`` to read.
_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
_SETTINGS = "CONTENT_SECURITY_POLICY"
_SETTINGS_RO = "CONTENT_SECURITY_POLICY_REPORT_ONLY"


class SettledCSPMiddleware(CSPMiddleware):
    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        # (policy setting, report-only setting, header, report-only header)
        self._settled: tuple[Any, Any, str, str] | None = None

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if not self._from_settings_alone(request, response):
            return super().process_response(request, response)
        policy, policy_ro = self._headers()
        _set(request, response, HEADER, policy, "_csp_exempt", _SETTINGS)
        _set(request, response, HEADER_REPORT_ONLY, policy_ro, "_csp_exempt_ro", _SETTINGS_RO)
        if getattr(request, "_csp_nonce", None) is None:  # as the original: too late for one
            request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response

    @staticmethod
    def _from_settings_alone(request: HttpRequest, response: HttpResponseBase) -> bool:
        debug_page = response.status_code in (
            http.client.INTERNAL_SERVER_ERROR,
            http.client.NOT_FOUND,
        )
        return (
            not (debug_page and settings.DEBUG)
            and getattr(request, "_csp_nonce", None) is None
            and all(getattr(response, name, None) is None for name in _PER_RESPONSE)
        )

    def _headers(self) -> tuple[str, str]:
        # Keyed by the settings objects themselves: override_settings gives new ones.
        policy = getattr(settings, _SETTINGS, None)
        policy_ro = getattr(settings, _SETTINGS_RO, None)
        settled = self._settled
        if settled is None or settled[0] is not policy or settled[1] is not policy_ro:
            settled = (policy, policy_ro, build_policy(), build_policy(report_only=True))
            self._settled = settled
        return settled[2], settled[3]


def _set(
    request: HttpRequest,
    response: HttpResponseBase,
    header: str,
    value: str,
    exempt: str,
    setting: str,
) -> None:
    """``CSPMiddleware.process_response``'s rule for one header."""
    if not value:
        return
    prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ()
    if (
        header not in response
        and getattr(response, exempt, False) is False
        and not request.path_info.startswith(tuple(prefixes))
    ):
        response[header] = value
