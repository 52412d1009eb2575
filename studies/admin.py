"""The archive in the Django admin: browse and search everything, change nothing that came
from DICOM (it would no longer match the files), delete studies with their files, and work
through the quarantine."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from studies import file_deletions, quarantine
from studies.counts import recount_studies
from studies.models import (
    Instance,
    Patient,
    PendingFileDeletion,
    QuarantinedFile,
    Series,
    Study,
)
from studies.storage import quarantine_store


class ReadOnlyDicomAdmin(admin.ModelAdmin):
    """DICOM attributes are shown, never edited; rows arrive only through ingest."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class StudyInline(ReadOnlyInline):
    model = Study
    fields = ["study_date", "accession_number", "description", "modalities_in_study"]


class SeriesInline(ReadOnlyInline):
    model = Series
    fields = [
        "series_number",
        "modality",
        "description",
        "body_part_examined",
        "number_of_instances",
    ]


@admin.register(Patient)
class PatientAdmin(ReadOnlyDicomAdmin):
    list_display = [
        "name",
        "patient_id",
        "issuer_of_patient_id",
        "birth_date",
        "sex",
        "study_count",
    ]
    search_fields = ["name", "patient_id"]
    list_filter = ["sex"]
    inlines = [StudyInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(study_count=Count("studies"))

    @admin.display(description="studies", ordering="study_count")
    def study_count(self, patient: Patient) -> int:
        return patient.study_count


@admin.register(Study)
class StudyAdmin(ReadOnlyDicomAdmin):
    list_display = [
        "study_date",
        "patient_name",
        "patient_identifier",
        "accession_number",
        "description",
        "modalities_in_study",
        "number_of_series",
        "number_of_instances",
    ]
    list_select_related = ["patient"]
    list_filter = ["modalities_in_study", "study_date", "created_at"]
    date_hierarchy = "study_date"
    search_fields = [
        "patient__name",
        "patient__patient_id",
        "accession_number",
        "study_instance_uid",
        "description",
    ]
    inlines = [SeriesInline]

    @admin.display(description="patient", ordering="patient__name")
    def patient_name(self, study: Study) -> str:
        return study.patient.name

    @admin.display(description="patient ID", ordering="patient__patient_id")
    def patient_identifier(self, study: Study) -> str:
        return study.patient.patient_id


@admin.register(Series)
class SeriesAdmin(ReadOnlyDicomAdmin):
    list_display = [
        "series_instance_uid",
        "study",
        "modality",
        "series_number",
        "description",
        "body_part_examined",
        "number_of_instances",
    ]
    list_select_related = ["study"]
    list_filter = ["modality", "body_part_examined"]
    search_fields = [
        "series_instance_uid",
        "description",
        "study__study_instance_uid",
        "study__patient__name",
        "study__patient__patient_id",
        "study__accession_number",
    ]

    def delete_model(self, request, obj: Series) -> None:
        study_id = obj.study_id
        super().delete_model(request, obj)
        recount_studies([study_id])

    def delete_queryset(self, request, queryset) -> None:
        study_ids = list(queryset.values_list("study_id", flat=True))
        super().delete_queryset(request, queryset)
        recount_studies(study_ids)


@admin.register(Instance)
class InstanceAdmin(ReadOnlyDicomAdmin):
    list_display = [
        "sop_instance_uid",
        "instance_number",
        "series",
        "sop_class_uid",
        "transfer_syntax_uid",
        "rows",
        "columns",
        "number_of_frames",
        "file_size",
        "source",
        "received_at",
    ]
    list_select_related = ["series"]
    list_filter = ["source", "transfer_syntax_uid", "sop_class_uid", "received_at"]
    search_fields = [
        "sop_instance_uid",
        "series__series_instance_uid",
        "series__study__study_instance_uid",
    ]
    exclude = ["dicom_json"]

    def get_readonly_fields(self, request, obj=None):
        return [f for f in super().get_readonly_fields(request, obj) if f != "dicom_json"]

    def delete_model(self, request, obj: Instance) -> None:
        study_id = obj.series.study_id
        super().delete_model(request, obj)
        recount_studies([study_id])

    def delete_queryset(self, request, queryset) -> None:
        study_ids = list(queryset.values_list("series__study_id", flat=True))
        super().delete_queryset(request, queryset)
        recount_studies(study_ids)


@admin.register(QuarantinedFile)
class QuarantinedFileAdmin(ReadOnlyDicomAdmin):
    list_display = [
        "received_at",
        "original_name",
        "source",
        "source_detail",
        "reason_code",
        "short_reason",
        "file_size",
        "download_link",
    ]
    list_filter = ["reason_code", "source", "received_at"]
    search_fields = ["original_name", "sop_instance_uid", "reason", "source_detail"]
    actions = ["retry_ingest"]

    @admin.display(description="reason")
    def short_reason(self, entry: QuarantinedFile) -> str:
        return entry.reason if len(entry.reason) <= 120 else entry.reason[:117] + "…"

    @admin.display(description="file")
    def download_link(self, entry: QuarantinedFile) -> str:
        if not entry.file_path:
            return "not kept"
        url = reverse("admin:studies_quarantinedfile_download", args=[entry.pk])
        return format_html('<a href="{}">download</a>', url)

    def get_urls(self):
        custom = [
            path(
                "<int:pk>/download/",
                self.admin_site.admin_view(self.download),
                name="studies_quarantinedfile_download",
            )
        ]
        return custom + super().get_urls()

    def download(self, request, pk: int):
        if not self.has_view_permission(request):
            raise Http404
        entry = get_object_or_404(QuarantinedFile, pk=pk)
        if not entry.file_path:
            raise Http404("the file was not kept")
        # An attachment with a neutral type: the bytes are a stranger's and must not render.
        response = FileResponse(
            quarantine_store().open(entry.file_path),
            as_attachment=True,
            filename=f"quarantined-{entry.pk}.bin",
            content_type="application/octet-stream",
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @admin.action(description="Retry import of the selected files (e.g. after raising a limit)")
    def retry_ingest(self, request, queryset) -> None:
        outcome = quarantine.retry(queryset)
        self.message_user(
            request,
            f"{outcome.accepted} imported, {outcome.still_rejected} still rejected, "
            f"{outcome.not_kept} not kept (nothing to retry)",
            messages.SUCCESS if outcome.accepted else messages.WARNING,
        )


@admin.register(PendingFileDeletion)
class PendingFileDeletionAdmin(ReadOnlyDicomAdmin):
    """Files whose rows were deleted but which would not go (see studies.file_deletions)."""

    list_display = ["relative_path", "store", "first_failed_at", "last_tried_at", "attempts"]
    list_filter = ["store"]
    readonly_fields = ["store", "relative_path", "first_failed_at", "last_tried_at", "attempts"]
    fields = readonly_fields + ["error"]
    actions = ["retry_delete"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # dropping the record would orphan the file for good

    @admin.action(description="Retry deleting the selected files")
    def retry_delete(self, request, queryset) -> None:
        outcome = file_deletions.retry_pending(queryset)
        self.message_user(
            request,
            f"{outcome.deleted} deleted, {outcome.in_use_again} in use again (kept), "
            f"{outcome.still_failing} still failing",
            messages.WARNING if outcome.still_failing else messages.SUCCESS,
        )


from studies.audit import admin as audit_admin  # noqa: E402,F401  (EMR launch, audit trail)
from studies.pacs import admin as pacs_admin  # noqa: E402,F401  (registers its models)
