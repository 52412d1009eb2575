"""Keeping the denormalised counts right after deletions.

Ingest maintains the counts incrementally; removing a series or an instance (from the admin)
recomputes them for the studies touched, and drops series and studies left empty.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count

from studies.models import Series, Study


def recount_studies(study_ids: Iterable[int]) -> None:
    with transaction.atomic():
        for study in Study.objects.select_for_update().filter(pk__in=set(study_ids)):
            series = Series.objects.filter(study=study).annotate(counted=Count("instances"))
            kept = []
            for item in series:
                if item.counted == 0:
                    item.delete()
                    continue
                if item.number_of_instances != item.counted:
                    Series.objects.filter(pk=item.pk).update(number_of_instances=item.counted)
                kept.append(item)
            if not kept:
                study.delete()
                continue
            study.number_of_series = len(kept)
            study.number_of_instances = sum(item.counted for item in kept)
            study.modalities_in_study = "\\".join(
                sorted({item.modality for item in kept if item.modality})
            )[:128]
            study.save(
                update_fields=["number_of_series", "number_of_instances", "modalities_in_study"]
            )
