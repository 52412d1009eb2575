"""python manage.py load_demo : put demo images in the archive.

Loads real sample files of each kind the viewer handles (``studies.demo.samples``) and a
generated 200-slice chest-abdomen CT (``studies.demo.phantom``), all through the one ingest
door with source "demo". UIDs are deterministic, so a second run stores nothing new; it is
skipped outright once the CT series is complete, unless ``--force``.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from studies.demo.phantom import (
    DEFAULT_SIZE,
    DEFAULT_SLICES,
    PhantomCT,
    ct_dataset,
    part10_bytes,
    series_uids,
)
from studies.demo.samples import installed_samples
from studies.ingest import DUPLICATE, REJECTED, STORED, BatchSummary, ingest_bytes, ingest_path
from studies.models import Instance, Series


def _bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    parse.__name__ = f"integer {low}..{high}"
    return parse


class Command(BaseCommand):
    help = (
        "Load the demo: real sample images (MR, CT, US, colour, multi-frame, compressed) and "
        "a generated chest-abdomen CT series. Skips work already done unless --force."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="ingest again even if loaded")
        parser.add_argument(
            "--slices", type=_bounded_int(1, 2000), default=DEFAULT_SLICES, help="CT slices"
        )
        parser.add_argument(
            "--size", type=_bounded_int(32, 2048), default=DEFAULT_SIZE, help="CT rows/columns"
        )
        parser.add_argument("--no-samples", action="store_true", help="only the generated CT")

    def handle(self, *args, **options) -> None:
        slices, size = options["slices"], options["size"]
        uids = series_uids(slices, size)
        if not options["force"] and self._complete(uids.series, slices):
            self.stdout.write(
                f"Demo already loaded (CT study {uids.study}, {slices} slices); "
                "use --force to ingest again."
            )
            return

        started = time.monotonic()
        summary = BatchSummary()
        # Samples first: a complete CT series then means the whole demo was loaded.
        if not options["no_samples"]:
            found, missing = installed_samples()
            for sample in missing:
                self.stderr.write(f"sample {sample.name} is not installed; skipped")
            for _sample, path in found:
                summary.add(ingest_path(path, Instance.Source.DEMO, "load_demo sample"))
        phantom = PhantomCT(slices, size)
        for index in range(slices):
            data = part10_bytes(ct_dataset(phantom, index))
            summary.add(
                ingest_bytes(
                    data, Instance.Source.DEMO, "load_demo phantom", f"CT{index + 1:04d}.dcm"
                )
            )
        elapsed = time.monotonic() - started

        self.stdout.write(
            f"Demo loaded in {elapsed:.1f} s: {summary.count(STORED)} stored, "
            f"{summary.count(DUPLICATE)} already present, {summary.count(REJECTED)} rejected. "
            f"CT study {uids.study} ({slices} slices of {size}x{size})."
        )
        for result in summary.rejected:
            self.stderr.write(f"  rejected {result.name}: {result.reason_code}: {result.reason}")
        if summary.rejected:
            raise CommandError(f"{len(summary.rejected)} demo file(s) were rejected")

    @staticmethod
    def _complete(series_uid: str, slices: int) -> bool:
        series = Series.objects.filter(series_instance_uid=series_uid).first()
        return series is not None and series.number_of_instances >= slices
