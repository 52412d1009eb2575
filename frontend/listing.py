"""Ordering and column headers for the study list.

The query string may only choose among whitelisted sort keys; it never names a database
column. Every ordering ends with the primary key so pagination is stable when many studies
share a value (same day, same empty accession number).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, QuerySet
from django.db.models.expressions import OrderBy

from studies.models import Series, Study


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    fields: tuple[str, ...]
    # The direction a first click sorts in: newest dates and largest counts first.
    first_descending: bool = False
    numeric: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("date", "Date", ("study_date", "study_time"), first_descending=True),
    Column("patient_name", "Patient name", ("patient__name",)),
    Column("patient_id", "Patient ID", ("patient__patient_id",)),
    Column("accession", "Accession", ("accession_number",)),
    Column("description", "Description", ("description",)),
    Column("modalities", "Modalities", ("modalities_in_study",)),
    Column("series", "Series", ("number_of_series",), first_descending=True, numeric=True),
    Column("instances", "Images", ("number_of_instances",), first_descending=True, numeric=True),
)
_BY_KEY = {column.key: column for column in COLUMNS}
DEFAULT_SORT = ("date", True)


@dataclass(frozen=True)
class Sort:
    key: str
    descending: bool
    # False when the URL asked for something not on the whitelist (so the page can say so).
    requested_ok: bool = True

    @property
    def param(self) -> str:
        return f"-{self.key}" if self.descending else self.key


def parse_sort(value: str | None) -> Sort:
    """``"-date"`` is date, newest first; anything off the whitelist is the default."""
    text = (value or "").strip()
    if not text:
        return Sort(*DEFAULT_SORT)
    descending = text.startswith("-")
    key = text[1:] if descending else text
    if key not in _BY_KEY:
        return Sort(*DEFAULT_SORT, requested_ok=False)
    return Sort(key, descending)


def order_studies(queryset: QuerySet[Study], sort: Sort) -> QuerySet[Study]:
    def order(field: str) -> OrderBy:
        # Missing values (no study date, no accession) sink to the bottom either way.
        return F(field).desc(nulls_last=True) if sort.descending else F(field).asc(nulls_last=True)

    fields = _BY_KEY[sort.key].fields
    return queryset.order_by(*(order(field) for field in fields), order("pk"))


@dataclass(frozen=True)
class Header:
    """One sortable column header as the template draws it."""

    key: str
    label: str
    numeric: bool
    # The ``sort`` value its link asks for: the other direction if active, else its first.
    next_param: str
    # "ascending"/"descending" for aria-sort on the active column, "" elsewhere.
    aria_sort: str


def headers(sort: Sort) -> list[Header]:
    result = []
    for column in COLUMNS:
        active = column.key == sort.key
        descending = not sort.descending if active else column.first_descending
        result.append(
            Header(
                key=column.key,
                label=column.label,
                numeric=column.numeric,
                next_param=f"-{column.key}" if descending else column.key,
                aria_sort=("descending" if sort.descending else "ascending") if active else "",
            )
        )
    return result


def modalities_present() -> list[str]:
    """The modalities of the archive's series, for the search form's select (one query)."""
    return list(
        Series.objects.exclude(modality="")
        .order_by("modality")
        .values_list("modality", flat=True)
        .distinct()
    )
