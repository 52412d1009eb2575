"""Shared fixtures: personas, an isolated archive per test, real sample files."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User


@pytest.fixture(autouse=True)
def isolated_archive(settings, tmp_path):
    """Each test gets its own file store and quarantine directory."""
    settings.DICOM_STORE_DIR = tmp_path / "store"
    settings.QUARANTINE_DIR = tmp_path / "quarantine"
    return tmp_path


@pytest.fixture
def clinician(db) -> User:
    return User.objects.create_user("clinician", password="clinician-pass-123")


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_superuser("admin", "admin@example.org", "admin-pass-123")


@pytest.fixture
def clinician_client(client, clinician):
    client.force_login(clinician)
    return client


# Real peers, started on free loopback ports per test (tests/peers/).
from tests.peers.fixtures import orthanc, orthanc_factory  # noqa: E402,F401
