"""C-FIND SCP: other systems (a workstation, ``findscu``) query our archive (PS3.4 C.4.1).

Patient Root and Study Root models, at PATIENT, STUDY, SERIES and IMAGE level, answered from
the index with the same attribute matching as QIDO-RS and the study list
(``studies.queries``): wildcards (C.2.2.2.4), date ranges (C.2.2.2.5), UID lists (C.2.2.2.2).
Each answer carries exactly the keys that were asked for (C.4.1.1.3.2), values from the index
or, at IMAGE level, from the instance's stored header.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Q, QuerySet
from pydicom.dataset import Dataset
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from studies.models import Instance, Patient, Series, Study
from studies.queries import InvalidQuery, uid_list_q, wildcard_q
from studies.queries import search_studies as search_index

log = logging.getLogger(__name__)

PENDING = 0xFF00
CANCEL = 0xFE00
OUT_OF_RESOURCES = 0xA700
IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC000


def _value(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _da(value) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _tm(value) -> str:
    return value.strftime("%H%M%S") if value else ""


def _patients(ds: Dataset) -> QuerySet:
    q = wildcard_q("name", _value(ds, "PatientName"), case_insensitive=True) & wildcard_q(
        "patient_id", _value(ds, "PatientID")
    )
    return Patient.objects.filter(q).annotate(study_count=Count("studies")).order_by("name", "pk")


def _studies(ds: Dataset) -> QuerySet:
    found = search_index(
        patient_name=_value(ds, "PatientName"),
        patient_id=_value(ds, "PatientID"),
        accession_number=_value(ds, "AccessionNumber"),
        study_date=_value(ds, "StudyDate"),
        modalities=_value(ds, "ModalitiesInStudy"),
        study_instance_uid=_value(ds, "StudyInstanceUID"),
        study_description=_value(ds, "StudyDescription"),
        referring_physician_name=_value(ds, "ReferringPhysicianName"),
        study_id=_value(ds, "StudyID"),
    )
    return found.order_by("-study_date", "-study_time", "pk")


def _series(ds: Dataset) -> QuerySet:
    study = _value(ds, "StudyInstanceUID")
    if not study:
        raise InvalidQuery("a SERIES query needs the Study Instance UID (PS3.4 C.4.1.2.1)")
    q = (
        uid_list_q("study__study_instance_uid", study)
        & uid_list_q("series_instance_uid", _value(ds, "SeriesInstanceUID"))
        & wildcard_q("modality", _value(ds, "Modality"))
        & wildcard_q("description", _value(ds, "SeriesDescription"), case_insensitive=True)
    )
    number = _value(ds, "SeriesNumber")
    if number:
        try:
            q &= Q(series_number=int(number))
        except ValueError:
            raise InvalidQuery("Series Number is not a number")
    return Series.objects.filter(q).select_related("study").order_by("series_number", "pk")


def _instances(ds: Dataset) -> QuerySet:
    study = _value(ds, "StudyInstanceUID")
    if not study:
        raise InvalidQuery("an IMAGE query needs the Study Instance UID (PS3.4 C.4.1.2.1)")
    q = (
        uid_list_q("series__study__study_instance_uid", study)
        & uid_list_q("series__series_instance_uid", _value(ds, "SeriesInstanceUID"))
        & uid_list_q("sop_instance_uid", _value(ds, "SOPInstanceUID"))
        & uid_list_q("sop_class_uid", _value(ds, "SOPClassUID"))
    )
    number = _value(ds, "InstanceNumber")
    if number:
        try:
            q &= Q(instance_number=int(number))
        except ValueError:
            raise InvalidQuery("Instance Number is not a number")
    return (
        Instance.objects.filter(q)
        .select_related("series__study")
        .order_by("series__series_number", "instance_number", "pk")
    )


def _patient_values(patient: Patient) -> dict[str, object]:
    return {
        "PatientName": patient.name,
        "PatientID": patient.patient_id,
        "IssuerOfPatientID": patient.issuer_of_patient_id,
        "PatientBirthDate": _da(patient.birth_date),
        "PatientSex": patient.sex,
    }


def _study_values(study: Study) -> dict[str, object]:
    return {
        **_patient_values(study.patient),
        "StudyInstanceUID": study.study_instance_uid,
        "StudyDate": _da(study.study_date),
        "StudyTime": _tm(study.study_time),
        "AccessionNumber": study.accession_number,
        "StudyID": study.study_id,
        "StudyDescription": study.description,
        "ReferringPhysicianName": study.referring_physician_name,
        "ModalitiesInStudy": study.modalities,
        "NumberOfStudyRelatedSeries": study.number_of_series,
        "NumberOfStudyRelatedInstances": study.number_of_instances,
    }


def _series_values(series: Series) -> dict[str, object]:
    return {
        "StudyInstanceUID": series.study.study_instance_uid,
        "SeriesInstanceUID": series.series_instance_uid,
        "Modality": series.modality,
        "SeriesNumber": series.series_number,
        "SeriesDescription": series.description,
        "BodyPartExamined": series.body_part_examined,
        "NumberOfSeriesRelatedInstances": series.number_of_instances,
    }


def _instance_values(instance: Instance) -> dict[str, object]:
    return {
        "StudyInstanceUID": instance.series.study.study_instance_uid,
        "SeriesInstanceUID": instance.series.series_instance_uid,
        "SOPInstanceUID": instance.sop_instance_uid,
        "SOPClassUID": instance.sop_class_uid,
        "InstanceNumber": instance.instance_number,
        "Rows": instance.rows,
        "Columns": instance.columns,
        "NumberOfFrames": instance.number_of_frames,
    }


def _patient_row_values(patient: Patient) -> dict[str, object]:
    return {**_patient_values(patient), "NumberOfPatientRelatedStudies": patient.study_count}


_LEVELS = {
    "PATIENT": (_patients, _patient_row_values),
    "STUDY": (_studies, _study_values),
    "SERIES": (_series, _series_values),
    "IMAGE": (_instances, _instance_values),
}


def _answer(query: Dataset, level: str, values: dict[str, object]) -> Dataset:
    """A response identifier with exactly the requested keys (PS3.4 C.4.1.1.3.2)."""
    answer = Dataset()
    # Names and descriptions come from anyone; UTF-8 carries all of them (PS3.5 6.1.2.3).
    answer.SpecificCharacterSet = "ISO_IR 192"
    answer.QueryRetrieveLevel = level
    for element in query:
        keyword = element.keyword
        if not keyword or keyword in ("QueryRetrieveLevel", "SpecificCharacterSet"):
            continue
        value = values.get(keyword)
        if value is None or value == "" or value == []:
            setattr(answer, keyword, None)  # asked for, unknown here: zero length
        else:
            setattr(answer, keyword, value)
    return answer


def matches(query: Dataset, study_root: bool = False) -> tuple[str, list]:
    """The level and the matching rows; InvalidQuery for a query we cannot answer."""
    level = _value(query, "QueryRetrieveLevel").upper()
    if level not in _LEVELS:
        raise InvalidQuery(f"level {level!r} is not PATIENT, STUDY, SERIES or IMAGE")
    if study_root and level == "PATIENT":
        raise InvalidQuery("the Study Root model has no PATIENT level (PS3.4 C.6.2)")
    find, _ = _LEVELS[level]
    cap = settings.DICOM_FIND_MAX_MATCHES
    rows = list(find(query)[: cap + 1])
    return level, rows


def handle_find(event) -> Iterator[tuple[int, Dataset | None]]:
    """EVT_C_FIND handler: yield (Pending, identifier) per match, then pynetdicom sends
    Success; a cancelled query ends with Cancel (PS3.4 C.4.1.3.1)."""
    if connection.errors_occurred:
        connection.close()
    try:
        query = event.identifier
        study_root = event.request.AffectedSOPClassUID == StudyRootQueryRetrieveInformationModelFind
        level, rows = matches(query, study_root)
    except InvalidQuery as exc:
        status = Dataset()
        status.Status = IDENTIFIER_DOES_NOT_MATCH
        status.ErrorComment = str(exc)[:64]
        yield status, None
        return
    except DatabaseError:
        log.exception("C-FIND could not query the index")
        yield OUT_OF_RESOURCES, None
        return
    except Exception:
        log.exception("C-FIND identifier could not be read")
        yield UNABLE_TO_PROCESS, None
        return
    cap = settings.DICOM_FIND_MAX_MATCHES
    if len(rows) > cap:
        status = Dataset()
        status.Status = OUT_OF_RESOURCES
        status.ErrorComment = f"more than {cap} matches; narrow the query"
        yield status, None
        return
    _, values_of = _LEVELS[level]
    for row in rows:
        if event.is_cancelled:
            yield CANCEL, None
            return
        yield PENDING, _answer(query, level, values_of(row))
