"""python manage.py import_dicom PATH... : import files, folders and zip archives."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from studies.ingest import DUPLICATE, REJECTED, STORED, ingest_candidate
from studies.models import Instance
from studies.sources import iter_path_candidates


class Progress:
    """One status line, redrawn in place on a terminal, printed now and then otherwise."""

    def __init__(self, stream, total_files: int, enabled: bool) -> None:
        self.stream = stream
        self.total_files = total_files
        self.enabled = enabled
        self.interactive = enabled and stream.isatty()
        self.started = time.monotonic()
        self.last_drawn = 0.0

    def update(self, done: int, counts: Counter, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last_drawn < (0.1 if self.interactive else 5.0):
            return
        self.last_drawn = now
        rate = done / max(now - self.started, 1e-6)
        width = 30
        filled = int(width * min(done / self.total_files, 1.0)) if self.total_files else width
        bar = "#" * filled + "-" * (width - filled)
        line = (
            f"[{bar}] {done} files ({rate:.0f}/s): {counts[STORED]} stored, "
            f"{counts[DUPLICATE]} already present, {counts[REJECTED]} rejected"
        )
        self.stream.write(("\r" + line) if self.interactive else line + "\n")
        if final and self.interactive:
            self.stream.write("\n")
        self.stream.flush()


class Command(BaseCommand):
    help = (
        "Import DICOM files, folders (recursively) and zip archives into the archive. "
        "Exits with status 1 when any file was rejected (rejected files are quarantined)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="files, folders or zip archives")
        parser.add_argument("--no-progress", action="store_true", help="do not draw progress")
        parser.add_argument(
            "--source",
            default=Instance.Source.IMPORT,
            choices=[Instance.Source.IMPORT, Instance.Source.DEMO],
            help="recorded as the instances' source",
        )

    def handle(self, *args, **options) -> None:
        paths: list[Path] = options["paths"]
        progress = Progress(sys.stderr, _count_files(paths), not options["no_progress"])
        counts: Counter = Counter()
        rejected = []
        done = 0
        # Each rejection is in the summary below; per-file log lines would only garble it.
        logging.getLogger("studies.ingest").setLevel(logging.WARNING)
        candidates = iter_path_candidates(paths, settings.INGEST_MAX_FILE_BYTES)
        for candidate in candidates:
            result = ingest_candidate(candidate, options["source"], source_detail="import_dicom")
            counts[result.status] += 1
            if result.status == REJECTED:
                rejected.append(result)
            done += 1
            progress.update(done, counts)
        progress.update(done, counts, final=True)

        self.stdout.write(
            f"{counts[STORED]} stored, {counts[DUPLICATE]} already present, "
            f"{counts[REJECTED]} rejected"
        )
        for result in rejected:
            self.stdout.write(f"  rejected {result.name}: {result.reason_code}: {result.reason}")
        if rejected:
            raise CommandError(
                f"{len(rejected)} file(s) rejected and quarantined (see the admin's quarantine)",
                returncode=1,
            )


def _count_files(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(len(files) for _, _, files in os.walk(path))
        else:
            total += 1
    return total
