"""python manage.py retry_file_deletions : delete again the files whose delete failed.

For cron: it exits non-zero while some still fail (the error is in the admin's "Pending
file deletions")."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from studies.file_deletions import retry_pending


class Command(BaseCommand):
    help = "Retry deleting stored files whose index rows are gone but whose delete failed."

    def handle(self, *args, **options) -> None:
        outcome = retry_pending()
        summary = (
            f"{outcome.deleted} deleted, {outcome.in_use_again} in use again (kept), "
            f"{outcome.still_failing} still failing"
        )
        if outcome.still_failing:
            raise CommandError(summary)
        self.stdout.write(summary)
