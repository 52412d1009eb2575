"""Attribute matching as DICOM query services define it (PS3.4 C.2.2.2), over the index.

Shared by QIDO-RS and the clinician study list so both find the same studies for the same
criteria. Values come from the query string: they are matched as data (ORM parameters),
never interpolated into SQL.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db.models import Q, QuerySet

from studies.models import Study


class InvalidQuery(ValueError):
    """A matching key value that DICOM does not allow (bad date range, bad UID list)."""


def wildcard_q(field: str, pattern: str, case_insensitive: bool = False) -> Q:
    """PS3.4 C.2.2.2.4: ``*`` matches any run of characters, ``?`` exactly one."""
    if pattern in ("", "*"):
        return Q()
    if "*" not in pattern and "?" not in pattern:
        return Q(**{f"{field}__iexact" if case_insensitive else field: pattern})
    stem = pattern.rstrip("*")
    if "*" not in stem and "?" not in stem:
        return Q(**{f"{field}__{'istartswith' if case_insensitive else 'startswith'}": stem})
    regex = (
        "^"
        + "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
        + "$"
    )
    return Q(**{f"{field}__{'iregex' if case_insensitive else 'regex'}": regex})


def parse_date(value: str) -> dt.date:
    text = value.strip().replace("-", "") if len(value.strip()) == 10 else value.strip()
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise InvalidQuery(f"{value!r} is not a date (YYYYMMDD)")


def date_range_q(field: str, value: str) -> Q:
    """PS3.4 C.2.2.2.5: ``D``, ``D1-D2``, ``-D2`` or ``D1-`` (dates as YYYYMMDD)."""
    value = value.strip()
    if not value:
        return Q()
    if "-" not in value:
        return Q(**{field: parse_date(value)})
    start, _, end = value.partition("-")
    if not start and not end:
        raise InvalidQuery("a date range needs at least one end")
    q = Q()
    if start:
        q &= Q(**{f"{field}__gte": parse_date(start)})
    if end:
        q &= Q(**{f"{field}__lte": parse_date(end)})
    return q


def parse_time(value: str, end: bool = False) -> dt.time:
    """A DICOM TM (HH, HHMM, HHMMSS, HHMMSS.F...); a partial time as a range end covers
    the whole hour or minute it names, so ``-10`` still matches 10:30."""
    text = value.strip().replace(":", "")
    whole, _, fraction = text.partition(".")
    if (
        not whole.isdigit()
        or len(whole) not in (2, 4, 6)
        or (fraction and (not fraction.isdigit() or len(whole) != 6))
    ):
        raise InvalidQuery(f"{value!r} is not a time (HHMMSS)")
    fill = "595999" if end else "000000"
    digits = whole + fill[len(whole) - 2 :]
    micro = (fraction + ("999999" if end and not fraction else "000000"))[:6]
    try:
        return dt.time(int(digits[:2]), int(digits[2:4]), int(digits[4:6]), int(micro))
    except ValueError:
        raise InvalidQuery(f"{value!r} is not a time (HHMMSS)")


def time_range_q(field: str, value: str) -> Q:
    """PS3.4 C.2.2.2.5: ``T``, ``T1-T2``, ``-T2`` or ``T1-`` (times as HHMMSS)."""
    value = value.strip()
    if not value:
        return Q()
    if "-" not in value:
        return Q(**{f"{field}__gte": parse_time(value), f"{field}__lte": parse_time(value, True)})
    start, _, end = value.partition("-")
    if not start and not end:
        raise InvalidQuery("a time range needs at least one end")
    q = Q()
    if start:
        q &= Q(**{f"{field}__gte": parse_time(start)})
    if end:
        q &= Q(**{f"{field}__lte": parse_time(end, end=True)})
    return q


def fuzzy_name_q(field: str, pattern: str) -> Q:
    """Fuzzy person name matching (PS3.18 8.3.4 ``fuzzymatching=true``; PS3.4 leaves the
    semantics to the implementation): case-insensitive, and the pattern may match the start
    of any name component, so ``jan`` finds ``Doe^Jane``. Wildcards keep their meaning."""
    pattern = pattern.strip()
    if pattern in ("", "*"):
        return Q()
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    # Components are separated by ^ (and groups by =); some senders use spaces.
    return Q(**{f"{field}__iregex": r"(^|[\^= ])" + body})


def uid_list_q(field: str, value: str) -> Q:
    """PS3.4 C.2.2.2.2 list of UID matching; PS3.18 8.3.4.1 allows commas as separators."""
    uids = [uid.strip() for uid in re.split(r"[\\,]", value) if uid.strip()]
    if not uids:
        return Q()
    if any(not re.fullmatch(r"[0-9.]{1,64}", uid) for uid in uids):
        raise InvalidQuery("a UID is digits and dots, at most 64 characters")
    return Q(**{f"{field}__in": uids})


def modality_q(field: str, value: str) -> Q:
    """Modalities In Study matches when any listed modality is among the study's."""
    q = Q()
    for modality in re.split(r"[\\,]", value):
        modality = modality.strip().upper()
        if modality:
            # Stored as a sorted backslash list ("CT\\PT"); match one whole item.
            q |= Q(**{f"{field}__regex": rf"(^|\\){re.escape(modality)}(\\|$)"})
    return q


def search_studies(
    queryset: QuerySet[Study] | None = None,
    *,
    patient_name: str = "",
    patient_id: str = "",
    accession_number: str = "",
    study_date: str = "",
    modalities: str = "",
    study_instance_uid: str = "",
    study_description: str = "",
    referring_physician_name: str = "",
    study_id: str = "",
) -> QuerySet[Study]:
    """Studies matching every non-empty key, with the patient joined in (no N+1)."""
    queryset = Study.objects.all() if queryset is None else queryset
    q = (
        wildcard_q("patient__name", patient_name, case_insensitive=True)
        & wildcard_q("patient__patient_id", patient_id)
        & wildcard_q("accession_number", accession_number)
        & date_range_q("study_date", study_date)
        & modality_q("modalities_in_study", modalities)
        & uid_list_q("study_instance_uid", study_instance_uid)
        & wildcard_q("description", study_description, case_insensitive=True)
        & wildcard_q("referring_physician_name", referring_physician_name, case_insensitive=True)
        & wildcard_q("study_id", study_id)
    )
    return queryset.filter(q).select_related("patient")
