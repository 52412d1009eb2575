"""Prior studies are the same patient: Patient ID together with Issuer of Patient ID
(0010,0021). The same ID from another assigning authority, or with no issuer where one is
known, is another patient and never listed among the priors (studies.pacs.query)."""

from __future__ import annotations

import pytest

from studies.pacs.query import InvalidQuery, prior_studies
from tests.emr.conftest import store

pytestmark = pytest.mark.django_db

HOSP = "1.2.826.0.1.3680043.8.498.6401"
OTHER = "1.2.826.0.1.3680043.8.498.6402"
NONE = "1.2.826.0.1.3680043.8.498.6403"
HOSP_2 = "1.2.826.0.1.3680043.8.498.6404"


@pytest.fixture
def same_id_three_issuers(db) -> None:
    store(HOSP, patient_id="12345", IssuerOfPatientID="HOSP", StudyDate="20240101")
    store(HOSP_2, patient_id="12345", IssuerOfPatientID="HOSP", StudyDate="20230101")
    store(OTHER, patient_id="12345", IssuerOfPatientID="OTHER", patient_name="Other^Olga")
    store(NONE, patient_id="12345", patient_name="Nobody^Nora")


def uids(answer: dict) -> list[str]:
    return [s["study_instance_uid"] for s in answer["studies"]]


def test_priors_of_a_patient_with_an_issuer_are_that_issuers_only(same_id_three_issuers):
    assert uids(prior_studies("12345", nodes=[], issuer="HOSP")) == [HOSP, HOSP_2]
    assert uids(prior_studies("12345", nodes=[], issuer="OTHER")) == [OTHER]


def test_priors_of_a_patient_without_issuer_leave_out_those_with_one(same_id_three_issuers):
    assert uids(prior_studies("12345", nodes=[])) == [NONE]


def test_the_priors_endpoint_takes_the_issuer(clinician_client, same_id_three_issuers):
    answer = clinician_client.get("/pacs/priors", {"patient_id": "12345", "issuer": "HOSP"})
    assert answer.status_code == 200
    assert uids(answer.json()) == [HOSP, HOSP_2]
    assert {s["issuer_of_patient_id"] for s in answer.json()["studies"]} == {"HOSP"}
    without = clinician_client.get("/pacs/priors", {"patient_id": "12345"}).json()
    assert uids(without) == [NONE]
    bad = clinician_client.get("/pacs/priors", {"patient_id": "12345", "issuer": "A\\B"})
    assert bad.status_code == 400


def test_an_issuer_with_a_backslash_is_refused(db):
    with pytest.raises(InvalidQuery):
        prior_studies("12345", nodes=[], issuer="A\\B")


def test_the_viewer_asks_for_the_priors_of_its_patient_and_issuer(
    clinician_client, same_id_three_issuers
):
    page = clinician_client.get(f"/studies/{HOSP}/view/").content.decode()
    assert 'data-patient-id="12345"' in page
    assert 'data-issuer-of-patient-id="HOSP"' in page
