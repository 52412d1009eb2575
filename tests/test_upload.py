"""Browser upload: the page, and the POST endpoint that ingests files and zip archives."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from studies.models import Instance, QuarantinedFile, Study
from studies.storage import quarantine_store
from tests.browser import chromium_page, save_screenshot
from tests.dicom_files import make_ct, sample_path, to_bytes

PAGE = reverse("frontend:upload")
ENDPOINT = reverse("frontend:upload-files")
STUDY_UID = "1.2.826.0.1.3680043.8.498.2001"


def ct_bytes(**attributes) -> bytes:
    return to_bytes(make_ct(study_uid=STUDY_UID, **attributes))


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(client: Client, files: list[tuple[str, bytes]], paths: list[str] | None = None, **kw):
    data: dict[str, object] = {
        "file": [SimpleUploadedFile(name, content) for name, content in files]
    }
    if paths is not None:
        data["path"] = paths
    return client.post(ENDPOINT, data, **kw)


def by_name(response) -> dict[str, dict]:
    return {result["name"]: result for result in response.json()["results"]}


# --- The page ----------------------------------------------------------------------------


def test_upload_page_requires_login(client, db):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_upload_page_offers_files_folders_and_drop(clinician_client, settings):
    content = clinician_client.get(PAGE).content.decode()
    assert 'id="drop-zone"' in content
    assert 'type="file" name="file" multiple' in content
    assert "webkitdirectory" in content
    assert f'data-endpoint="{ENDPOINT}"' in content
    assert f'data-max-request-bytes="{settings.STOW_MAX_REQUEST_BYTES}"' in content
    assert 'name="csrfmiddlewaretoken"' in content
    assert '<script type="module" src="/static/frontend/js/upload/main.js"></script>' in content


# --- The endpoint: mixed batches ------------------------------------------------------------


def test_good_bad_and_zip_in_one_request_each_get_their_own_result(clinician_client):
    good = ct_bytes(instance_number=1)
    zipped_good = ct_bytes(instance_number=2)
    zipped_bad = b"this is a text file, not DICOM" * 10
    archive = zip_of({"CD/IMG0002.dcm": zipped_good, "CD/notes.txt": zipped_bad})
    response = upload(
        clinician_client,
        [("IMG0001.dcm", good), ("broken.dcm", b"\x00" * 200), ("export.zip", archive)],
        paths=["scan/IMG0001.dcm", "scan/broken.dcm", "export.zip"],
    )

    assert response.status_code == 200
    body = response.json()
    results = by_name(response)
    assert set(results) == {
        "scan/IMG0001.dcm",
        "scan/broken.dcm",
        "export.zip/CD/IMG0002.dcm",
        "export.zip/CD/notes.txt",
    }
    assert results["scan/IMG0001.dcm"]["status"] == "stored"
    assert results["scan/IMG0001.dcm"]["study_instance_uid"] == STUDY_UID
    assert results["scan/IMG0001.dcm"]["study_url"] == reverse(
        "frontend:study-detail", args=[STUDY_UID]
    )
    assert results["export.zip/CD/IMG0002.dcm"]["status"] == "stored"
    for rejected in ("scan/broken.dcm", "export.zip/CD/notes.txt"):
        assert results[rejected]["status"] == "rejected"
        assert results[rejected]["reason_code"] == "not_dicom"
        assert results[rejected]["reason"]
        assert results[rejected]["study_url"] == ""
    assert body["counts"] == {"stored": 2, "duplicate": 0, "rejected": 2}

    # Nothing lost: two instances archived under the uploader's name, two files quarantined.
    instances = Instance.objects.filter(series__study__study_instance_uid=STUDY_UID)
    assert instances.count() == 2
    assert set(instances.values_list("source", "source_detail")) == {
        (Instance.Source.UPLOAD, "clinician")
    }
    quarantined = QuarantinedFile.objects.order_by("original_name")
    assert [q.original_name for q in quarantined] == ["export.zip/CD/notes.txt", "scan/broken.dcm"]
    assert {q.source for q in quarantined} == {Instance.Source.UPLOAD}


def test_sending_the_same_file_again_reports_a_duplicate(clinician_client):
    data = ct_bytes()
    assert by_name(upload(clinician_client, [("a.dcm", data)]))["a.dcm"]["status"] == "stored"
    again = upload(clinician_client, [("a.dcm", data)])
    assert by_name(again)["a.dcm"]["status"] == "duplicate"
    assert by_name(again)["a.dcm"]["study_url"]
    assert again.json()["counts"]["duplicate"] == 1
    assert Instance.objects.count() == 1


def test_real_sample_files_are_stored(clinician_client):
    names = ["CT_small.dcm", "MR_small.dcm"]
    response = upload(clinician_client, [(n, sample_path(n).read_bytes()) for n in names])
    assert [r["status"] for r in response.json()["results"]] == ["stored", "stored"]
    assert Study.objects.count() == 2


def test_without_paths_the_uploaded_file_names_are_used(clinician_client):
    response = upload(clinician_client, [("one.dcm", ct_bytes()), ("two.dcm", ct_bytes())])
    assert [r["name"] for r in response.json()["results"]] == ["one.dcm", "two.dcm"]


def test_broken_zip_is_reported_not_dropped(clinician_client):
    truncated = zip_of({"a.dcm": ct_bytes()})[:60]
    response = upload(clinician_client, [("good.dcm", ct_bytes()), ("cd.zip", truncated)])
    results = by_name(response)
    assert results["good.dcm"]["status"] == "stored"
    assert results["cd.zip"]["status"] == "rejected"
    assert results["cd.zip"]["reason_code"] == "unreadable"
    assert "cd.zip" in results["cd.zip"]["reason"]
    # Kept in the quarantine with its reason: the sender's bytes are not lost.
    entry = QuarantinedFile.objects.get()
    assert entry.original_name == "cd.zip"
    with quarantine_store().open(entry.file_path) as handle:
        assert handle.read() == truncated


def test_unreadable_zip_member_is_rejected_and_the_rest_still_stored(clinician_client):
    first, second = ct_bytes(instance_number=1), ct_bytes(instance_number=2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("1.dcm", first)
        archive.writestr("corrupt.dcm", b"DATA" * 100)
        archive.writestr("2.dcm", second)
    # Flip the stored member's bytes so its CRC check fails on reading.
    data = buffer.getvalue().replace(b"DATA" * 100, b"ATAD" * 100)
    results = by_name(upload(clinician_client, [("cd.zip", data)]))
    assert results["cd.zip/1.dcm"]["status"] == "stored"
    assert results["cd.zip/2.dcm"]["status"] == "stored"
    assert results["cd.zip/corrupt.dcm"]["status"] == "rejected"
    assert "CRC" in results["cd.zip/corrupt.dcm"]["reason"]
    assert Instance.objects.count() == 2


def test_zip_system_files_are_skipped(clinician_client):
    archive = zip_of({"DICOMDIR": b"index", "__MACOSX/._a": b"x", "IMG/1": ct_bytes()})
    response = upload(clinician_client, [("cd.zip", archive)])
    assert [(r["name"], r["status"]) for r in response.json()["results"]] == [
        ("cd.zip/IMG/1", "stored")
    ]


def test_part10_file_with_a_zip_like_preamble_is_treated_as_dicom(clinician_client):
    # PS3.10 7.5: the preamble is free-form; "DICM" at 128 decides, not the first bytes.
    data = bytearray(ct_bytes())
    data[:4] = b"PK\x03\x04"
    response = upload(clinician_client, [("dual.dcm", bytes(data))])
    assert by_name(response)["dual.dcm"]["status"] == "stored"


def test_over_size_file_on_disk_is_refused_before_reading(clinician_client, settings):
    # Above FILE_UPLOAD_MAX_MEMORY_SIZE Django spools to a temporary file; ingest then
    # refuses it by size without loading it.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.INGEST_MAX_FILE_BYTES = 2048
    response = upload(clinician_client, [("big.dcm", ct_bytes(rows=64, columns=64))])
    result = by_name(response)["big.dcm"]
    assert result["status"] == "rejected"
    assert result["reason_code"] == "too_large"
    assert QuarantinedFile.objects.get().original_name == "big.dcm"


def test_large_valid_file_spooled_to_disk_is_stored(clinician_client, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = upload(clinician_client, [("big.dcm", ct_bytes(rows=64, columns=64))])
    assert by_name(response)["big.dcm"]["status"] == "stored"


def test_hostile_file_names_come_back_as_json_data(clinician_client):
    name = '<img src=x onerror="alert(1)">.dcm'
    response = upload(clinician_client, [("x.dcm", b"nope")], paths=[name])
    assert response["Content-Type"] == "application/json"
    assert by_name(response)[name]["status"] == "rejected"


# --- The endpoint: refusals -----------------------------------------------------------------


def test_anonymous_upload_is_refused_and_nothing_is_stored(client, db):
    response = upload(client, [("a.dcm", ct_bytes())])
    assert response.status_code == 401
    assert response.json() == {"error": "Sign in to upload."}
    assert Instance.objects.count() == 0
    assert QuarantinedFile.objects.count() == 0


def test_csrf_token_is_required(clinician):
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician)
    refused = upload(client, [("a.dcm", ct_bytes())])
    assert refused.status_code == 403
    assert Instance.objects.count() == 0

    client.get(PAGE)  # sets the CSRF cookie, as the page does for the browser
    token = client.cookies["csrftoken"].value
    accepted = upload(client, [("a.dcm", ct_bytes())], headers={"X-CSRFToken": token})
    assert accepted.status_code == 200
    assert Instance.objects.count() == 1


def test_get_is_not_allowed(clinician_client):
    assert clinician_client.get(ENDPOINT).status_code == 405


def test_request_without_files_is_a_clear_400(clinician_client):
    response = clinician_client.post(ENDPOINT, {"path": "x"})
    assert response.status_code == 400
    assert "No files" in response.json()["error"]


def test_request_over_the_size_cap_is_refused_unread(clinician_client, settings):
    settings.STOW_MAX_REQUEST_BYTES = 2048
    response = upload(clinician_client, [("a.dcm", ct_bytes(rows=64, columns=64))])
    assert response.status_code == 413
    assert "2,048 byte limit" in response.json()["error"]
    assert Instance.objects.count() == QuarantinedFile.objects.count() == 0


def test_too_many_files_in_one_request_is_a_clear_400(clinician_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    response = upload(clinician_client, [(f"{n}.dcm", ct_bytes()) for n in range(3)])
    assert response.status_code == 400
    assert "Too many files" in response.json()["error"]
    assert Instance.objects.count() == 0


@pytest.mark.parametrize("content_length", ["abc", "-1"])
def test_odd_content_length_does_not_crash(clinician_client, content_length):
    response = clinician_client.generic(
        "POST",
        ENDPOINT,
        b"",
        content_type="multipart/form-data; boundary=x",
        headers={"Content-Length": content_length},
    )
    assert response.status_code == 400
    assert json.loads(response.content)["error"]


# --- The page in a real browser ---------------------------------------------------------------


@pytest.mark.browser
def test_browser_uploads_picked_files_and_a_folder_and_shows_each_result(
    live_server, clinician, tmp_path
):
    folder = tmp_path / "cd" / "SERIES1"
    folder.mkdir(parents=True)
    for number in (1, 2):
        (folder / f"IM{number}").write_bytes(ct_bytes(instance_number=number))
    (tmp_path / "cd" / "DICOMDIR").write_bytes(b"index, skipped")
    (tmp_path / "notes.txt").write_bytes(b"not DICOM" * 20)
    (tmp_path / "export.zip").write_bytes(zip_of({"A/3.dcm": ct_bytes(instance_number=3)}))

    # The browser is driven between database checks, never during them: Django's ORM
    # refuses to run while Playwright's event loop is active.
    from playwright.sync_api import expect

    with chromium_page() as page:
        page.goto(f"{live_server.url}{PAGE}")
        page.fill("#id_username", "clinician")
        page.fill("#id_password", "clinician-pass-123")
        page.click("button[type=submit]")
        page.wait_for_url(f"**{PAGE}")

        page.set_input_files("#file-input", [tmp_path / "notes.txt", tmp_path / "export.zip"])
        progress = page.locator("#upload-progress-text")
        expect(progress).to_contain_text("2 files of 2")
        expect(progress).to_contain_text("done")
        page.set_input_files("#folder-input", tmp_path / "cd")
        expect(progress).to_contain_text("4 files of 4")
        expect(progress).to_contain_text("1 system file skipped")
        expect(progress).to_contain_text("done")

        counts = {
            status: page.locator(f"[data-count={status}]").inner_text()
            for status in ("stored", "duplicate", "rejected", "failed")
        }
        rows = page.locator("#upload-results tr").all_inner_texts()
        save_screenshot(page, "upload-results")
        page_errors = page.errors

    assert page_errors == []
    assert counts == {"stored": "3", "duplicate": "0", "rejected": "1", "failed": "0"}
    names = sorted(row.split("\t")[0] for row in rows)
    assert names == ["cd/SERIES1/IM1", "cd/SERIES1/IM2", "export.zip/A/3.dcm", "notes.txt"]
    assert Instance.objects.filter(series__study__study_instance_uid=STUDY_UID).count() == 3
    assert QuarantinedFile.objects.get().original_name == "notes.txt"
