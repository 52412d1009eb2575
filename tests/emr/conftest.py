from __future__ import annotations

import pytest

from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import make_ct, to_bytes
from tests.emr.links import make_integration

STUDY_A = "1.2.826.0.1.3680043.8.498.6001"
STUDY_B = "1.2.826.0.1.3680043.8.498.6002"
STUDY_C = "1.2.826.0.1.3680043.8.498.6003"


def store(study_uid: str, **attributes) -> str:
    result = ingest_bytes(
        to_bytes(make_ct(study_uid=study_uid, **attributes)), Instance.Source.IMPORT
    )
    assert result.status == "stored", result.reason
    return study_uid


@pytest.fixture
def integration(db):
    return make_integration()


@pytest.fixture
def studies(db) -> dict[str, str]:
    """Two studies of Doe (issuer HOSP) and one of Roe."""
    return {
        "doe_ct": store(
            STUDY_A,
            patient_id="12345",
            IssuerOfPatientID="HOSP",
            AccessionNumber="ACC-A",
            StudyDate="20240102",
        ),
        "doe_mr": store(
            STUDY_B,
            patient_id="12345",
            IssuerOfPatientID="HOSP",
            AccessionNumber="ACC-B",
            Modality="MR",
            StudyDate="20230101",
        ),
        "roe": store(
            STUDY_C, patient_id="999", patient_name="Roe^Richard", AccessionNumber="ACC-C"
        ),
    }
