"""The signature of a launch link: HMAC-SHA256 (RFC 2104, FIPS 180-4) over a canonical query.

Canonical query: every parameter except ``signature``, each name and value percent-encoded
as RFC 3986 unreserved-only (``A-Z a-z 0-9 - _ . ~`` kept, everything else ``%XX`` in upper
case, a space is ``%20``), pairs ``name=value`` sorted by name then value (byte order) and
joined by ``&``. The signature is the lower-case hex digest, sent as ``signature``.

An EMR that writes its query already sorted and encoded that way signs exactly the string
it sends, which is what the README's shell example does.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import quote

SIGNATURE = "signature"


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The string that is signed: sorted, RFC 3986 encoded, ``signature`` left out."""
    encoded = sorted((_encode(k), _encode(v)) for k, v in pairs if k != SIGNATURE)
    return "&".join(f"{k}={v}" for k, v in encoded)


def sign(secret: str, pairs: Iterable[tuple[str, str]]) -> str:
    message = canonical_query(pairs).encode("ascii")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_matches(secret: str, pairs: Iterable[tuple[str, str]], signature: str) -> bool:
    """Constant-time comparison, so the time taken says nothing about the right digest."""
    return hmac.compare_digest(sign(secret, pairs), signature.strip().lower())


def signed_query(secret: str, pairs: Iterable[tuple[str, str]]) -> str:
    """The query string to put after ``?``: the canonical query plus its signature."""
    pairs = list(pairs)
    return f"{canonical_query(pairs)}&{SIGNATURE}={sign(secret, pairs)}"
