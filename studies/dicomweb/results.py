"""QIDO-RS answers: index rows as DICOM JSON data sets (PS3.18 10.6.3.3).

Each level returns the attributes PS3.18 Tables 10.6.3-3 (study), 10.6.3-4 (series) and
10.6.3-5 (instance) list, from the index. A search across studies also returns the study
attributes of each series or instance, and a search across series the series attributes.
Attributes asked for with ``includefield`` come from the stored header (``dicom_json``): the
instance's own at instance level, one instance's (the first received) at study and series
level. Values from the index win over the header when both have an attribute.
"""

from __future__ import annotations

from typing import Any

from studies.dicomweb import dicom_json as dj
from studies.dicomweb.links import Links
from studies.models import Instance, Series, Study

# PS3.3 C.4.23.1.1 / PS3.18: everything here is on disk and can be sent at once.
ONLINE = "ONLINE"

STUDY_TAGS = frozenset(
    {
        "00080020",  # StudyDate
        "00080030",  # StudyTime
        "00080050",  # AccessionNumber
        "00080056",  # InstanceAvailability
        "00080061",  # ModalitiesInStudy
        "00080090",  # ReferringPhysicianName
        "00081030",  # StudyDescription
        "00081190",  # RetrieveURL
        "00100010",  # PatientName
        "00100020",  # PatientID
        "00100030",  # PatientBirthDate
        "00100040",  # PatientSex
        "0020000D",  # StudyInstanceUID
        "00200010",  # StudyID
        "00201206",  # NumberOfStudyRelatedSeries
        "00201208",  # NumberOfStudyRelatedInstances
    }
)
SERIES_TAGS = frozenset(
    {
        "00080056",  # InstanceAvailability
        "00080060",  # Modality
        "0008103E",  # SeriesDescription
        "00081190",  # RetrieveURL
        "00180015",  # BodyPartExamined
        "0020000D",  # StudyInstanceUID (not required; lets a client climb back up)
        "0020000E",  # SeriesInstanceUID
        "00200011",  # SeriesNumber
        "00201209",  # NumberOfSeriesRelatedInstances
    }
)
INSTANCE_TAGS = frozenset(
    {
        "00080016",  # SOPClassUID
        "00080018",  # SOPInstanceUID
        "00080056",  # InstanceAvailability
        "00081190",  # RetrieveURL
        "0020000D",  # StudyInstanceUID
        "0020000E",  # SeriesInstanceUID
        "00200013",  # InstanceNumber
        "00280008",  # NumberOfFrames
        "00280010",  # Rows
        "00280011",  # Columns
        "00280100",  # BitsAllocated (from the header: the index does not keep it)
    }
)


def study_attributes(study: Study, links: Links) -> dj.DataSet:
    patient = study.patient
    return {
        "00080020": dj.date(study.study_date),
        "00080030": dj.time(study.study_time),
        "00080050": dj.text("SH", study.accession_number),
        "00080056": dj.text("CS", ONLINE),
        "00080061": dj.multi_text("CS", study.modalities_in_study),
        "00080090": dj.person_name(study.referring_physician_name),
        "00081030": dj.text("LO", study.description),
        "00081190": dj.text("UR", links.study(study.study_instance_uid)),
        "00100010": dj.person_name(patient.name),
        "00100020": dj.text("LO", patient.patient_id),
        "00100030": dj.date(patient.birth_date),
        "00100040": dj.text("CS", patient.sex),
        "0020000D": dj.text("UI", study.study_instance_uid),
        "00200010": dj.text("SH", study.study_id),
        "00201206": dj.number("IS", study.number_of_series),
        "00201208": dj.number("IS", study.number_of_instances),
    }


def series_attributes(series: Series, links: Links) -> dj.DataSet:
    study_uid = series.study.study_instance_uid
    return {
        "00080056": dj.text("CS", ONLINE),
        "00080060": dj.text("CS", series.modality),
        "0008103E": dj.text("LO", series.description),
        "00081190": dj.text("UR", links.series(study_uid, series.series_instance_uid)),
        "00180015": dj.text("CS", series.body_part_examined),
        "0020000D": dj.text("UI", study_uid),
        "0020000E": dj.text("UI", series.series_instance_uid),
        "00200011": dj.number("IS", series.series_number),
        "00201209": dj.number("IS", series.number_of_instances),
    }


def instance_attributes(instance: Instance, links: Links) -> dj.DataSet:
    series = instance.series
    study_uid = series.study.study_instance_uid
    bits = (instance.dicom_json or {}).get("00280100", {}).get("Value") or []
    url = links.instance(study_uid, series.series_instance_uid, instance.sop_instance_uid)
    return {
        "00080016": dj.text("UI", instance.sop_class_uid),
        "00080018": dj.text("UI", instance.sop_instance_uid),
        "00080056": dj.text("CS", ONLINE),
        "00081190": dj.text("UR", url),
        "0020000D": dj.text("UI", study_uid),
        "0020000E": dj.text("UI", series.series_instance_uid),
        "00200013": dj.number("IS", instance.instance_number),
        "00280008": dj.number("IS", instance.number_of_frames),
        "00280010": dj.number("US", instance.rows),
        "00280011": dj.number("US", instance.columns),
        "00280100": dj.element("US", bits[:1]),
    }


# Binary values are bulk data: QIDO answers never carry them (WADO-RS serves them).
_BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


def with_included(
    dataset: dj.DataSet,
    header: dict[str, Any] | None,
    tags: set[str],
    include_all: bool,
    other_levels: frozenset[str] = frozenset(),
) -> dj.DataSet:
    """Add the requested attributes from a stored header; an absent one is left out.

    ``all`` takes every attribute of the header except bulk data and ``other_levels``: the
    identifying attributes of lower levels, which would describe only the one instance the
    header came from (a study has many SOP Instance UIDs).
    """
    if header:
        wanted = [t for t in header if t not in other_levels] if include_all else tags
        for tag in wanted:
            element = header.get(tag)
            if tag in dataset or element is None or element.get("vr") in _BULK_VRS:
                continue
            dataset[tag] = element
    return dj.sorted_by_tag(dataset)
