"""Subprocess half of the import benchmark: ingest files one by one, time each, print JSON.

Run as ``python -m tests.bench.import_worker DIR`` with VAR_DIR pointing at a migrated,
throw-away archive; it is the loop ``import_dicom`` runs, without the command's startup.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(directory: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "viewerproject.settings")
    import django

    django.setup()
    from studies.ingest import ingest_path
    from studies.models import Instance

    durations, statuses = [], []
    started = time.perf_counter()
    for path in sorted(Path(directory).iterdir()):
        before = time.perf_counter()
        result = ingest_path(path, Instance.Source.IMPORT, "bench")
        durations.append(time.perf_counter() - before)
        statuses.append(result.status)
    total = time.perf_counter() - started
    json.dump({"durations": durations, "statuses": statuses, "total": total}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
