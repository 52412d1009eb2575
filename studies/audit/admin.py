"""Admin for the EMR launch and the audit trail (imported by ``studies.admin``).

EMR integrations are configured here (name, shared secret, link and session lifetime).
Audit events are read-only, searchable by who, patient, study and address, filterable by
kind and outcome, and exportable as DICOM PS3.15 A.5 audit messages.
"""

from __future__ import annotations

import secrets

from django import forms
from django.contrib import admin
from django.http import HttpResponse
from django.utils import timezone

from studies.audit import dicom_xml, signals  # noqa: F401  (signals: connects the receivers)
from studies.models import AuditEvent, EmrIntegration, LaunchGrant


class EmrIntegrationForm(forms.ModelForm):
    shared_secret = forms.CharField(
        min_length=32,
        initial=lambda: secrets.token_urlsafe(32),
        help_text="Give this to the EMR's developers over a safe channel; at least 32 characters.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 60}),
    )

    class Meta:
        model = EmrIntegration
        fields = [
            "name",
            "shared_secret",
            "link_lifetime_seconds",
            "session_lifetime_seconds",
            "enabled",
        ]


@admin.register(EmrIntegration)
class EmrIntegrationAdmin(admin.ModelAdmin):
    form = EmrIntegrationForm
    list_display = [
        "name",
        "enabled",
        "link_lifetime_seconds",
        "session_lifetime_seconds",
        "created_at",
    ]


@admin.register(LaunchGrant)
class LaunchGrantAdmin(admin.ModelAdmin):
    list_display = ["pk", "integration", "request_type", "emr_user", "created_at", "expires_at"]
    list_filter = ["integration", "request_type"]
    readonly_fields = [f.name for f in LaunchGrant._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind",
        "outcome",
        "who",
        "source_address",
        "patient_id",
        "study_instance_uid",
    ]
    list_filter = ["kind", "outcome", ("created_at", admin.DateFieldListFilter)]
    search_fields = [
        "who",
        "patient_id",
        "patient_name",
        "study_instance_uid",
        "source_address",
        "detail",
    ]
    date_hierarchy = "created_at"
    actions = ["export_dicom_audit"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Export as DICOM audit messages (PS3.15 A.5 XML)")
    def export_dicom_audit(self, request, queryset) -> HttpResponse:
        response = HttpResponse(
            dicom_xml.export(queryset.order_by("created_at")), content_type="application/xml"
        )
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.xml"'
        return response
