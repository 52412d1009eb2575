"""STOW-RS: ``POST /dicomweb/studies[/{study}]`` (PS3.18 10.5).

The body is ``multipart/related; type="application/dicom"``, one DICOM file per part. Each
part goes through ``studies.ingest.ingest_bytes`` on its own, so good parts of a batch are
stored whatever happens to the others, and every refused part is quarantined with its reason.

The answer is a Store Instances Response Module (PS3.18 Annex I) in DICOM JSON:
Referenced SOP Sequence (0008,1199) for stored instances (duplicates included: the archive
has them), Failed SOP Sequence (0008,1198) with a Failure Reason (0008,1197) per refused part,
and the study's Retrieve URL (0008,1190). HTTP status per PS3.18 Table 10.5.3-1: 200 all
stored, 202 some failed, 409 none stored, 400 malformed body, 413 over a size limit, 415 not
multipart/related of application/dicom.

Failure Reason is a number; the sentence behind it (and our stable reason code) travels in a
private block of each failed item, creator (0009,0010) "DICOMWEB VIEWER":
(0009,1001) UT the reason for people, (0009,1002) LO the reason code for programs.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pydicom
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from studies.dicomweb import dicom_json as dj
from studies.dicomweb.http import (
    accepts_dicom_json,
    dicom_json_response,
    not_acceptable,
    problem,
    warning,
)
from studies.dicomweb.links import Links
from studies.dicomweb.multipart import (
    MultipartError,
    Parts,
    TooLarge,
    UnsupportedMediaType,
    parse_related,
    spooled_parts,
)
from studies.ingest import REJECTED, IngestResult, ingest_bytes, ingest_candidate
from studies.models import Instance
from studies.sources import Candidate
from studies.validation import is_valid_uid

DICOM = "application/dicom"

# PS3.18 Table I.2-2 failure reasons for our rejection codes (studies.validation, ingest).
REFUSED_OUT_OF_RESOURCES = 0xA700
DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
CANNOT_UNDERSTAND = 0xC000
TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122
PROCESSING_FAILURE = 0x0110
SOP_CLASS_NOT_SUPPORTED = 0x0122

FAILURE_REASONS = {
    # Over a size cap we set: the server would not spend the resources.
    "too_large": REFUSED_OUT_OF_RESOURCES,
    "image_too_large": REFUSED_OUT_OF_RESOURCES,
    "inflated_too_large": REFUSED_OUT_OF_RESOURCES,
    # Bytes that do not parse, or a file meta header that cannot be read.
    "not_dicom": CANNOT_UNDERSTAND,
    "malformed": CANNOT_UNDERSTAND,
    "bad_file_meta": CANNOT_UNDERSTAND,
    "unreadable": CANNOT_UNDERSTAND,
    # A readable data set that breaks its IOD: required UIDs missing or invalid, pixel data
    # shorter than declared, identifiers that contradict the archive or the target study.
    "missing_attribute": DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
    "invalid_uid": DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
    "pixel_data_length": DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
    "conflicting_uids": DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
    "study_mismatch": DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
    "unsupported_transfer_syntax": TRANSFER_SYNTAX_NOT_SUPPORTED,
    "not_an_instance": SOP_CLASS_NOT_SUPPORTED,
    "wrong_media_type": CANNOT_UNDERSTAND,
    "storage_error": PROCESSING_FAILURE,
}

PRIVATE_CREATOR = "DICOMWEB VIEWER"
_CREATOR_TAG, _REASON_TAG, _CODE_TAG = "00090010", "00091001", "00091002"


def store(request: HttpRequest, study: str = "") -> HttpResponse:
    """Store every part of the request; answer with what was stored and what was not."""
    if not accepts_dicom_json(request):
        return not_acceptable()
    try:
        related = parse_related(request.META.get("CONTENT_TYPE", ""))
    except UnsupportedMediaType as exc:
        return problem(415, f'{exc}; send multipart/related; type="{DICOM}"')
    except MultipartError as exc:
        return problem(400, str(exc))
    if related.root_type not in ("", DICOM):
        # application/dicom+json / +xml with bulk data parts (PS3.18 10.5.1.1) are not taken.
        return problem(415, f'type="{related.root_type}" is not supported; send type="{DICOM}"')

    limit = settings.STOW_MAX_REQUEST_BYTES
    declared = _content_length(request)
    if declared is not None and declared > limit:
        return problem(413, f"the request body is over the {limit:,} byte limit")
    try:
        with spooled_parts(
            request,
            related.boundary,
            max_bytes=limit,
            max_parts=settings.DATA_UPLOAD_MAX_NUMBER_FILES,
            max_part_bytes=settings.INGEST_MAX_FILE_BYTES,
            spool_memory_bytes=settings.FILE_UPLOAD_MAX_MEMORY_SIZE,
            temp_dir=settings.FILE_UPLOAD_TEMP_DIR,
        ) as parts:
            if not parts:
                return problem(400, "the multipart body has no parts")
            outcomes = _store_parts(parts, request.user.get_username(), study)
    except MultipartError as exc:
        return problem(400, f"malformed multipart body: {exc}")
    except TooLarge as exc:
        return problem(413, str(exc))
    return _response(request, outcomes, study)


@dataclass
class Outcome:
    part: int
    result: IngestResult


def _store_parts(parts: Parts, username: str, study: str) -> list[Outcome]:
    outcomes = []
    for part in parts:
        name = f"part {part.number}"
        if part.media_type not in ("", DICOM):
            # Not claimed to be DICOM by its sender: reported, not quarantined as DICOM.
            result = IngestResult(
                REJECTED,
                name=name,
                reason_code="wrong_media_type",
                reason=f"the part is {part.media_type}, not {DICOM}",
            )
        elif not part.kept:
            result = ingest_candidate(
                Candidate(name, problem="part larger than the file size limit", size=part.size),
                Instance.Source.STOW,
                username,
            )
        else:
            data = parts.content(part)
            result = ingest_bytes(
                data,
                Instance.Source.STOW,
                source_detail=username,
                name=name,
                expected_study_uid=study,
            )
            if not result.ok and not result.sop_instance_uid:
                result.sop_class_uid, result.sop_instance_uid = _identify(data, result)
        outcomes.append(Outcome(part.number, result))
    return outcomes


def _identify(data: bytes, result: IngestResult) -> tuple[str, str]:
    """The SOP Class and Instance UIDs of a refused file, when it still names them.

    Ingest stops at the first problem, often before it reports UIDs, but a client matches
    failures to its files by them (PS3.3 Table 10-11, Type 1). Only the header is read, and
    never for files refused for their size: those are exactly the ones too costly to parse.
    """
    if result.reason_code in _NOT_REREAD:
        return result.sop_class_uid, ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(
                io.BytesIO(data),
                stop_before_pixels=True,
                specific_tags=["SOPClassUID", "SOPInstanceUID"],
            )
        found = (str(dataset.get("SOPClassUID", "")), str(dataset.get("SOPInstanceUID", "")))
    except Exception:  # unreadable is an answer too: no UIDs to report
        return "", ""
    return tuple(uid if is_valid_uid(uid) else "" for uid in found)  # type: ignore[return-value]


_NOT_REREAD = {"too_large", "inflated_too_large", "image_too_large", "wrong_media_type"}


def _response(request: HttpRequest, outcomes: list[Outcome], study: str) -> HttpResponse:
    links = Links(request)
    stored = [o.result for o in outcomes if o.result.ok]
    failed = [o for o in outcomes if not o.result.ok]
    dataset: dj.DataSet = {}
    studies = {r.study_instance_uid for r in stored} | ({study} if study else set())
    # Type 2: the one study this request stored into, empty when it touched several.
    dataset["00081190"] = dj.text("UR", links.study(studies.pop()) if len(studies) == 1 else "")
    if stored:
        dataset["00081199"] = dj.element("SQ", [_referenced_item(r, links) for r in stored])
    if failed:
        dataset["00081198"] = dj.element("SQ", [_failed_item(o) for o in failed])
    if not failed:
        status, notes = 200, []
    else:
        status = 202 if stored else 409
        notes = [
            warning(
                request,
                f"{len(failed)} of {len(outcomes)} parts were not stored; "
                "see Failed SOP Sequence (0008,1198)",
            )
        ]
    return dicom_json_response(dj.sorted_by_tag(dataset), status=status, warnings=notes)


def _referenced_item(result: IngestResult, links: Links) -> dj.DataSet:
    url = links.instance(
        result.study_instance_uid, result.series_instance_uid, result.sop_instance_uid
    )
    return {
        "00081150": dj.text("UI", result.sop_class_uid),
        "00081155": dj.text("UI", result.sop_instance_uid),
        "00081190": dj.text("UR", url),
    }


def _failed_item(outcome: Outcome) -> dj.DataSet:
    result = outcome.result
    code = FAILURE_REASONS.get(result.reason_code, PROCESSING_FAILURE)
    # PS3.3 Table 10-11 makes both UIDs Type 1, but a part we could not parse has none to
    # give; they are sent empty rather than left out, so clients can read them uniformly.
    return {
        "00081150": dj.text("UI", result.sop_class_uid),
        "00081155": dj.text("UI", result.sop_instance_uid),
        "00081197": dj.number("US", code),
        _CREATOR_TAG: dj.text("LO", PRIVATE_CREATOR),
        _REASON_TAG: dj.text("UT", f"part {outcome.part}: {result.reason}"),
        _CODE_TAG: dj.text("LO", result.reason_code),
    }


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
