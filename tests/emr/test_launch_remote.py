"""Launches that reach the PACS (Orthanc, a real peer on free ports): a PATIENT launch lists
the priors here and on the PACS; a STUDY launch of a study that is not here finds it by
C-FIND, queues its retrieve, and the study opens once it arrives."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from studies.models import LaunchGrant, RetrieveJob, Study
from studies.pacs.jobs import run_due_jobs
from tests.emr.conftest import store
from tests.emr.links import make_integration, signed_link
from tests.pacs.conftest import listener, pacs  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.orthanc, pytest.mark.django_db(transaction=True)]

LOCAL = "1.2.826.0.1.3680043.8.498.6101"


def test_a_patient_launch_lists_local_and_remote_priors(pacs):  # noqa: F811
    make_integration()
    store(LOCAL, patient_id="12345", IssuerOfPatientID="HOSP")
    remote_prior, _, _ = pacs.load_study(
        patient_id="12345", IssuerOfPatientID="HOSP", StudyDescription="Old chest"
    )
    other_patient, _, _ = pacs.load_study(patient_id="999")
    # The same ID from another issuer, or with none, is another patient (priors match both).
    other_issuer, _, _ = pacs.load_study(patient_id="12345", IssuerOfPatientID="OTHER")
    no_issuer, _, _ = pacs.load_study(patient_id="12345")
    client = Client()
    response = client.get(signed_link("PATIENT", patientID="12345^^^HOSP"))
    assert response["Location"] == reverse("launch:session")
    page = client.get(reverse("launch:session")).content.decode()
    assert f'data-study-instance-uid="{LOCAL}" data-location="local"' in page
    assert f'data-study-instance-uid="{remote_prior}" data-location="remote"' in page
    assert "Old chest" in page
    assert other_patient not in page
    assert other_issuer not in page and no_issuer not in page

    # The remote prior is retrieved on request, then opens in the viewer.
    client.post(reverse("launch:retrieve"), {"node": "orthanc", "study_instance_uid": remote_prior})
    assert RetrieveJob.objects.filter(study_instance_uid=remote_prior).exists()
    run_due_jobs()
    viewer = client.get(reverse("frontend:study-viewer", args=[remote_prior]))
    assert viewer.status_code == 200


def test_a_patient_launch_cannot_retrieve_another_patients_study(pacs):  # noqa: F811
    make_integration()
    other_patient, _, _ = pacs.load_study(patient_id="999")
    client = Client()
    client.get(signed_link("PATIENT", patientID="12345^^^HOSP"))
    response = client.post(
        reverse("launch:retrieve"), {"node": "orthanc", "study_instance_uid": other_patient}
    )
    assert response.status_code == 403
    assert not RetrieveJob.objects.exists()


def test_a_study_launch_of_a_remote_study_retrieves_it_and_shows_progress(pacs):  # noqa: F811
    make_integration()
    study_uid, _, sops = pacs.load_study(per_series=3, AccessionNumber="ACC-R")
    client = Client()
    response = client.get(signed_link(accessionNumber="ACC-R"))
    # Not here yet: the launch page, which follows the queued retrieve.
    assert response["Location"] == reverse("launch:session")
    job = RetrieveJob.objects.get(study_instance_uid=study_uid)
    assert job.requested_by == LaunchGrant.objects.get().user
    page = client.get(reverse("launch:session")).content.decode()
    assert f'data-study-instance-uid="{study_uid}" data-location="remote"' in page
    assert 'http-equiv="refresh"' in page  # refreshes while the retrieve runs
    run_due_jobs()
    assert Study.objects.get(study_instance_uid=study_uid).number_of_instances == len(sops)
    page = client.get(reverse("launch:session")).content.decode()
    assert f'data-study-instance-uid="{study_uid}" data-location="local"' in page
    assert client.get(reverse("frontend:study-viewer", args=[study_uid])).status_code == 200
