"""The storage settings fail loudly: a typo must not silently archive to the wrong place."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

SETTINGS = Path(__file__).resolve().parents[2] / "viewerproject" / "settings.py"


def load_settings(monkeypatch, tmp_path, **env: str) -> dict:
    monkeypatch.setenv("DJANGO_ENV", "test")
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    for name in ("DICOM_STORAGE", "AWS_STORAGE_BUCKET_NAME", "DICOM_S3_CACHE_BYTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_filesystem_is_the_default_and_s3_reads_its_variables(monkeypatch, tmp_path):
    default = load_settings(monkeypatch, tmp_path)
    s3 = load_settings(
        monkeypatch,
        tmp_path,
        DICOM_STORAGE="S3",
        AWS_STORAGE_BUCKET_NAME="archive",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        DICOM_S3_CACHE_BYTES="2_147_483_648",
    )

    assert default["DICOM_STORAGE"] == "filesystem"
    assert default["DICOM_S3_CACHE_DIR"] == tmp_path.resolve() / "s3-cache"
    assert (s3["DICOM_STORAGE"], s3["AWS_STORAGE_BUCKET_NAME"]) == ("s3", "archive")
    assert s3["AWS_S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert s3["DICOM_S3_CACHE_BYTES"] == 2 * 1024**3


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DICOM_STORAGE": "nfs"}, "use filesystem or s3"),
        ({"DICOM_STORAGE": "s3"}, "needs AWS_STORAGE_BUCKET_NAME"),
        (
            {"DICOM_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "b", "DICOM_S3_CACHE_BYTES": "10"},
            "DICOM_S3_CACHE_BYTES=10 must be at least",
        ),
    ],
)
def test_bad_storage_settings_stop_the_process_naming_the_variable(
    monkeypatch, tmp_path, env, message
):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(monkeypatch, tmp_path, **env)
