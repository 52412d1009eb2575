"""Working through the quarantine: retry files once the cause is fixed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from studies.ingest import ingest_bytes
from studies.models import QuarantinedFile
from studies.storage import quarantine_store


@dataclass
class RetryOutcome:
    accepted: int = 0
    still_rejected: int = 0
    not_kept: int = 0


def retry(entries: Iterable[QuarantinedFile]) -> RetryOutcome:
    """Ingest each kept file again; an accepted one leaves the quarantine. A file rejected
    again gets a fresh entry with the current reason, and the old entry is removed."""
    outcome = RetryOutcome()
    store = quarantine_store()
    for entry in list(entries):
        if not entry.file_path:
            outcome.not_kept += 1
            continue
        with store.open(entry.file_path) as handle:
            data = handle.read()
        result = ingest_bytes(data, entry.source, entry.source_detail, entry.original_name)
        if result.ok:
            outcome.accepted += 1
        else:
            outcome.still_rejected += 1
        entry.delete()
    return outcome
