"""Delete a stored file once its index row is gone, and never lose track of one that would not go.

A row is deleted in a transaction, its file only after the commit (a rollback must not leave
a row without its file). That delete can fail: an S3 endpoint that is down, a permission on
the file store. Before, the exception surfaced after the commit (the admin's delete page
answered 500 although the rows were gone) and the file stayed in the archive with nothing
pointing at it: a patient's images nobody could see or remove. Now the failure is written
down as a ``PendingFileDeletion`` and retried by ``retry_pending`` (the admin's action, or
``python manage.py retry_file_deletions`` from cron).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from studies.models import Instance, PendingFileDeletion, QuarantinedFile
from studies.storage import dicom_store, quarantine_store

log = logging.getLogger(__name__)

Store = PendingFileDeletion.Store
_ERROR_CHARS = 1000


def delete_once_committed(store: str, relative_path: str) -> None:
    """Delete the file after the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(lambda: delete_now_or_later(store, relative_path))


def delete_now_or_later(store: str, relative_path: str) -> bool:
    """Delete the file now; on failure remember it for a retry. True when it is gone."""
    try:
        _store(store).delete(relative_path)
    except OSError as exc:  # StorageError is an OSError, like a refused unlink
        log.warning("could not delete %s file %s, will retry: %s", store, relative_path, exc)
        _remember_failure(store, relative_path, exc)
        return False
    return True


@dataclass(frozen=True)
class RetryOutcome:
    deleted: int = 0
    still_failing: int = 0
    # The same bytes were stored again since (content-addressed paths): the file is in use.
    in_use_again: int = 0


def retry_pending(pending: Iterable[PendingFileDeletion] | None = None) -> RetryOutcome:
    """Try every pending deletion again (or the given ones); a success drops its row."""
    rows = PendingFileDeletion.objects.all() if pending is None else pending
    deleted = failing = in_use = 0
    for row in rows:
        # Paths are content digests: an ingest of the same bytes since the failure points a
        # new row at this very file, which must then stay. (A re-ingest racing this check is
        # the same window the first, post-commit delete had.)
        if _in_use(row.store, row.relative_path):
            row.delete()
            in_use += 1
        elif delete_now_or_later(row.store, row.relative_path):
            row.delete()
            deleted += 1
        else:
            failing += 1
    return RetryOutcome(deleted=deleted, still_failing=failing, in_use_again=in_use)


def _store(store: str):
    if store == Store.DICOM:
        return dicom_store()
    if store == Store.QUARANTINE:
        return quarantine_store()
    raise ValueError(f"unknown store {store!r}")


def _in_use(store: str, relative_path: str) -> bool:
    model = Instance if store == Store.DICOM else QuarantinedFile
    return model.objects.filter(file_path=relative_path).exists()


def _remember_failure(store: str, relative_path: str, exc: OSError) -> None:
    error = str(exc)[:_ERROR_CHARS] or type(exc).__name__
    row, created = PendingFileDeletion.objects.get_or_create(
        store=store, relative_path=relative_path, defaults={"error": error}
    )
    if not created:
        PendingFileDeletion.objects.filter(pk=row.pk).update(
            attempts=F("attempts") + 1, error=error, last_tried_at=timezone.now()
        )
