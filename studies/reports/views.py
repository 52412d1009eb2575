"""Report pages and save endpoints: thin views over ``reading``, ``writing`` and ``sending``.

GET  /studies/<study>/reports/                 the study's SR and KOS instances
GET  /studies/<study>/reports/<sop>/           one report: content tree, measurements, images
GET  /studies/<study>/reports/saved.json       the newest saved measurements and key images,
                                               as the viewer draws them (``restoring``)
POST /studies/<study>/reports/measurements     JSON ``{"measurements": [...], "send_to": node?}``
POST /studies/<study>/reports/key-images       JSON ``{"instances": [...], "note", "send_to"?}``
Both POSTs answer 201 ``{"sop_instance_uid", "url", "sent_to"}``; 400 with ``error`` otherwise.
"""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from studies import audit
from studies.access import visible_studies
from studies.models import Instance, PacsNode, Study
from studies.pacs import scu
from studies.rendering import instance_path
from studies.reports import SR_SOP_CLASSES, InvalidReport, reading, restoring, sending


def _study(request: HttpRequest, study_uid: str) -> Study:
    study = (
        visible_studies(request.user)
        .select_related("patient")
        .filter(study_instance_uid=study_uid)
        .first()
    )
    if study is None:
        raise Http404("No such study.")
    return study


def _reports(study: Study):
    return (
        Instance.objects.filter(series__study=study, sop_class_uid__in=SR_SOP_CLASSES)
        .select_related("series")
        .order_by("-received_at")
    )


@require_GET
@login_required
def report_list(request: HttpRequest, study_uid: str) -> HttpResponse:
    study = _study(request, study_uid)
    return render(
        request, "frontend/report_list.html", {"study": study, "reports": _reports(study)}
    )


@require_GET
@login_required
def report_detail(request: HttpRequest, study_uid: str, sop_uid: str) -> HttpResponse:
    study = _study(request, study_uid)
    instance = _reports(study).filter(sop_instance_uid=sop_uid).first()
    if instance is None:
        raise Http404("No such report in this study.")
    try:
        ds = dcmread(instance_path(instance))
    except (InvalidDicomError, OSError, ValueError) as exc:
        return render(
            request,
            "frontend/bad_request.html",
            {"message": f"The report cannot be read: {type(exc).__name__}"},
            status=422,
        )
    tree = reading.content_tree(ds)
    refs = reading.referenced_images(tree)
    series_of = dict(
        Instance.objects.filter(
            sop_instance_uid__in=[r.sop_instance_uid for r in refs], series__study=study
        ).values_list("sop_instance_uid", "series__series_instance_uid")
    )
    viewer = reverse("frontend:study-viewer", args=[study.study_instance_uid])
    images = [
        {
            "ref": r,
            "url": f"{viewer}?series={series_of[r.sop_instance_uid]}"
            if r.sop_instance_uid in series_of
            else "",
        }
        for r in refs
    ]
    audit.record(
        audit.Kind.STUDY_OPENED,
        request=request,
        study_uid=study_uid,
        patient_id=study.patient.patient_id,
        patient_name=study.patient.name,
        detail=f"report {sop_uid}",
    )
    return render(
        request,
        "frontend/report_detail.html",
        {
            "study": study,
            "instance": instance,
            "title": tree.concept or "Report",
            "tree": tree,
            "measurements": reading.measurements(tree),
            "images": images,
        },
    )


@require_GET
def saved(request: HttpRequest, study_uid: str) -> JsonResponse:
    """What the viewer shows again on reopening: ``{"report": {sop_instance_uid, url,
    saved_at} | null, "measurements": [{instance, frame, shape, measurement}], "key_images":
    {"sop_instance_uid", "instances": [...]}}``."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "log in first"}, status=401)
    if not visible_studies(request.user).filter(study_instance_uid=study_uid).exists():
        return JsonResponse({"error": "no such study that you may see"}, status=404)
    report = restoring.latest_measurements(study_uid)
    kos, key_images = restoring.latest_key_images(study_uid)
    answer = {
        "report": {
            "sop_instance_uid": report.sop_instance_uid,
            "url": reverse("reports:detail", args=[study_uid, report.sop_instance_uid]),
            "saved_at": report.received_at,
        }
        if report.sop_instance_uid
        else None,
        "measurements": report.measurements,
        "key_images": {"sop_instance_uid": kos, "instances": key_images},
    }
    response = JsonResponse(answer)
    response["Cache-Control"] = "no-store"
    return response


def _body(request: HttpRequest) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise InvalidReport("the body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidReport("the body is a JSON object")
    return data


def _save(request: HttpRequest, study_uid: str, make) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"error": "log in first"}, status=401)
    study = visible_studies(request.user).filter(study_instance_uid=study_uid).first()
    if study is None:
        return JsonResponse({"error": "no such study that you may see"}, status=404)
    node = None
    try:
        data = _body(request)
        if data.get("send_to"):
            node = PacsNode.objects.filter(name=str(data["send_to"]), enabled=True).first()
            if node is None:
                raise InvalidReport("unknown or disabled PACS node")
        saved = make(study_uid, data)
    except InvalidReport as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    uid = saved.result.sop_instance_uid
    answer = {
        "sop_instance_uid": uid,
        "url": reverse("reports:detail", args=[study_uid, uid]),
        "sent_to": None,
    }
    if node is not None:
        instance = Instance.objects.get(pk=saved.result.instance_id)
        try:
            sending.send(instance, node)
        except scu.PacsError as exc:
            audit.record(
                audit.Kind.EXPORT,
                request=request,
                study_uid=study_uid,
                outcome=audit.Outcome.SERIOUS_FAILURE,
                detail=f"C-STORE to {node.name}: {exc}",
            )
            answer["error"] = f"saved, but not sent: {exc}"
            return JsonResponse(answer, status=502)
        audit.record(
            audit.Kind.EXPORT,
            request=request,
            study_uid=study_uid,
            detail=f"C-STORE {uid} to {node.name}",
        )
        answer["sent_to"] = node.name
    return JsonResponse(answer, status=201)


@require_POST
def save_measurements(request: HttpRequest, study_uid: str) -> JsonResponse:
    from studies.reports import writing  # highdicom: 0.5 s of import every process would pay

    return _save(
        request,
        study_uid,
        lambda uid, data: writing.measurement_report(uid, data.get("measurements"), request.user),
    )


@require_POST
def save_key_images(request: HttpRequest, study_uid: str) -> JsonResponse:
    from studies.reports import writing

    return _save(
        request,
        study_uid,
        lambda uid, data: writing.key_object_selection(
            uid, data.get("instances"), request.user, str(data.get("note", ""))
        ),
    )
