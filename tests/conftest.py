"""Shared fixtures: personas, an isolated archive per test, real sample files."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

# Tests whose answer cannot depend on the database or the channel layer the suite runs on:
# the pure imaging pipeline, the byte-level fuzz of the ingest check, settings and deploy
# checks run in subprocesses with their own environment, and the Chromium tests, whose
# servers each make a private SQLite archive (tests/bench/django_server.py). `make test`
# runs them in the embedded pass only (marker backend_independent); the PostgreSQL + Redis
# pass runs everything else. Paths and node ids, relative to the repository root.
BACKEND_INDEPENDENT = (
    "tests/imaging/",
    "tests/security/test_fuzz_ingest.py::test_ten_thousand_mutated_files_meet_only_typed_rejections_at_the_check",
    "tests/test_settings.py",
    "tests/security/test_deploy_check.py",
    "tests/test_viewer_browser.py",
    "tests/test_pacs_ui_browser.py",
    "tests/security/test_browser_hardening.py",
    "tests/emr/test_launch_browser.py",
    "tests/emr/test_reports_browser.py",
)
# Fixtures that put a test on the suite's own database: such a test is never backend
# independent, whatever its path says.
_DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not item.nodeid.startswith(BACKEND_INDEPENDENT):
            continue
        uses_database = _DATABASE_FIXTURES & set(item.fixturenames)
        if uses_database or item.get_closest_marker("django_db"):
            raise pytest.UsageError(
                f"{item.nodeid} is listed as backend independent in tests/conftest.py but "
                f"uses the suite's database ({', '.join(sorted(uses_database)) or 'django_db'})"
            )
        item.add_marker(pytest.mark.backend_independent)


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
