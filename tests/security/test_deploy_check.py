"""`manage.py check --deploy --fail-level WARNING` is clean under production settings."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_check(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "SECURE_SSL_REDIRECT"}
    }
    env.update(
        DJANGO_ENV="production",
        DJANGO_SETTINGS_MODULE="viewerproject.settings",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="viewer.example.org",
        VAR_DIR=str(tmp_path),
    )
    env.update(extra)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check(tmp_path):
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_check_does_fail_when_a_setting_is_weakened(tmp_path):
    # The same command notices a regression (here: no HTTPS redirect), so the test above
    # is not passing because the check never looks.
    result = run_check(tmp_path, SECURE_SSL_REDIRECT="false")
    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr


def test_the_check_flags_a_weak_secret_key(tmp_path):
    result = run_check(tmp_path, SECRET_KEY="a" * 60)
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr
