"""python manage.py import_dicom: files, folders and zips, with a summary and exit status."""

from __future__ import annotations

import io
import shutil
import zipfile

import pytest
from django.core.management import CommandError, call_command

from studies.models import Instance, QuarantinedFile
from tests.dicom_files import make_ct, sample_path, to_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def incoming(tmp_path):
    """A folder to import from, apart from the test's archive directories."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    return folder


def run_import(*paths) -> str:
    out = io.StringIO()
    call_command("import_dicom", *map(str, paths), "--no-progress", stdout=out)
    return out.getvalue()


def test_folder_of_good_files_imports_and_exits_zero(tmp_path):
    folder = tmp_path / "cd" / "nested"
    folder.mkdir(parents=True)
    for number in range(3):
        (folder / f"IM{number}").write_bytes(to_bytes(make_ct(instance_number=number)))
    shutil.copy(sample_path("MR_small.dcm"), tmp_path / "cd" / "MR_small.dcm")
    (tmp_path / "cd" / "DICOMDIR").write_bytes(b"index of the CD, not an instance")
    output = run_import(tmp_path / "cd")
    assert "4 stored, 0 already present, 0 rejected" in output
    assert Instance.objects.count() == 4
    assert not QuarantinedFile.objects.exists()


def test_batch_mixing_good_and_bad_files_stores_the_good_and_exits_nonzero(incoming):
    good = [to_bytes(make_ct(instance_number=n)) for n in range(2)]
    (incoming / "a.dcm").write_bytes(good[0])
    shutil.copy(sample_path("MR_truncated.dcm"), incoming / "truncated.dcm")
    (incoming / "notes.txt").write_text("not an image")
    archive = incoming / "more.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("series/b.dcm", good[1])
        bundle.writestr("series/junk.bin", b"\x00" * 300)
    out = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_dicom", str(incoming), "--no-progress", stdout=out)
    assert failure.value.returncode == 1
    output = out.getvalue()
    assert "2 stored, 0 already present, 3 rejected" in output
    assert "truncated.dcm: pixel_data_length" in output
    assert "notes.txt: not_dicom" in output
    assert "more.zip/series/junk.bin: not_dicom" in output
    assert Instance.objects.count() == 2
    assert QuarantinedFile.objects.count() == 3


def test_second_import_reports_already_present(incoming):
    (incoming / "a.dcm").write_bytes(to_bytes(make_ct()))
    run_import(incoming)
    assert "0 stored, 1 already present, 0 rejected" in run_import(incoming)


def test_broken_zip_is_reported_and_other_files_still_import(incoming):
    (incoming / "good.dcm").write_bytes(to_bytes(make_ct()))
    (incoming / "broken.zip").write_bytes(b"PK\x03\x04" + b"garbage" * 50)
    with pytest.raises(CommandError):
        run_import(incoming)
    assert Instance.objects.count() == 1
    entry = QuarantinedFile.objects.get()
    assert entry.reason_code == "unreadable"
    assert "not a readable zip" in entry.reason


def test_zip_bomb_member_is_refused_by_the_size_cap(tmp_path, settings):
    settings.INGEST_MAX_FILE_BYTES = 64 * 1024
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("huge.dcm", b"\x00" * (32 * 1024 * 1024))
    assert archive.stat().st_size < 100 * 1024
    with pytest.raises(CommandError):
        run_import(archive)
    assert QuarantinedFile.objects.get().reason_code == "too_large"


def test_missing_path_is_reported_not_crashed(tmp_path):
    with pytest.raises(CommandError):
        run_import(tmp_path / "does-not-exist")
    assert QuarantinedFile.objects.get().reason_code == "unreadable"
