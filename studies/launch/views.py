"""The HTTP side of the EMR launch: thin views over ``studies.launch.service``.

``GET /IHEInvokeImageDisplay?...`` verifies the link, replaces whatever session the browser
had with the launch's scoped session, and opens the viewer (one local study) or the launch
page (several studies, a patient, or studies still being retrieved). Every refusal is a 403
page that says which check failed; malformed parameters are a 400 page.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import login, logout
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from studies import audit
from studies.access import is_launch_session, launch_grant, visible_studies
from studies.launch import iid, service
from studies.models import LaunchGrant, LaunchScopeStudy, PacsNode, RetrieveJob, Study

_HEADLINES = {
    service.TAMPERED: "This link has been altered",
    service.UNKNOWN_EMR: "This link is not from a configured EMR",
    service.EXPIRED: "This link has expired",
    service.REPLAYED: "This link was already used",
    service.OUT_OF_SCOPE: "Outside this launch",
}


def refused(request: HttpRequest, reason: str, message: str) -> HttpResponse:
    response = render(
        request,
        "frontend/launch_refused.html",
        {"reason": reason, "headline": _HEADLINES.get(reason, "Refused"), "message": message},
        status=403,
    )
    response["X-Launch-Refusal"] = reason
    return response


@require_GET
@never_cache
def invoke_image_display(request: HttpRequest) -> HttpResponse:
    pairs = [(name, value) for name, values in request.GET.lists() for value in values]
    try:
        opened = service.launch(pairs)
    except service.LaunchRefused as exc:
        audit.record(
            audit.Kind.LAUNCH_REFUSED,
            request=request,
            who=f"emr:{request.GET.get('emr', '')[:64]}",
            outcome=audit.Outcome.SERIOUS_FAILURE,
            detail=exc.reason,
        )
        return refused(request, exc.reason, exc.message)
    except iid.InvalidLaunch as exc:
        audit.record(
            audit.Kind.LAUNCH_REFUSED,
            request=request,
            who=f"emr:{request.GET.get('emr', '')[:64]}",
            outcome=audit.Outcome.MINOR_FAILURE,
            detail=f"bad request: {exc}",
        )
        return render(request, "frontend/bad_request.html", {"message": str(exc)}, status=400)
    # Whoever was signed in in this browser is signed out: the launch's session is its own.
    logout(request)
    login(request, opened.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.set_expiry(opened.grant.integration.session_lifetime_seconds)
    audit.record(
        audit.Kind.LAUNCH,
        request=request,
        user=opened.user,
        patient_id=opened.grant.patient_id,
        study_uid=opened.local_uids[0] if len(opened.local_uids) == 1 else "",
        detail=f"{opened.grant.request_type} launch #{opened.grant.pk}",
    )
    if opened.grant.request_type == "STUDY" and len(opened.local_uids) == 1 and not opened.remote:
        return redirect(_viewer_url(opened.grant, opened.local_uids[0]))
    return redirect("launch:session")


def _viewer_url(grant: LaunchGrant, study_uid: str) -> str:
    """The viewer of a study, with the launch's flags (the final rendering is lossless
    whatever is asked); keyImagesOnly opens the series of the study's key images, if any."""
    from studies.reports.key_images import key_image_series

    url = reverse("frontend:study-viewer", args=[study_uid])
    flags = [name for name in ("diagnosticQuality", "keyImagesOnly") if grant.parameters.get(name)]
    query = [f"{name}=true" for name in flags]
    if grant.parameters.get("keyImagesOnly") and (series := key_image_series(study_uid)):
        query.insert(0, f"series={series}")
    return url + ("?" + "&".join(query) if query else "")


def _retrieves(grant: LaunchGrant, uids: list[str]) -> dict[str, RetrieveJob]:
    jobs = RetrieveJob.objects.filter(requested_by=grant.user_id, study_instance_uid__in=uids)
    latest: dict[str, RetrieveJob] = {}
    for job in jobs.order_by("created_at").select_related("node"):
        latest[job.study_instance_uid] = job
    return latest


def _within(study: Study, grant: LaunchGrant) -> bool:
    """The IID filters of a PATIENT launch (dates and modalities) for the listing."""
    params = grant.parameters
    when = (
        datetime.combine(study.study_date, study.study_time or datetime.min.time())
        if study.study_date
        else None
    )
    lower, upper = params.get("lowerDateTime"), params.get("upperDateTime")
    if when and lower and when < datetime.fromisoformat(lower):
        return False
    if when and upper and when > datetime.fromisoformat(upper):
        return False
    wanted = set(params.get("modalitiesInStudy") or [])
    return not wanted or bool(wanted & set(study.modalities))


def _remote_priors(grant: LaunchGrant, local_uids: set[str]) -> tuple[list[dict], dict]:
    from studies.pacs import query

    try:
        answer = query.prior_studies(grant.patient_id, issuer=grant.issuer_of_patient_id)
    except query.InvalidQuery:
        return [], {}
    remote = [
        row
        for row in answer["studies"]
        if row.get("remote") and row["study_instance_uid"] not in local_uids
    ]
    wanted = set(grant.parameters.get("modalitiesInStudy") or [])
    if wanted:
        remote = [row for row in remote if wanted & set(row.get("modalities") or [])]
    return remote, answer["errors"]


@require_GET
@never_cache
def session_page(request: HttpRequest) -> HttpResponse:
    """What the launch opened: its studies here (with the viewer), and for a PATIENT launch
    the priors on the PACS nodes; retrieves in progress refresh the page until they land."""
    grant = launch_grant(request.user)
    if grant is None:
        return refused(
            request, service.OUT_OF_SCOPE, "This page belongs to a session opened from an EMR."
        )
    local = list(
        visible_studies(request.user)
        .select_related("patient")
        .order_by("-study_date", "-study_time")
    )
    remote: list[dict] = []
    errors: dict = {}
    if grant.request_type == "PATIENT":
        local = [s for s in local if _within(s, grant)]
        if grant.parameters.get("mostRecentResults"):
            local = local[: grant.parameters["mostRecentResults"]]
        remote, errors = _remote_priors(grant, {s.study_instance_uid for s in local})
        uids = [row["study_instance_uid"] for row in remote]
    else:
        named = list(
            LaunchScopeStudy.objects.filter(grant=grant).values_list(
                "study_instance_uid", flat=True
            )
        )
        here = {s.study_instance_uid for s in local}
        uids = [uid for uid in named if uid not in here]
    jobs = _retrieves(grant, [s.study_instance_uid for s in local] + uids)
    pending = [
        {
            "study_instance_uid": uid,
            "job": jobs.get(uid),
            "row": next((r for r in remote if r["study_instance_uid"] == uid), None),
        }
        for uid in uids
    ]
    busy = any(j.is_active for j in jobs.values())
    studies = [
        {
            "study": s,
            "job": jobs.get(s.study_instance_uid),
            "url": _viewer_url(grant, s.study_instance_uid),
        }
        for s in local
    ]
    return render(
        request,
        "frontend/launch_session.html",
        {"grant": grant, "studies": studies, "pending": pending, "errors": errors, "refresh": busy},
    )


@require_POST
def retrieve_prior(request: HttpRequest) -> HttpResponse:
    """Retrieve one remote prior of a PATIENT launch (the patient is in scope, its priors too)."""
    from studies.pacs import jobs, query

    grant = launch_grant(request.user)
    if grant is None or grant.request_type != "PATIENT":
        return refused(request, service.OUT_OF_SCOPE, "Only a PATIENT launch retrieves priors.")
    node = PacsNode.objects.filter(name=request.POST.get("node", ""), enabled=True).first()
    uid = request.POST.get("study_instance_uid", "")
    # Checked on the node: the study must belong to the launch's patient.
    match = None
    if node is not None:
        try:
            result = query.search(
                node,
                "STUDY",
                query.SearchTerms(
                    study_instance_uid=uid,
                    patient_id=grant.patient_id,
                    issuer_of_patient_id=grant.issuer_of_patient_id,
                ),
            )
            # The same patient: ID and issuer both (another issuer's 12345 is someone else).
            match = next(
                (
                    r
                    for r in result.rows
                    if r["study_instance_uid"] == uid
                    and r["patient_id"] == grant.patient_id
                    and r["issuer_of_patient_id"] == grant.issuer_of_patient_id
                ),
                None,
            )
        except Exception:  # noqa: BLE001 (PacsError, InvalidQuery: both mean "not confirmed")
            match = None
    if match is None:
        return refused(
            request,
            service.OUT_OF_SCOPE,
            "That study is not one of this patient's studies on the PACS.",
        )
    jobs.queue_retrieve(node, uid, user=request.user)
    audit.record(
        audit.Kind.RETRIEVE,
        request=request,
        study_uid=uid,
        patient_id=grant.patient_id,
        detail=f"queued from {node.name}",
    )
    return redirect("launch:session")


def not_visible(request: HttpRequest, study_uid: str) -> HttpResponse:
    """For the study pages, when ``visible_studies`` does not hold the study: a launched
    session gets the 403 page (its link named other studies), anyone else a 404."""
    if launch_grant(request.user) is None:
        raise Http404("No such study.")
    audit.record(
        audit.Kind.STUDY_OPENED,
        request=request,
        study_uid=study_uid,
        outcome=audit.Outcome.MINOR_FAILURE,
        detail="outside launch scope",
    )
    return refused(
        request,
        service.OUT_OF_SCOPE,
        "This session was opened from an EMR for other studies; this one is not part of it.",
    )


def dicomweb_refusal(request: HttpRequest, study_uid: str) -> HttpResponse | None:
    """For DICOMweb: a launched session reads (GET) only the studies of its link, and never
    searches across studies or stores; an ordinary account gets None."""
    user = request.user
    if not is_launch_session(user):
        return None
    if (
        request.method in ("GET", "HEAD")
        and study_uid
        and visible_studies(user).filter(study_instance_uid=study_uid).exists()
    ):
        return None
    return HttpResponse(
        "Outside this launch: a session opened from an EMR reads only the studies of its link.",
        status=403,
        content_type="text/plain; charset=utf-8",
    )


def may_use_pacs(request: HttpRequest, view_name: str) -> bool:
    """For the PACS endpoints: a PATIENT launch may list its own patient's priors (the
    viewer's priors panel) and follow its own retrieves; nothing else."""
    grant = launch_grant(request.user)
    if grant is None or request.method != "GET":
        return False
    if view_name == "priors":
        patient_id = request.GET.get("patient_id", "").strip()
        issuer = request.GET.get("issuer", "").strip()
        return (
            grant.request_type == "PATIENT"
            and patient_id == grant.patient_id
            and issuer == grant.issuer_of_patient_id
        )
    if view_name == "job_detail":
        job_id = request.resolver_match.kwargs.get("job_id") if request.resolver_match else None
        return RetrieveJob.objects.filter(pk=job_id, requested_by=request.user.pk).exists()
    return False
