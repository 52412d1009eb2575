"""GET /export/studies/<uid>.zip[?deidentify=1[&retain_dates=1]]: a whole study as a ZIP
with a DICOMDIR, for clinicians with the export capability who may see the study."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from studies import audit
from studies.access import visible_studies
from studies.export.media import study_zip
from studies.roles import Capability, require_capability


@require_GET
@require_capability(Capability.EXPORT)
def study_export(request: HttpRequest, study_instance_uid: str) -> HttpResponse:
    study = get_object_or_404(visible_studies(request.user), study_instance_uid=study_instance_uid)
    anonymise = request.GET.get("deidentify") == "1"
    retain = request.GET.get("retain_dates") == "1"
    if retain and not anonymise:
        return HttpResponseBadRequest("retain_dates applies to a de-identified export only")
    archive = study_zip(study, anonymise=anonymise, retain_full_dates=retain)
    audit.record(audit.Kind.EXPORT, request=request, study_uid=study_instance_uid, detail="zip")
    # The file name is ours, never DICOM text; served as a download the browser won't sniff.
    name = f"study-{study.pk}{'-deidentified' if anonymise else ''}.zip"
    response = FileResponse(
        archive, as_attachment=True, filename=name, content_type="application/zip"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response
