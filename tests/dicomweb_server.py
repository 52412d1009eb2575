"""A real DICOMweb conversation for tests: dicomweb-client talking HTTP to a live server.

pytest-django's ``live_server`` runs the project in a thread on a free loopback port; it
shares the test database file (so tests need ``transactional_db``) and the settings, so the
per-test archive directories from conftest apply to it too. Credentials travel as HTTP Basic
on a ``requests.Session``, the way a PACS or a script would call the archive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.contrib.auth.models import User

USERNAME = "dicomweb-peer"
PASSWORD = "peer-pass-123"
STOW_CONTENT_TYPE = 'multipart/related; type="application/dicom"; boundary=dicomweb-test-bound'


@pytest.fixture
def peer_user(transactional_db) -> User:
    return User.objects.create_user(USERNAME, password=PASSWORD)


@pytest.fixture
def peer_session(live_server, peer_user) -> Iterator[requests.Session]:
    session = requests.Session()
    session.auth = (USERNAME, PASSWORD)
    yield session
    session.close()


@pytest.fixture
def dicomweb(live_server, peer_session) -> DICOMwebClient:
    return DICOMwebClient(url=f"{live_server.url}/dicomweb", session=peer_session)


def multipart_body(parts: Sequence[bytes], content_type: str = STOW_CONTENT_TYPE) -> bytes:
    """Encode parts exactly as dicomweb-client does for ``store_instances``."""
    return DICOMwebClient._encode_multipart_message(list(parts), content_type)


def post_parts(
    session: requests.Session,
    url: str,
    parts: Sequence[bytes],
    content_type: str = STOW_CONTENT_TYPE,
) -> requests.Response:
    """STOW-RS with arbitrary bytes per part (store_instances only sends pydicom data sets,
    and a test needs to send truncated files and plain text too)."""
    return session.post(
        url,
        data=multipart_body(parts, content_type),
        headers={"Content-Type": content_type, "Accept": "application/dicom+json"},
        timeout=30,
    )


def sequence(response_json: dict, tag: str) -> list[dict]:
    """Items of a sequence in a DICOM JSON data set ([] when absent)."""
    return response_json.get(tag, {}).get("Value", [])


def value(dataset: dict, tag: str):
    """The first value of an element of a DICOM JSON data set, or None."""
    values = dataset.get(tag, {}).get("Value") or [None]
    return values[0]


def decoded(response: requests.Response) -> dict | list:
    """The DICOM JSON body; fails the test when the answer is not DICOM JSON."""
    content_type = response.headers.get("Content-Type")
    if content_type != "application/dicom+json":
        pytest.fail(f"expected application/dicom+json, got {content_type}: {response.text[:200]}")
    return json.loads(response.content)
