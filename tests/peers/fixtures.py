"""pytest fixtures for the real peers. Import them into a conftest or a test module:

    from tests.peers.fixtures import orthanc, orthanc_factory  # noqa: F401

Orthanc missing (the Debian packages are not installed) skips the test, unless
REQUIRE_PEERS=1, where CI wants a missing peer to fail loudly instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.peers.orthanc import OrthancPeer, orthanc_missing


def require_orthanc() -> None:
    reason = orthanc_missing()
    if not reason:
        return
    if os.environ.get("REQUIRE_PEERS", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"Orthanc is required (REQUIRE_PEERS) but {reason}")
    pytest.skip(reason)


@pytest.fixture
def orthanc_factory(tmp_path_factory) -> Iterator[Callable[..., OrthancPeer]]:
    """Start Orthanc peers with custom options (e.g. ``modalities``); all stopped after."""
    require_orthanc()
    started: list[OrthancPeer] = []

    def start(**options: Any) -> OrthancPeer:
        options.setdefault("workdir", tmp_path_factory.mktemp("orthanc"))
        peer = OrthancPeer(**options)
        started.append(peer)
        return peer.start()

    yield start
    for peer in reversed(started):
        peer.stop()


@pytest.fixture
def orthanc(orthanc_factory) -> OrthancPeer:
    """A running Orthanc with DICOMweb on free loopback ports, empty, stopped after the test."""
    return orthanc_factory()
