"""Settings come from the environment, with a safe default and loud failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'], "
    "'layer': settings.CHANNEL_LAYERS['default']['BACKEND'], 'debug': settings.DEBUG, "
    "'hosts': settings.ALLOWED_HOSTS, 'store': str(settings.DICOM_STORE_DIR)}))"
)


def load_settings(tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DJANGO_ENV"}
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="viewerproject.settings", VAR_DIR=str(tmp_path / "var"), **env
    )
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_default_is_embedded_sqlite_in_memory_layer_and_files_under_var(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["layer"] == "channels.layers.InMemoryChannelLayer"
    assert values["debug"] is False
    assert values["store"] == str(tmp_path / "var" / "store")
    assert "*" not in values["hosts"]


def test_database_url_and_redis_url_switch_to_the_scale_out_setup(tmp_path):
    result = load_settings(
        tmp_path,
        DATABASE_URL="postgres://viewer:secret@127.0.0.1:5432/viewer",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["layer"] == "channels_redis.core.RedisChannelLayer"


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"ALLOWED_HOSTS": "viewer.example.org"}, "SECRET_KEY"),
        ({"SECRET_KEY": "k" * 60}, "ALLOWED_HOSTS"),
        ({"SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"),
        ({"SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "v.example.org", "DEBUG": "1"}, "DEBUG"),
    ],
)
def test_production_refuses_to_start_without_secret_key_and_allowed_hosts(tmp_path, env, complaint):
    result = load_settings(tmp_path, DJANGO_ENV="production", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr


def test_production_starts_with_what_it_needs(tmp_path):
    result = load_settings(
        tmp_path, DJANGO_ENV="production", SECRET_KEY="k" * 60, ALLOWED_HOSTS="v.example.org"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hosts"] == ["v.example.org"]


def test_a_malformed_value_fails_loudly(tmp_path):
    result = load_settings(tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_secret_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("s" * 64 + "\n")
    result = load_settings(
        tmp_path,
        DJANGO_ENV="production",
        SECRET_KEY_FILE=str(secret_file),
        ALLOWED_HOSTS="v.example.org",
    )
    assert result.returncode == 0, result.stderr
