"""Clinician pages: the study list, a study's detail, and the browser upload.

Thin views: they parse the request, call ``studies.queries`` / ``studies.ingest`` (through
``frontend.uploads``) and render. Every DICOM value reaches the page through Django's
auto-escaping templates or as JSON data the page inserts as text.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFilesSent
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.urls import get_script_prefix
from django.views.decorators.http import require_GET, require_POST

from frontend import listing
from frontend.first_preview import start_first_preview
from frontend.forms import StudySearchForm
from frontend.uploads import ingest_uploads, max_request_bytes, result_as_json
from studies import audit
from studies.access import visible_studies
from studies.ingest import DUPLICATE, REJECTED, STORED
from studies.launch import views as launch_views
from studies.models import PacsNode, Study
from studies.queries import InvalidQuery, search_studies
from studies.streaming.lookup import visible_study_uids
from studies.validation import is_valid_uid


@require_GET
@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    form = StudySearchForm(request.GET or None, modalities=listing.modalities_present())
    sort = listing.parse_sort(request.GET.get("sort"))
    notices = []
    if not sort.requested_ok:
        notices.append("Unknown sort order; showing newest studies first.")

    page = None
    if form.is_bound and not form.is_valid():
        # Show the errors rather than a list that silently ignores part of the search.
        studies = Study.objects.none()
    else:
        criteria = form.search_criteria() if form.is_bound else {}
        try:
            studies = search_studies(visible_studies(request.user), **criteria)
        except InvalidQuery as exc:
            form.add_error(None, str(exc))
            studies = Study.objects.none()
    if not form.errors:
        paginator = Paginator(listing.order_studies(studies, sort), settings.STUDY_LIST_PAGE_SIZE)
        # get_page turns page=abc into 1 and page=999 into the last page.
        page = paginator.get_page(request.GET.get("page"))

    return render(
        request,
        "frontend/study_list.html",
        {
            "form": form,
            "page": page,
            "sort": sort,
            "headers": listing.headers(sort),
            "notices": notices,
        },
    )


def _visible_study(request: HttpRequest, study_instance_uid: str) -> Study | HttpResponse:
    """The study with its patient, or the page that says why not: 400 for a malformed UID,
    403 for a study outside a launched session's link, else 404. The same rule as the
    socket's and DICOMweb's (studies.access): a study the user may not open does not exist."""
    if not is_valid_uid(study_instance_uid):
        # PS3.5 9.1: digits and dots, no leading zeros, at most 64 characters.
        return render(
            request,
            "frontend/bad_request.html",
            {"message": "That is not a valid Study Instance UID."},
            status=400,
        )
    # The access rule as the socket runs it (visible_study_uids: the same statement as
    # ``visible_studies``, compiled once per user), then a plain read: building the rule's
    # query with the ORM was ~5 ms of the viewer page's ~18 ms of server CPU.
    study = None
    if visible_study_uids(request.user, [study_instance_uid]):
        study = (
            Study.objects.select_related("patient")
            .filter(study_instance_uid=study_instance_uid)
            .first()
        )
    if study is None:
        return launch_views.not_visible(request, study_instance_uid)
    return study


@require_GET
@login_required
def study_detail(request: HttpRequest, study_instance_uid: str) -> HttpResponse:
    study = _visible_study(request, study_instance_uid)
    if isinstance(study, HttpResponse):
        return study
    series = study.series.order_by("series_number", "pk")
    return render(request, "frontend/study_detail.html", {"study": study, "series": series})


@require_GET
@login_required
def study_viewer(request: HttpRequest, study_instance_uid: str) -> HttpResponse:
    """The image viewer page. It carries the study UID, where the websocket and the DICOMweb
    thumbnails are and, when it is ready in time, the first image's preview (first_preview);
    everything else arrives over the socket (PROTOCOL.md)."""
    study = _visible_study(request, study_instance_uid)
    if isinstance(study, HttpResponse):
        return study
    # ?series= opens that series first; anything that is not a UID is ignored.
    series = request.GET.get("series", "")
    series = series if is_valid_uid(series) else ""
    # After the access check above: never a picture of a study the user may not open. Its
    # render (if it has to be rendered) runs while the rest of the page is prepared.
    picture = start_first_preview(request.user, study_instance_uid, series)
    audit.record(
        audit.Kind.STUDY_OPENED,
        request=request,
        study_uid=study_instance_uid,
        patient_id=study.patient.patient_id,
        patient_name=study.patient.name,
    )
    # Where a saved report may also be sent (C-STORE, studies.reports.sending).
    nodes = list(PacsNode.objects.filter(enabled=True).values_list("name", flat=True))
    prefix = get_script_prefix()
    return render(
        request,
        "frontend/viewer.html",
        {
            "study": study,
            "initial_series": series,
            "first_preview": picture.result() if picture is not None else None,
            "socket_path": f"{prefix}ws/viewer/",
            "dicomweb_root": f"{prefix}dicomweb/",
            "pacs_nodes": nodes,
        },
    )


@require_GET
@login_required
def upload_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "frontend/upload.html",
        {
            "max_request_bytes": max_request_bytes(),
            "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
        },
    )


def _json_error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@require_POST
def upload_files(request: HttpRequest) -> JsonResponse:
    """POST multipart/form-data: ``file`` parts, with an optional ``path`` per file (the
    relative path of a file from a dropped folder, which browsers strip from file names).
    CSRF is enforced by the middleware; the session must belong to a signed-in user."""
    if not request.user.is_authenticated:
        # JSON, not a redirect to the login page: the caller is a script.
        return _json_error("Sign in to upload.", 401)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _json_error("Content-Length is not a number.", 400)
    if declared > max_request_bytes():
        return _json_error(f"The request is over the {max_request_bytes():,} byte limit.", 413)
    try:
        files = request.FILES.getlist("file")
        paths = request.POST.getlist("path")
    except TooManyFilesSent:
        return _json_error(
            f"Too many files in one request (limit {settings.DATA_UPLOAD_MAX_NUMBER_FILES}).", 400
        )
    except RequestDataTooBig:
        return _json_error("The form fields are too large.", 413)
    except (MultiPartParserError, SuspiciousOperation) as exc:
        return _json_error(f"The upload could not be read: {exc}", 400)
    if not files:
        return _json_error("No files in the request (expected multipart 'file' parts).", 400)
    if len(paths) != len(files):
        paths = [upload.name for upload in files]

    results = [
        result_as_json(result)
        for result in ingest_uploads(zip(paths, files, strict=True), request.user.get_username())
    ]
    counts = {
        status: sum(1 for r in results if r["status"] == status)
        for status in (STORED, DUPLICATE, REJECTED)
    }
    return JsonResponse({"results": results, "counts": counts})
