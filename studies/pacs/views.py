"""JSON endpoints for the UI: search a PACS, see a patient's priors, queue, watch and cancel
retrieves. Thin: parse, authorise, call the service, answer.

Session login required (401 JSON otherwise, never a redirect a fetch() would follow); POSTs
go through Django's CSRF check like any form (send the ``X-CSRFToken`` header).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from studies import audit
from studies.access import is_launch_session
from studies.launch import views as launch_views
from studies.models import PacsNode, RetrieveJob
from studies.pacs import jobs, query, scu
from studies.pacs.progress import job_summary
from studies.queries import InvalidQuery

JOB_LIST_LIMIT = 100


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def login_required_json(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return _error(401, "log in first")
        if is_launch_session(user) and not launch_views.may_use_pacs(request, view.__name__):
            return _error(403, "a session opened from an EMR sees only the studies of its link")
        return view(request, *args, **kwargs)

    return never_cache(wrapped)


def _node_json(node: PacsNode) -> dict:
    return {
        "name": node.name,
        "ae_title": node.ae_title,
        "retrieve_method": node.retrieve_method,
    }


@require_GET
@login_required_json
def nodes(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"nodes": [_node_json(n) for n in PacsNode.objects.filter(enabled=True)]})


@require_GET
@login_required_json
def search(request: HttpRequest, name: str) -> JsonResponse:
    """C-FIND ``?level=STUDY`` (PATIENT, STUDY, SERIES, IMAGE) with patient_name,
    patient_id, accession_number, study_date (YYYYMMDD or a range), modality,
    study_instance_uid, series_instance_uid."""
    node = PacsNode.objects.filter(name=name, enabled=True).first()
    if node is None:
        return _error(404, f"no enabled PACS node named {name!r}")
    try:
        terms = query.SearchTerms.from_mapping(request.GET)
        level = request.GET.get("level", "STUDY").upper()
        if level in ("PATIENT", "STUDY") and terms.is_empty():
            raise InvalidQuery("give at least one search term")
        result = query.search(node, level, terms)
        audit.record(audit.Kind.QUERY, request=request, detail=f"C-FIND {level} on {node.name}")
    except InvalidQuery as exc:
        return _error(400, str(exc))
    except scu.PacsError as exc:
        return _error(502, str(exc))
    return JsonResponse(result.as_json())


@require_GET
@login_required_json
def priors(request: HttpRequest) -> JsonResponse:
    """``?patient_id=&issuer=``: the patient's studies here and on every enabled PACS (the
    issuer, Issuer of Patient ID, tells apart patients of other assigning authorities)."""
    try:
        answer = query.prior_studies(
            request.GET.get("patient_id", "").strip(),
            issuer=request.GET.get("issuer", "").strip(),
        )
    except InvalidQuery as exc:
        return _error(400, str(exc))
    return JsonResponse(answer)


def _body(request: HttpRequest) -> dict:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise InvalidQuery("the body is not valid JSON")
        if not isinstance(data, dict):
            raise InvalidQuery("the body must be a JSON object")
        return data
    return request.POST.dict()


@require_POST
@login_required_json
def retrieve(request: HttpRequest) -> JsonResponse:
    """Queue a retrieve: ``node``, ``study_instance_uid``, optional ``series_instance_uid``.
    202 with the job; an identical active request answers with that job (``created`` false)."""
    try:
        data = _body(request)
    except InvalidQuery as exc:
        return _error(400, str(exc))
    node = PacsNode.objects.filter(name=str(data.get("node", "")), enabled=True).first()
    if node is None:
        return _error(400, "unknown or disabled PACS node")
    try:
        job, created = jobs.queue_retrieve(
            node,
            str(data.get("study_instance_uid", "")).strip(),
            str(data.get("series_instance_uid", "") or "").strip(),
            user=request.user,
        )
    except jobs.InvalidRequest as exc:
        return _error(400, str(exc))
    audit.record(
        audit.Kind.RETRIEVE,
        request=request,
        study_uid=job.study_instance_uid,
        detail=f"queued from {node.name}",
    )
    return JsonResponse({"job": job_summary(job), "created": created}, status=202)


@require_GET
@login_required_json
def job_list(request: HttpRequest) -> JsonResponse:
    """Recent jobs, newest first; ``?study=UID`` for one study's, ``?active=1`` for running
    and queued ones only."""
    found = RetrieveJob.objects.select_related("node")
    study = request.GET.get("study", "").strip()
    if study:
        found = found.filter(study_instance_uid=study)
    if request.GET.get("active") in ("1", "true", "yes"):
        found = found.filter(state__in=RetrieveJob.ACTIVE_STATES)
    return JsonResponse({"jobs": [job_summary(j) for j in found[:JOB_LIST_LIMIT]]})


@require_GET
@login_required_json
def job_detail(request: HttpRequest, job_id: int) -> JsonResponse:
    job = RetrieveJob.objects.select_related("node").filter(pk=job_id).first()
    if job is None:
        return _error(404, "no such retrieve job")
    return JsonResponse({"job": job_summary(job)})


@require_POST
@login_required_json
def job_cancel(request: HttpRequest, job_id: int) -> JsonResponse:
    if not RetrieveJob.objects.filter(pk=job_id).exists():
        return _error(404, "no such retrieve job")
    job = jobs.request_cancel(job_id)
    return JsonResponse({"job": job_summary(job)})
