"""/IHEInvokeImageDisplay (IHE RAD-106): a signed link opens its studies; every failed check
is a 403 page naming which; the session it opens sees only what the link named."""

from __future__ import annotations

import logging
import time

import pytest
from django.test import Client
from django.urls import reverse

from studies.models import LaunchGrant
from tests.emr.conftest import STUDY_A, STUDY_B, STUDY_C, store
from tests.emr.links import link_pairs, link_with, signature_of, signed_link

pytestmark = pytest.mark.django_db


def viewer(uid: str) -> str:
    return reverse("frontend:study-viewer", args=[uid])


def refusal(response) -> str:
    assert response.status_code == 403, response.status_code
    return response["X-Launch-Refusal"]


def test_signed_study_link_opens_the_viewer_of_that_study(client, integration, studies):
    response = client.get(signed_link(studyUID=STUDY_A, viewerType="IHE_BIR"))
    assert response.status_code == 302
    assert response["Location"] == viewer(STUDY_A)
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert f'data-study-instance-uid="{STUDY_A}"' in page.content.decode()


def test_accession_number_link_opens_the_study_with_that_accession(client, integration, studies):
    response = client.get(signed_link(accessionNumber="ACC-B"))
    assert response["Location"] == viewer(STUDY_B)


def test_diagnostic_quality_and_key_images_flags_reach_the_viewer_url(client, integration, studies):
    response = client.get(
        signed_link(studyUID=STUDY_A, diagnosticQuality="true", keyImagesOnly="true")
    )
    assert response["Location"] == viewer(STUDY_A) + "?diagnosticQuality=true&keyImagesOnly=true"


def test_two_studies_open_the_launch_page_listing_both(client, integration, studies):
    response = client.get(signed_link(studyUID=f"{STUDY_A},{STUDY_B}"))
    assert response["Location"] == reverse("launch:session")
    page = client.get(response["Location"]).content.decode()
    assert STUDY_A in page and STUDY_B in page and STUDY_C not in page


def test_a_changed_parameter_is_refused_as_tampered(client, integration, studies):
    pairs = link_pairs(studyUID=STUDY_A)
    signature = signature_of(pairs)
    swapped = [(k, STUDY_C if k == "studyUID" else v) for k, v in pairs]
    response = client.get(link_with(swapped, signature))
    assert refusal(response) == "tampered"
    assert "altered" in response.content.decode()
    assert not LaunchGrant.objects.exists()


def test_an_added_parameter_is_refused_as_tampered(client, integration, studies):
    pairs = link_pairs(studyUID=STUDY_A)
    signature = signature_of(pairs)
    assert (
        refusal(client.get(link_with([*pairs, ("accessionNumber", "ACC-C")], signature)))
        == "tampered"
    )


def test_a_link_without_signature_or_with_another_secret_is_tampered(client, integration, studies):
    pairs = link_pairs(studyUID=STUDY_A)
    assert refusal(client.get(link_with(pairs, ""))) == "tampered"
    other = signature_of(pairs, secret="another-secret-of-at-least-32-characters")
    assert refusal(client.get(link_with(pairs, other))) == "tampered"


def test_an_unknown_or_disabled_emr_is_refused(client, integration, studies):
    assert refusal(client.get(signed_link(studyUID=STUDY_A, emr="nobody"))) == "unknown_emr"
    integration.enabled = False
    integration.save()
    assert refusal(client.get(signed_link(studyUID=STUDY_A))) == "unknown_emr"


def test_an_expired_link_is_refused_as_expired(client, integration, studies):
    response = client.get(signed_link(studyUID=STUDY_A, expires=int(time.time()) - 120))
    assert refusal(response) == "expired"
    assert "expired" in response.content.decode()


def test_a_link_valid_longer_than_the_integration_allows_is_refused(client, integration, studies):
    response = client.get(signed_link(studyUID=STUDY_A, expires=int(time.time()) + 3600))
    assert refusal(response) == "expired"
    assert "longer than" in response.content.decode()


def test_a_link_used_twice_is_refused_as_replayed(client, integration, studies):
    link = signed_link(studyUID=STUDY_A)
    assert client.get(link).status_code == 302
    second = client.get(link)
    assert refusal(second) == "replayed"
    assert "already used" in second.content.decode()


@pytest.mark.parametrize(
    "params, message",
    [
        ({"studyUID": "not-a-uid"}, "studyUID"),
        ({}, "needs studyUID or accessionNumber"),
        ({"studyUID": STUDY_A, "viewerType": "OTHER"}, "IHE_BIR"),
        ({"studyUID": STUDY_A, "diagnosticQuality": "maybe"}, "diagnosticQuality"),
    ],
)
def test_malformed_signed_parameters_are_a_bad_request(
    client, integration, studies, params, message
):
    response = client.get(signed_link(**params))
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_launched_session_gets_403_out_of_scope_for_another_study(client, integration, studies):
    client.get(signed_link(studyUID=STUDY_A))
    for url in (viewer(STUDY_C), reverse("frontend:study-detail", args=[STUDY_C])):
        assert refusal(client.get(url)) == "out_of_scope"
    assert client.get(reverse("frontend:study-detail", args=[STUDY_A])).status_code == 200


def test_a_launched_session_lists_only_its_studies(client, integration, studies):
    client.get(signed_link(studyUID=STUDY_A))
    # The study list of a launched session is its launch page (studies.launch.scope).
    response = client.get(reverse("frontend:study-list"), follow=True)
    assert response.redirect_chain == [(reverse("launch:session"), 302)]
    page = response.content.decode()
    assert STUDY_A in page and STUDY_B not in page and STUDY_C not in page


def test_a_launched_session_reads_only_its_studies_over_dicomweb(client, integration, studies):
    client.get(signed_link(studyUID=STUDY_A))
    assert client.get(f"/dicomweb/studies/{STUDY_A}/metadata").status_code == 200
    assert client.get(f"/dicomweb/studies/{STUDY_C}/metadata").status_code == 403
    # Searching across studies would show other patients: not for a launched session.
    assert client.get("/dicomweb/studies").status_code == 403
    assert client.get("/pacs/priors?patient_id=999").status_code == 403


def test_a_patient_launch_sees_that_patients_studies_only(client, integration, studies):
    response = client.get(signed_link("PATIENT", patientID="12345^^^HOSP"))
    assert response["Location"] == reverse("launch:session")
    page = client.get(response["Location"]).content.decode()
    assert STUDY_A in page and STUDY_B in page and STUDY_C not in page
    assert client.get(viewer(STUDY_B)).status_code == 200
    assert refusal(client.get(viewer(STUDY_C))) == "out_of_scope"


def test_a_patient_launch_with_another_issuer_sees_nothing(client, integration, studies):
    client.get(signed_link("PATIENT", patientID="12345^^^OTHER"))
    assert refusal(client.get(viewer(STUDY_A))) == "out_of_scope"


def test_patient_launch_filters_list_by_modality_and_most_recent(client, integration, studies):
    client.get(signed_link("PATIENT", patientID="12345^^^HOSP", modalitiesInStudy="MR"))
    page = client.get(reverse("launch:session")).content.decode()
    assert STUDY_B in page and STUDY_A not in page
    client.get(signed_link("PATIENT", patientID="12345^^^HOSP", mostRecentResults="1"))
    page = client.get(reverse("launch:session")).content.decode()
    assert STUDY_A in page and STUDY_B not in page


def test_an_expired_grant_sees_nothing(client, integration, studies):
    client.get(signed_link(studyUID=STUDY_A))
    LaunchGrant.objects.update(expires_at="2000-01-01T00:00:00Z")
    assert refusal(client.get(viewer(STUDY_A))) == "out_of_scope"


def test_users_who_log_in_normally_keep_their_own_permissions(
    clinician_client, integration, studies
):
    Client().get(signed_link(studyUID=STUDY_A))  # another browser
    for uid in (STUDY_A, STUDY_B, STUDY_C):
        assert clinician_client.get(viewer(uid)).status_code == 200
    assert clinician_client.get("/dicomweb/studies").status_code == 200


def test_a_launch_replaces_the_session_already_in_the_browser(
    clinician_client, integration, studies
):
    clinician_client.get(signed_link(studyUID=STUDY_A))
    assert refusal(clinician_client.get(viewer(STUDY_C))) == "out_of_scope"


def test_no_patient_data_in_the_log_of_a_launch(client, integration, studies, caplog):
    caplog.set_level(logging.DEBUG)
    client.get(signed_link("PATIENT", patientID="12345^^^HOSP", patientName="Doe^Jane"))
    client.get(signed_link(studyUID=STUDY_C, expires=int(time.time()) - 300))
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "launch" in text.lower()
    for phi in ("12345", "Doe", "Roe", STUDY_C):
        assert phi not in text


def test_a_patient_launch_may_list_only_its_own_patients_priors(client, integration, studies):
    client.get(signed_link("PATIENT", patientID="12345^^^HOSP"))
    answer = client.get("/pacs/priors?patient_id=12345&issuer=HOSP")
    assert answer.status_code == 200
    assert {s["study_instance_uid"] for s in answer.json()["studies"]} == {STUDY_A, STUDY_B}
    assert client.get("/pacs/priors?patient_id=999").status_code == 403
    # Without its issuer the ID could be another authority's patient.
    assert client.get("/pacs/priors?patient_id=12345").status_code == 403
    assert client.get("/pacs/nodes/").status_code == 403


def test_a_patient_launch_sees_studies_without_issuer_as_the_local_domain(client, integration):
    uid = "1.2.826.0.1.3680043.8.498.6009"
    store(uid, patient_id="12345")  # no Issuer of Patient ID, as many PACS send
    client.get(signed_link("PATIENT", patientID="12345^^^HOSP"))
    assert client.get(viewer(uid)).status_code == 200


def test_expired_nonces_and_old_session_accounts_are_purged_on_the_next_launch(
    client, integration, studies
):
    from django.contrib.auth import get_user_model

    from studies.models import LaunchNonce

    Client().get(signed_link(studyUID=STUDY_A))
    old_user = LaunchGrant.objects.get().user
    LaunchGrant.objects.update(expires_at="2000-01-01T00:00:00Z")
    LaunchNonce.objects.update(expires_at="2000-01-01T00:00:00Z")
    client.get(signed_link(studyUID=STUDY_B))
    assert not get_user_model().objects.filter(pk=old_user.pk).exists()
    assert LaunchNonce.objects.count() == 1
    assert LaunchGrant.objects.count() == 1
