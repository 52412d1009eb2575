"""Browser uploads into the archive: each uploaded file, or each member of an uploaded zip,
goes through ``studies.ingest`` on its own, so one bad file never spoils its batch.

File names come from the browser (a relative path when a folder was dropped) and zip member
names from the archive: they are shown back to the user and recorded with quarantined files,
never used as paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse

from studies.dicom_text import clean_text
from studies.ingest import IngestResult, ingest_bytes, ingest_candidate
from studies.models import Instance
from studies.sources import Candidate, SourceError, iter_zip_candidates, looks_like_zip

# PS3.10 7.1: a Part 10 file has a 128-byte preamble and then "DICM".
_DICM_OFFSET = 128
_DICM = b"DICM"
# Matches QuarantinedFile.original_name.
MAX_NAME_LENGTH = 255


def ingest_uploads(
    uploads: Iterable[tuple[str, UploadedFile]], username: str
) -> Iterator[IngestResult]:
    """Ingest (client name, uploaded file) pairs; zip archives are expanded member by member."""
    for name, upload in uploads:
        name = clean_text(name, MAX_NAME_LENGTH) or "(unnamed)"
        yield from _ingest_upload(name, upload, username)


def _ingest_upload(name: str, upload: UploadedFile, username: str) -> Iterator[IngestResult]:
    source = Instance.Source.UPLOAD
    upload.seek(0)
    head = upload.read(_DICM_OFFSET + len(_DICM))
    upload.seek(0)
    # A Part 10 preamble is free-form and may itself start like a zip (PS3.10 7.5
    # dual-personality files), so "DICM" at offset 128 decides first.
    if head[_DICM_OFFSET:] != _DICM and looks_like_zip(head):
        yield from _ingest_zip(name, upload, username)
    elif upload.size > settings.INGEST_MAX_FILE_BYTES:
        # Django has spooled it to a temporary file; refuse it by size without reading it.
        too_large = Candidate(
            name, problem="file larger than the file size limit", size=upload.size
        )
        yield ingest_candidate(too_large, source, username)
    else:
        yield ingest_bytes(upload.read(), source, username, name)


def _ingest_zip(name: str, upload: UploadedFile, username: str) -> Iterator[IngestResult]:
    # iter_zip_candidates rather than iter_zip_members: a member that cannot be read is
    # recorded with its reason and the members after it are still ingested.
    try:
        for candidate in iter_zip_candidates(upload, name):
            yield ingest_candidate(candidate, Instance.Source.UPLOAD, username)
    except SourceError as exc:
        # The archive as a whole is unusable (not a zip, over the member or size caps);
        # members before the fault were ingested on their own, the rest is reported. The
        # archive itself is kept in the quarantine when it is small enough to keep.
        kept = b""
        if upload.size <= settings.INGEST_MAX_FILE_BYTES:
            upload.seek(0)
            kept = upload.read()
        broken = Candidate(name, kept, problem=str(exc))
        yield ingest_candidate(broken, Instance.Source.UPLOAD, username)


def result_as_json(result: IngestResult) -> dict[str, object]:
    """What the upload page shows for one file; the study link only for archived files."""
    study_url = ""
    if result.ok and result.study_instance_uid:
        study_url = reverse("frontend:study-detail", args=[result.study_instance_uid])
    return {
        "name": result.name,
        "status": result.status,
        "reason_code": result.reason_code,
        "reason": result.reason,
        "study_instance_uid": result.study_instance_uid,
        "study_url": study_url,
    }


def max_request_bytes() -> int:
    """Upload requests share the STOW-RS cap: both carry a batch of instances."""
    return settings.STOW_MAX_REQUEST_BYTES
