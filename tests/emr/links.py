"""Helpers for EMR tests: an integration, and links signed the way the README tells EMRs to."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from studies.launch.signing import sign, signed_query
from studies.models import EmrIntegration

SECRET = "s3cret-shared-with-the-emr-0123456789abcdef"


def make_integration(name: str = "ris", **options) -> EmrIntegration:
    return EmrIntegration.objects.create(name=name, shared_secret=SECRET, **options)


def link_pairs(
    request_type: str = "STUDY", lifetime: int = 120, **params: str
) -> list[tuple[str, str]]:
    pairs = [
        ("emr", params.pop("emr", "ris")),
        ("expires", str(params.pop("expires", int(time.time()) + lifetime))),
        ("nonce", params.pop("nonce", secrets.token_urlsafe(16))),
        ("requestType", request_type),
    ]
    return pairs + list(params.items())


def signed_link(request_type: str = "STUDY", secret: str = SECRET, **params) -> str:
    return "/IHEInvokeImageDisplay?" + signed_query(secret, link_pairs(request_type, **params))


def link_with(pairs: list[tuple[str, str]], signature: str) -> str:
    """A link whose query is exactly ``pairs`` plus a given signature (for tampering)."""
    return "/IHEInvokeImageDisplay?" + urlencode([*pairs, ("signature", signature)])


def signature_of(pairs: list[tuple[str, str]], secret: str = SECRET) -> str:
    return sign(secret, pairs)
