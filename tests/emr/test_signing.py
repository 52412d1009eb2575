"""The signature EMR developers must reproduce: the README's shell recipe (openssl) and
Python recipe give the digest the viewer checks, and ``make_launch_url`` makes working links."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
import time
from io import StringIO
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from studies.launch.signing import canonical_query, sign
from tests.emr.conftest import STUDY_A
from tests.emr.links import SECRET

PAIRS = [
    ("requestType", "PATIENT"),
    ("patientID", "12345^^^HOSP"),
    ("emr", "ris"),
    ("expires", "1767225600"),
    ("nonce", "0123456789abcdef0123"),
    ("patientName", "Doe^Jane Q"),
]


def test_canonical_query_sorts_and_encodes_rfc3986():
    assert canonical_query(PAIRS) == (
        "emr=ris&expires=1767225600&nonce=0123456789abcdef0123&patientID=12345%5E%5E%5EHOSP"
        "&patientName=Doe%5EJane%20Q&requestType=PATIENT"
    )
    assert canonical_query([*PAIRS, ("signature", "ignored")]) == canonical_query(PAIRS)


def test_the_readme_python_recipe_gives_the_same_signature():
    # As in README.md "EMR integration": sort, quote(safe="-_.~"), join, HMAC-SHA256 hex.
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(PAIRS))
    expected = hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    assert sign(SECRET, PAIRS) == expected


def test_the_readme_openssl_recipe_gives_the_same_signature():
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    query = canonical_query(PAIRS)
    out = subprocess.run(
        [
            "sh",
            "-c",
            "printf '%s' \"$Q\" | openssl dgst -sha256 -hmac \"$SECRET\" | sed 's/^.*= //'",
        ],
        env={"Q": query, "SECRET": SECRET, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == sign(SECRET, PAIRS)


def test_make_launch_url_prints_a_link_that_opens_the_study(client, integration, studies):
    out = StringIO()
    call_command(
        "make_launch_url", "--emr", "ris", "--study", STUDY_A, "--base-url", "http://x", stdout=out
    )
    url = out.getvalue().strip()
    assert url.startswith("http://x/IHEInvokeImageDisplay?")
    response = client.get(url.removeprefix("http://x"))
    assert response.status_code == 302 and STUDY_A in response["Location"]
    expires = int(dict(p.split("=") for p in url.split("?")[1].split("&"))["expires"])
    assert 0 < expires - time.time() <= integration.link_lifetime_seconds


def test_make_launch_url_refuses_an_unknown_emr_or_no_target(integration):
    with pytest.raises(CommandError, match="no EMR integration"):
        call_command("make_launch_url", "--emr", "nope", "--study", STUDY_A)
    with pytest.raises(CommandError, match="--patient"):
        call_command("make_launch_url", "--emr", "ris")
