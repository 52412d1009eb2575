"""QIDO-RS: search for studies, series and instances (PS3.18 10.6), answered in DICOM JSON.

Thin views: parse the query (``query``), match over the index (``search``), shape the rows
(``results``). One page of ``limit`` rows (at most settings.QIDO_MAX_LIMIT) from ``offset``;
one more row is fetched to know whether to add the PS3.18 8.3.4.4 Warning that more results
exist. No match is 200 with ``[]``: PS3.18 allows it, and every client parses it (some treat
a 204 with no body as an error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse

from studies.dicomweb import results, search
from studies.dicomweb.http import (
    accepts_dicom_json,
    dicom_json_response,
    not_acceptable,
    problem,
    warning,
)
from studies.dicomweb.links import Links
from studies.dicomweb.query import INSTANCE, SERIES, STUDY, Query, parse_query
from studies.queries import InvalidQuery

MORE_RESULTS = "There are additional results that can be requested."


def search_for_studies(request: HttpRequest) -> HttpResponse:
    return _answer(
        request,
        levels=(STUDY,),
        default_tags=results.STUDY_TAGS,
        other_levels=(results.SERIES_TAGS | results.INSTANCE_TAGS) - results.STUDY_TAGS,
        fetch=lambda query, with_header: search.studies(query, with_header),
        shape=lambda study, links: results.study_attributes(study, links),
        header=lambda study: getattr(study, "header", None),
    )


def search_for_series(request: HttpRequest, study: str = "") -> HttpResponse:
    def shape(series: Any, links: Links) -> dict:
        attributes = results.series_attributes(series, links)
        if study:
            return attributes
        return {**results.study_attributes(series.study, links), **attributes}

    return _answer(
        request,
        levels=(SERIES,) if study else (STUDY, SERIES),
        scope_keys=("StudyInstanceUID",) if study else (),
        default_tags=results.SERIES_TAGS if study else results.SERIES_TAGS | results.STUDY_TAGS,
        other_levels=results.INSTANCE_TAGS - results.SERIES_TAGS,
        fetch=lambda query, with_header: search.series(query, study, with_header),
        shape=shape,
        header=lambda series: getattr(series, "header", None),
    )


def search_for_instances(request: HttpRequest, study: str = "", series: str = "") -> HttpResponse:
    def shape(instance: Any, links: Links) -> dict:
        attributes = results.instance_attributes(instance, links)
        if series:
            return attributes
        attributes = {**results.series_attributes(instance.series, links), **attributes}
        if study:
            return attributes
        return {**results.study_attributes(instance.series.study, links), **attributes}

    levels = (INSTANCE,) if series else (SERIES, INSTANCE) if study else (STUDY, SERIES, INSTANCE)
    scope_keys = ("StudyInstanceUID",) if study else ()
    if series:
        scope_keys += ("SeriesInstanceUID",)
    return _answer(
        request,
        levels=levels,
        scope_keys=scope_keys,
        # The instance's own header is loaded anyway: includefield never costs a query.
        default_tags=frozenset(),
        fetch=lambda query, with_header: search.instances(query, study, series),
        shape=shape,
        header=lambda instance: instance.dicom_json,
    )


def _answer(
    request: HttpRequest,
    *,
    levels: tuple[str, ...],
    default_tags: frozenset[str],
    fetch: Callable[[Query, bool], QuerySet],
    shape: Callable[[Any, Links], dict],
    header: Callable[[Any], dict | None],  # the stored header of a row, when fetched
    scope_keys: tuple[str, ...] = (),
    other_levels: frozenset[str] = frozenset(),
) -> HttpResponse:
    if not accepts_dicom_json(request):
        return not_acceptable()
    try:
        query = parse_query(request.GET, levels, settings.QIDO_MAX_LIMIT, scope_keys)
        with_header = query.include_all or bool(query.include_tags - default_tags)
        rows: list[Model] = list(
            fetch(query, with_header)[query.offset : query.offset + query.limit + 1]
        )
    except InvalidQuery as exc:
        return problem(400, f"invalid query: {exc}")
    more = len(rows) > query.limit
    links = Links(request)
    payload = [
        results.with_included(
            shape(row, links),
            header(row),
            query.include_tags,
            query.include_all,
            other_levels,
        )
        for row in rows[: query.limit]
    ]
    warnings = [warning(request, text) for text in query.warnings]
    if more:
        warnings.append(warning(request, MORE_RESULTS))
    return dicom_json_response(payload, warnings=warnings)
