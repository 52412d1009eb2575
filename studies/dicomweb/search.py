"""QIDO-RS matching over the index: a ``Query`` in, one ordered queryset out per level.

Study-level keys go through ``studies.queries.search_studies`` (the study list's matching,
so both find the same studies); series and instance keys use the same primitives. Lower
levels narrow by study keys with a subquery, and every queryset joins what its answer needs
(``select_related``), so an answer page costs one query whatever its length.
"""

from __future__ import annotations

from django.db.models import F, JSONField, OuterRef, Q, QuerySet, Subquery

from studies.dicomweb.query import MATCHING_KEYS, STUDY, Query
from studies.models import Instance, Series, Study
from studies.queries import (
    InvalidQuery,
    date_range_q,
    fuzzy_name_q,
    search_studies,
    time_range_q,
    uid_list_q,
    wildcard_q,
)


def studies(query: Query, with_header: bool = False) -> QuerySet[Study]:
    queryset = _matching_studies(query).order_by(
        F("study_date").desc(nulls_last=True), F("study_time").desc(nulls_last=True), "-pk"
    )
    return _annotate_header(queryset, "series__study") if with_header else queryset


def series(query: Query, study_uid: str = "", with_header: bool = False) -> QuerySet[Series]:
    queryset = Series.objects.select_related("study__patient")
    if study_uid:
        queryset = queryset.filter(study__study_instance_uid=study_uid)
    if _has_study_keys(query):
        queryset = queryset.filter(study__in=_matching_studies(query).values("pk"))
    queryset = queryset.filter(_series_q(query, "")).order_by(
        "study_id", F("series_number").asc(nulls_last=True), "pk"
    )
    return _annotate_header(queryset, "series") if with_header else queryset


def instances(query: Query, study_uid: str = "", series_uid: str = "") -> QuerySet[Instance]:
    queryset = Instance.objects.select_related("series__study__patient")
    if study_uid:
        queryset = queryset.filter(series__study__study_instance_uid=study_uid)
    if series_uid:
        queryset = queryset.filter(series__series_instance_uid=series_uid)
    if _has_study_keys(query):
        queryset = queryset.filter(series__study__in=_matching_studies(query).values("pk"))
    q = (
        _series_q(query, "series__")
        & uid_list_q("sop_class_uid", query.value("SOPClassUID"))
        & uid_list_q("sop_instance_uid", query.value("SOPInstanceUID"))
        & integer_q("instance_number", query.value("InstanceNumber"), "InstanceNumber")
    )
    return queryset.filter(q).order_by("series_id", F("instance_number").asc(nulls_last=True), "pk")


def integer_q(field: str, value: str, keyword: str) -> Q:
    """Single value matching of an IS attribute (PS3.4 C.2.2.2.1)."""
    value = value.strip()
    if not value:
        return Q()
    try:
        number = int(value)
    except ValueError:
        raise InvalidQuery(f"{keyword} must be a whole number, not {value!r}")
    if not -(2**31) <= number < 2**31:
        raise InvalidQuery(f"{keyword} is out of range")
    return Q(**{field: number})


def _has_study_keys(query: Query) -> bool:
    return any(query.value(keyword) for keyword in MATCHING_KEYS[STUDY])


def _matching_studies(query: Query) -> QuerySet[Study]:
    names: dict[str, str] = {}
    extra = (
        time_range_q("study_time", query.value("StudyTime"))
        & date_range_q("patient__birth_date", query.value("PatientBirthDate"))
        & wildcard_q("patient__sex", query.value("PatientSex"), case_insensitive=True)
    )
    if query.fuzzy:
        extra &= fuzzy_name_q("patient__name", query.value("PatientName"))
        extra &= fuzzy_name_q("referring_physician_name", query.value("ReferringPhysicianName"))
    else:
        names = {
            "patient_name": query.value("PatientName"),
            "referring_physician_name": query.value("ReferringPhysicianName"),
        }
    return search_studies(
        Study.objects.filter(extra),
        patient_id=query.value("PatientID"),
        accession_number=query.value("AccessionNumber"),
        study_date=query.value("StudyDate"),
        modalities=query.value("ModalitiesInStudy"),
        study_instance_uid=query.value("StudyInstanceUID"),
        study_description=query.value("StudyDescription"),
        study_id=query.value("StudyID"),
        **names,
    )


def _series_q(query: Query, prefix: str) -> Q:
    return (
        wildcard_q(f"{prefix}modality", query.value("Modality"), case_insensitive=True)
        & wildcard_q(
            f"{prefix}description", query.value("SeriesDescription"), case_insensitive=True
        )
        & uid_list_q(f"{prefix}series_instance_uid", query.value("SeriesInstanceUID"))
        & integer_q(f"{prefix}series_number", query.value("SeriesNumber"), "SeriesNumber")
        & wildcard_q(
            f"{prefix}body_part_examined", query.value("BodyPartExamined"), case_insensitive=True
        )
    )


def _annotate_header(queryset: QuerySet, instance_link: str) -> QuerySet:
    """Each row gets ``header``: the stored DICOM JSON of its first-received instance, in the
    same query (a correlated subquery), for includefield answers at study or series level."""
    first = (
        Instance.objects.filter(**{instance_link: OuterRef("pk")})
        .order_by("pk")
        .values("dicom_json")[:1]
    )
    return queryset.annotate(header=Subquery(first, output_field=JSONField()))
