"""DICOM network in the admin: who may store to us, the PACS nodes (with a C-ECHO test), and
the retrieve jobs (watch, cancel, retry)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import IntegrityError, transaction
from django.utils import timezone

from studies.models import KnownSender, PacsNode, RetrieveJob
from studies.pacs import jobs, scu


@admin.register(KnownSender)
class KnownSenderAdmin(admin.ModelAdmin):
    list_display = ["ae_title", "host", "enabled", "description", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["ae_title", "host", "description"]


@admin.register(PacsNode)
class PacsNodeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "ae_title",
        "host",
        "port",
        "retrieve_method",
        "calling_ae",
        "may_store",
        "enabled",
        "last_echo",
    ]
    list_filter = ["enabled", "retrieve_method"]
    search_fields = ["name", "ae_title", "host"]
    readonly_fields = ["last_echo_at", "last_echo_ok", "last_echo_message", "created_at"]
    actions = ["test_connection"]

    @admin.display(description="our AE title")
    def calling_ae(self, node: PacsNode) -> str:
        return node.calling_ae_title

    @admin.display(description="last C-ECHO")
    def last_echo(self, node: PacsNode) -> str:
        if node.last_echo_at is None:
            return "never"
        outcome = "ok" if node.last_echo_ok else "failed"
        return f"{outcome}, {timezone.localtime(node.last_echo_at):%Y-%m-%d %H:%M}"

    @admin.action(description="Test connection (C-ECHO)")
    def test_connection(self, request, queryset) -> None:
        for node in queryset:
            result = scu.echo(node)
            PacsNode.objects.filter(pk=node.pk).update(
                last_echo_at=timezone.now(),
                last_echo_ok=result.ok,
                last_echo_message=result.message[:300],
            )
            self.message_user(
                request,
                f"{node.name}: {result.message}",
                messages.SUCCESS if result.ok else messages.ERROR,
            )


@admin.register(RetrieveJob)
class RetrieveJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "node",
        "study_instance_uid",
        "series_instance_uid",
        "state",
        "progress",
        "failed_count",
        "attempts",
        "short_error",
        "created_at",
        "updated_at",
    ]
    list_select_related = ["node"]
    list_filter = ["state", "node", "created_at"]
    search_fields = ["study_instance_uid", "series_instance_uid", "error"]
    actions = ["cancel_jobs", "retry_jobs"]

    def has_add_permission(self, request) -> bool:
        # Jobs are queued from the study list, the API or `manage.py retrieve`.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="received")
    def progress(self, job: RetrieveJob) -> str:
        expected = "?" if job.expected_count is None else job.expected_count
        return f"{job.received_count} / {expected}"

    @admin.display(description="error")
    def short_error(self, job: RetrieveJob) -> str:
        return job.error if len(job.error) <= 100 else job.error[:97] + "…"

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request, queryset) -> None:
        active = [job.pk for job in queryset if job.is_active]
        for job_id in active:
            jobs.request_cancel(job_id)
        self.message_user(
            request, f"cancel requested for {len(active)} active job(s)", messages.SUCCESS
        )

    @admin.action(description="Retry the selected failed or cancelled jobs")
    def retry_jobs(self, request, queryset) -> None:
        retried, skipped = 0, 0
        for job in queryset.filter(
            state__in=[RetrieveJob.State.FAILED, RetrieveJob.State.CANCELLED]
        ):
            try:
                with transaction.atomic():
                    retried += RetrieveJob.objects.filter(pk=job.pk, state=job.state).update(
                        state=RetrieveJob.State.QUEUED,
                        attempts=0,
                        cancel_requested=False,
                        error="",
                        finished_at=None,
                        next_attempt_at=timezone.now(),
                    )
            except IntegrityError:
                skipped += 1  # the same request is already queued or running
        text = f"{retried} job(s) queued again"
        if skipped:
            text += f"; {skipped} skipped because the same retrieve is already active"
        self.message_user(request, text, messages.SUCCESS if retried else messages.WARNING)
