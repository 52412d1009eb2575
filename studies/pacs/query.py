"""Searching a PACS: validated search terms → C-FIND identifier → plain rows for the UI.

The terms come from a clinician's search form; each is checked against its value
representation (PS3.5 6.2) before it goes on the wire, and each answer is cleaned like any
other stranger's DICOM text. Rows are marked remote and say how much of each study or
series is already in our archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from pydicom.dataset import Dataset

from studies import dicom_text
from studies.models import Instance, PacsNode, Series, Study
from studies.pacs import scu
from studies.queries import InvalidQuery, parse_date
from studies.validation import is_valid_uid

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")

# Return keys per level (PS3.4 C.6.1.1 patient root, C.6.2.1 study root): asked for empty,
# so the PACS fills them in.
_RETURN_KEYS = {
    "PATIENT": [
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientSex",
        "NumberOfPatientRelatedStudies",
    ],
    "STUDY": [
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
        "StudyDescription",
        "ReferringPhysicianName",
        "ModalitiesInStudy",
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientSex",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ],
    "SERIES": [
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "BodyPartExamined",
        "NumberOfSeriesRelatedInstances",
    ],
    "IMAGE": [
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "SOPClassUID",
        "InstanceNumber",
    ],
}

# PS3.5 6.2: the characters a value of these VRs may hold; a backslash would split a
# single value into several, control characters have no business in a query.
_CS = re.compile(r"[A-Z0-9 _]{1,16}")
_FORBIDDEN = re.compile(r"[\\\x00-\x1f\x7f]")


@dataclass
class SearchTerms:
    patient_name: str = ""
    patient_id: str = ""
    accession_number: str = ""
    study_date: str = ""  # DICOM range: D, D1-D2, -D2, D1-
    modality: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    # PS3.3 C.7.1.1 (0010,0021): the assigning authority of patient_id (HL7 CX component 4).
    issuer_of_patient_id: str = ""

    @classmethod
    def from_mapping(cls, data) -> SearchTerms:
        """Read and check terms from a query dict; raise InvalidQuery with the reason."""
        terms = cls(**{f.name: str(data.get(f.name, "") or "").strip() for f in fields(cls)})
        for name, limit in (
            ("patient_name", 64),
            ("patient_id", 64),
            ("accession_number", 16),
            ("issuer_of_patient_id", 64),
        ):
            value = getattr(terms, name)
            if len(value) > limit:
                raise InvalidQuery(f"{name.replace('_', ' ')} is longer than {limit} characters")
            if _FORBIDDEN.search(value):
                raise InvalidQuery(f"{name.replace('_', ' ')} contains a backslash or control")
        if terms.modality:
            terms.modality = terms.modality.upper()
            if not _CS.fullmatch(terms.modality):
                raise InvalidQuery("modality is a code like CT or MR")
        if terms.study_date:
            terms.study_date = _checked_date_range(terms.study_date)
        for name in ("study_instance_uid", "series_instance_uid"):
            value = getattr(terms, name)
            if value and not is_valid_uid(value):
                raise InvalidQuery(f"{name.replace('_', ' ')} is not a valid UID")
        return terms

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))


def _checked_date_range(value: str) -> str:
    """Normalise to the DICOM DA range form (PS3.4 C.2.2.2.5.1): D, D1-D2, -D2 or D1-,
    each YYYYMMDD; ISO dates (2024-01-02) are accepted for each end."""
    compact = re.sub(r"(\d{4})-(\d{2})-(\d{2})", r"\1\2\3", value.replace(" ", ""))
    start, dash, end = compact.partition("-")
    if not start and not end:
        raise InvalidQuery("a date range needs at least one end")
    start = parse_date(start).strftime("%Y%m%d") if start else ""
    if not dash:
        return start
    end = parse_date(end).strftime("%Y%m%d") if end else ""
    if start and end and start > end:
        raise InvalidQuery("the date range ends before it starts")
    return f"{start}-{end}"


def identifier(level: str, terms: SearchTerms) -> Dataset:
    """The C-FIND identifier: matching keys from the terms, empty return keys."""
    if level not in LEVELS:
        raise InvalidQuery(f"level must be one of {', '.join(LEVELS)}")
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword in _RETURN_KEYS[level]:
        setattr(ds, keyword, "")
    if level in ("SERIES", "IMAGE") and not terms.study_instance_uid:
        # PS3.4 C.4.1.2.1: below study level the study is a unique key to be given.
        raise InvalidQuery(f"a {level.lower()} search needs the study instance UID")
    matching = {
        "PatientName": terms.patient_name,
        "PatientID": terms.patient_id,
        "IssuerOfPatientID": terms.issuer_of_patient_id,
        "AccessionNumber": terms.accession_number,
        "StudyDate": terms.study_date,
        "ModalitiesInStudy": terms.modality,
        "StudyInstanceUID": terms.study_instance_uid,
        "SeriesInstanceUID": terms.series_instance_uid,
    }
    if level == "SERIES" and terms.modality:
        matching["Modality"] = terms.modality
        matching["ModalitiesInStudy"] = ""
    for keyword, value in matching.items():
        if value and keyword in ds:
            setattr(ds, keyword, value)
    return ds


def _text(ds: Dataset, keyword: str, limit: int = 64) -> str:
    return dicom_text.text(ds, keyword, limit)


def _date(ds: Dataset, keyword: str) -> str:
    value = dicom_text.date(ds, keyword)
    return value.isoformat() if value else ""


def row(level: str, ds: Dataset) -> dict:
    """One match as plain JSON-safe values."""
    number = dicom_text.integer
    if level == "PATIENT":
        return {
            "patient_name": _text(ds, "PatientName", 324),
            "patient_id": _text(ds, "PatientID"),
            "issuer_of_patient_id": _text(ds, "IssuerOfPatientID"),
            "patient_birth_date": _date(ds, "PatientBirthDate"),
            "patient_sex": _text(ds, "PatientSex", 16),
            "number_of_studies": number(ds, "NumberOfPatientRelatedStudies"),
        }
    if level == "STUDY":
        modalities = _text(ds, "ModalitiesInStudy", 128)
        return {
            "study_instance_uid": _text(ds, "StudyInstanceUID"),
            "study_date": _date(ds, "StudyDate"),
            "study_time": _text(ds, "StudyTime", 16),
            "accession_number": _text(ds, "AccessionNumber", 16),
            "study_id": _text(ds, "StudyID", 16),
            "study_description": _text(ds, "StudyDescription"),
            "referring_physician_name": _text(ds, "ReferringPhysicianName", 324),
            "modalities": [m for m in modalities.split("\\") if m],
            "patient_name": _text(ds, "PatientName", 324),
            "patient_id": _text(ds, "PatientID"),
            "issuer_of_patient_id": _text(ds, "IssuerOfPatientID"),
            "patient_birth_date": _date(ds, "PatientBirthDate"),
            "patient_sex": _text(ds, "PatientSex", 16),
            "number_of_series": number(ds, "NumberOfStudyRelatedSeries"),
            "number_of_instances": number(ds, "NumberOfStudyRelatedInstances"),
        }
    if level == "SERIES":
        return {
            "study_instance_uid": _text(ds, "StudyInstanceUID"),
            "series_instance_uid": _text(ds, "SeriesInstanceUID"),
            "modality": _text(ds, "Modality", 16),
            "series_number": number(ds, "SeriesNumber"),
            "series_description": _text(ds, "SeriesDescription"),
            "body_part_examined": _text(ds, "BodyPartExamined", 16),
            "number_of_instances": number(ds, "NumberOfSeriesRelatedInstances"),
        }
    return {
        "study_instance_uid": _text(ds, "StudyInstanceUID"),
        "series_instance_uid": _text(ds, "SeriesInstanceUID"),
        "sop_instance_uid": _text(ds, "SOPInstanceUID"),
        "sop_class_uid": _text(ds, "SOPClassUID"),
        "instance_number": number(ds, "InstanceNumber"),
    }


@dataclass
class SearchResult:
    node: str
    level: str
    rows: list[dict]
    truncated: bool

    def as_json(self) -> dict:
        return {
            "node": self.node,
            "level": self.level,
            "truncated": self.truncated,
            "results": self.rows,
        }


def _mark_local(level: str, rows: list[dict]) -> None:
    """Say for each remote row how many of its instances we already hold (None: none)."""
    if level == "STUDY":
        uids = [r["study_instance_uid"] for r in rows if r["study_instance_uid"]]
        local = dict(
            Study.objects.filter(study_instance_uid__in=uids).values_list(
                "study_instance_uid", "number_of_instances"
            )
        )
        for r in rows:
            r["local_instances"] = local.get(r["study_instance_uid"])
    elif level == "SERIES":
        uids = [r["series_instance_uid"] for r in rows if r["series_instance_uid"]]
        local = dict(
            Series.objects.filter(series_instance_uid__in=uids).values_list(
                "series_instance_uid", "number_of_instances"
            )
        )
        for r in rows:
            r["local_instances"] = local.get(r["series_instance_uid"])
    elif level == "IMAGE":
        uids = [r["sop_instance_uid"] for r in rows if r["sop_instance_uid"]]
        local = set(
            Instance.objects.filter(sop_instance_uid__in=uids).values_list(
                "sop_instance_uid", flat=True
            )
        )
        for r in rows:
            r["local"] = r["sop_instance_uid"] in local


def search(
    node: PacsNode, level: str, terms: SearchTerms, limit: int | None = None
) -> SearchResult:
    """C-FIND on ``node`` at ``level``; raises InvalidQuery or scu.PacsError."""
    level = level.upper()
    query = identifier(level, terms)
    outcome = scu.find(node, query, patient_root=(level == "PATIENT"), limit=limit)
    rows = [row(level, match) for match in outcome.matches]
    for r in rows:
        r["remote"] = True
        r["node"] = node.name
    _mark_local(level, rows)
    return SearchResult(node.name, level, rows, outcome.truncated)


def local_studies_of_patient(patient_id: str, issuer: str = "") -> list[dict]:
    studies = (
        Study.objects.filter(patient__patient_id=patient_id, patient__issuer_of_patient_id=issuer)
        .select_related("patient")
        .order_by("-study_date", "-study_time")
    )
    return [
        {
            "study_instance_uid": s.study_instance_uid,
            "study_date": s.study_date.isoformat() if s.study_date else "",
            "accession_number": s.accession_number,
            "study_description": s.description,
            "modalities": s.modalities,
            "patient_name": s.patient.name,
            "patient_id": s.patient.patient_id,
            "issuer_of_patient_id": s.patient.issuer_of_patient_id,
            "number_of_series": s.number_of_series,
            "number_of_instances": s.number_of_instances,
            "remote": False,
            "local_instances": s.number_of_instances,
        }
        for s in studies
    ]


def prior_studies(patient_id: str, nodes: list[PacsNode] | None = None, issuer: str = "") -> dict:
    """The patient's studies here and on each enabled PACS; one node failing is reported
    next to the others' answers, not raised.

    A patient is Patient ID *and* Issuer of Patient ID (0010,0021): the same ID from two
    assigning authorities is two people, so a study matches only with the same issuer, an
    unknown issuer matching only an unknown one. The issuer is a matching key of the C-FIND
    (optional, PS3.4 C.6.2.1) and a return key; a PACS that ignores it is still held to it
    by the answer's value, and one that does not return it shows no priors for a patient
    whose issuer is known: a missing prior is safer than another patient's study.
    """
    if not patient_id or _FORBIDDEN.search(patient_id) or len(patient_id) > 64:
        raise InvalidQuery("a patient ID (at most 64 characters, no backslash) is needed")
    if _FORBIDDEN.search(issuer) or len(issuer) > 64:
        raise InvalidQuery("an issuer of patient ID has at most 64 characters, no backslash")
    local = local_studies_of_patient(patient_id, issuer)
    local_uids = {s["study_instance_uid"] for s in local}
    remote: list[dict] = []
    errors: dict[str, str] = {}
    if nodes is None:
        nodes = list(PacsNode.objects.filter(enabled=True))
    for node in nodes:
        try:
            terms = SearchTerms(patient_id=patient_id, issuer_of_patient_id=issuer)
            result = search(node, "STUDY", terms)
        except scu.PacsError as exc:
            errors[node.name] = str(exc)
            continue
        remote.extend(
            r
            for r in result.rows
            if r["study_instance_uid"] not in local_uids
            and r["patient_id"] == patient_id
            and r["issuer_of_patient_id"] == issuer
        )
    studies = sorted(local + remote, key=lambda s: s["study_date"] or "", reverse=True)
    return {
        "patient_id": patient_id,
        "issuer_of_patient_id": issuer,
        "studies": studies,
        "errors": errors,
    }
