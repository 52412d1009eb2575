"""The instances a WADO-RS URL names (PS3.18 10.4.1: study, series, instance resources).

One query per lookup, in a stable order: series by Series Number, instances by Instance
Number (missing numbers last, then arrival order). An empty answer says which UID is
unknown, at the cost of a query or two on that path only.
"""

from __future__ import annotations

from django.db.models import F, QuerySet

from studies.models import Instance, Series, Study


class NotFound(LookupError):
    """No such study, series or instance (answer 404)."""


class NothingToRender(LookupError):
    """The resource exists but holds no image (answer 406, like NoPixelData)."""


ORDER = (
    F("series__series_number").asc(nulls_last=True),
    "series_id",
    F("instance_number").asc(nulls_last=True),
    "pk",
)


def scoped(study: str, series: str = "", instance: str = "") -> QuerySet[Instance]:
    queryset = Instance.objects.filter(series__study__study_instance_uid=study)
    if series:
        queryset = queryset.filter(series__series_instance_uid=series)
    if instance:
        queryset = queryset.filter(sop_instance_uid=instance)
    return queryset


def instances(
    study: str, series: str = "", instance: str = "", *, fields: tuple[str, ...] = ()
) -> list[Instance]:
    """The instances of the resource, with their series; NotFound when there are none."""
    queryset = scoped(study, series, instance).select_related("series").order_by(*ORDER)
    if fields:
        queryset = queryset.only(*fields, "series__series_instance_uid")
    found = list(queryset)
    if not found:
        raise NotFound(_missing(study, series, instance))
    return found


def one_instance(study: str, series: str, instance: str) -> Instance:
    found = scoped(study, series, instance).select_related("series").first()
    if found is None:
        raise NotFound(_missing(study, series, instance))
    return found


def representative(study: str, series: str = "") -> Instance:
    """The image that stands for a study or series: the middle image of the series (the
    first series with images, by Series Number, for a study)."""
    rows = list(
        scoped(study, series)
        .filter(rows__isnull=False)
        .order_by(*ORDER)
        .values_list("pk", "series_id")
    )
    if not rows:
        if scoped(study, series).exists():
            level = "series" if series else "study"
            raise NothingToRender(f"the {level} has no image to render")
        raise NotFound(_missing(study, series, ""))
    first_series = rows[0][1]
    images = [pk for pk, series_id in rows if series_id == first_series]
    return Instance.objects.select_related("series").get(pk=images[len(images) // 2])


def _missing(study: str, series: str, instance: str) -> str:
    if not Study.objects.filter(study_instance_uid=study).exists():
        return f"No study {study} in this archive."
    if (
        series
        and not Series.objects.filter(
            series_instance_uid=series, study__study_instance_uid=study
        ).exists()
    ):
        return f"No series {series} in study {study}."
    if instance:
        return f"No instance {instance} in series {series} of study {study}."
    return f"No instances in {'series ' + series if series else 'study ' + study}."
