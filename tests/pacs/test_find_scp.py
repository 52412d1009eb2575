"""Our listener answering C-FIND, with DCMTK's findscu as the client."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import make_ct, to_bytes
from tests.pacs.conftest import dcmtk


@pytest.fixture
def indexed(transactional_db):
    """Two patients: Doe with a two-series CT study, Roe with an MR study from 2023."""
    ct = [
        make_ct(
            study_uid="1.2.840.99999.10",
            series_uid=f"1.2.840.99999.10.{series}",
            instance_number=number,
            patient_id="PID-DOE",
            patient_name="Doe^Jane",
            SeriesNumber=series,
        )
        for series in (1, 2)
        for number in (1, 2)
    ]
    mr = make_ct(
        study_uid="1.2.840.99999.20",
        patient_id="PID-ROE",
        patient_name="Roe^Richard",
        Modality="MR",
        StudyDate="20230505",
        AccessionNumber="ACC-MR",
    )
    for ds in [*ct, mr]:
        assert ingest_bytes(to_bytes(ds), Instance.Source.IMPORT).ok
    return {"ct": ct, "mr": mr}


def findscu(listener, tmp_path: Path, *keys: str, model: str = "-S", calling: str = "STORESCU"):
    """Run findscu; the response identifiers it received, and the completed process."""
    out = tmp_path / "responses"
    out.mkdir(exist_ok=True)
    args = [model, "-v", "-X", "-od", out, "-aet", calling, "-aec", "DICOMVIEWER"]
    for key in keys:
        args += ["-k", key]
    result = dcmtk("findscu", *args, "127.0.0.1", listener.port)
    answers = [pydicom.dcmread(path) for path in sorted(out.glob("rsp*.dcm"))]
    for path in out.glob("rsp*.dcm"):
        path.unlink()
    return answers, result


def test_findscu_finds_a_patient_by_name_wildcard(listener, known_sender, indexed, tmp_path):
    answers, result = findscu(
        listener,
        tmp_path,
        "QueryRetrieveLevel=PATIENT",
        "PatientName=Doe*",
        "PatientID",
        "NumberOfPatientRelatedStudies",
        model="-P",
    )
    assert result.returncode == 0, result.stderr
    assert [(str(a.PatientName), a.PatientID) for a in answers] == [("Doe^Jane", "PID-DOE")]
    assert int(answers[0].NumberOfPatientRelatedStudies) == 1


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("PatientID=PID-ROE", "1.2.840.99999.20"),
        ("StudyDate=20230101-20231231", "1.2.840.99999.20"),
        ("ModalitiesInStudy=CT", "1.2.840.99999.10"),
        ("AccessionNumber=ACC-MR", "1.2.840.99999.20"),
    ],
)
def test_findscu_finds_studies_by_each_kind_of_key(
    listener, known_sender, indexed, tmp_path, key, expected
):
    answers, result = findscu(
        listener, tmp_path, "QueryRetrieveLevel=STUDY", "StudyInstanceUID", key
    )
    assert result.returncode == 0, result.stderr
    assert [a.StudyInstanceUID for a in answers] == [expected]


def test_study_answers_carry_exactly_the_requested_keys(listener, known_sender, indexed, tmp_path):
    answers, _ = findscu(
        listener,
        tmp_path,
        "QueryRetrieveLevel=STUDY",
        "PatientID=PID-ROE",
        "StudyInstanceUID",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedInstances",
        "InstitutionName",  # not something we index: asked for, returned empty
    )
    (answer,) = answers
    assert answer.ModalitiesInStudy == "MR"
    assert int(answer.NumberOfStudyRelatedInstances) == 1
    assert answer.InstitutionName in (None, "")
    assert "AccessionNumber" not in answer


def test_findscu_lists_series_and_instances_of_a_study(listener, known_sender, indexed, tmp_path):
    series, _ = findscu(
        listener,
        tmp_path,
        "QueryRetrieveLevel=SERIES",
        "StudyInstanceUID=1.2.840.99999.10",
        "SeriesInstanceUID",
        "SeriesNumber",
        "NumberOfSeriesRelatedInstances",
    )
    assert [(s.SeriesInstanceUID, int(s.NumberOfSeriesRelatedInstances)) for s in series] == [
        ("1.2.840.99999.10.1", 2),
        ("1.2.840.99999.10.2", 2),
    ]
    images, _ = findscu(
        listener,
        tmp_path,
        "QueryRetrieveLevel=IMAGE",
        "StudyInstanceUID=1.2.840.99999.10",
        "SeriesInstanceUID=1.2.840.99999.10.2",
        "SOPInstanceUID",
        "InstanceNumber",
    )
    expected = [ds.SOPInstanceUID for ds in indexed["ct"][2:]]
    assert [i.SOPInstanceUID for i in images] == expected


def test_series_query_without_the_study_is_refused(listener, known_sender, indexed, tmp_path):
    answers, result = findscu(listener, tmp_path, "QueryRetrieveLevel=SERIES", "Modality=CT")
    assert answers == []
    # A900, Identifier does not match SOP Class (PS3.4 C.4.1.1.4), in DCMTK's words:
    assert "Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in result.stderr


def test_too_broad_a_query_is_refused_rather_than_cut_short(
    listener, known_sender, indexed, tmp_path, settings
):
    settings.DICOM_FIND_MAX_MATCHES = 1
    answers, result = findscu(listener, tmp_path, "QueryRetrieveLevel=STUDY", "PatientID=*")
    assert answers == []
    assert "Final Find Response (Refused: OutOfResources)" in result.stderr  # A700


def test_unknown_ae_cannot_query(listener, known_sender, indexed, tmp_path):
    answers, result = findscu(
        listener, tmp_path, "QueryRetrieveLevel=STUDY", "PatientID=*", calling="NOSY"
    )
    assert answers == [] and result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stderr


def test_patient_level_is_refused_in_the_study_root_model(
    listener, known_sender, indexed, tmp_path
):
    answers, result = findscu(listener, tmp_path, "QueryRetrieveLevel=PATIENT", "PatientID=*")
    assert answers == []
    assert "Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in result.stderr
