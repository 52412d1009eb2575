"""DICOMweb reads are audited without a row per frame: QIDO-RS searches are query events,
WADO-RS metadata and retrieves open a study, frames/rendered/thumbnails are an image session,
each at most once per user, study and kind within the window (studies.audit.dicomweb)."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from studies.models import AuditEvent, Instance
from tests.emr.conftest import STUDY_A, STUDY_B

pytestmark = pytest.mark.django_db

Kind = AuditEvent.Kind


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def dicomweb_events(kind: str | None = None):
    events = AuditEvent.objects.filter(detail__startswith="DICOMweb ").order_by("created_at")
    return list(events.filter(kind=kind) if kind else events)


def instance_path(study: str) -> str:
    instance = Instance.objects.select_related("series").get(
        series__study__study_instance_uid=study
    )
    series = instance.series.series_instance_uid
    return f"/dicomweb/studies/{study}/series/{series}/instances/{instance.sop_instance_uid}"


def test_a_viewing_session_of_many_reads_is_one_event_per_kind(clinician_client, studies):
    base = instance_path(STUDY_A)
    for _ in range(3):
        assert clinician_client.get(f"/dicomweb/studies/{STUDY_A}/metadata").status_code == 200
        assert clinician_client.get(base + "/metadata").status_code == 200
    for _ in range(5):
        assert clinician_client.get(base + "/frames/1/rendered").status_code == 200
        assert clinician_client.get(base + "/thumbnail").status_code == 200
    opened = dicomweb_events(Kind.STUDY_OPENED)
    session = dicomweb_events(Kind.IMAGE_SESSION)
    assert len(opened) == 1 and len(session) == 1
    event = opened[0]
    assert (event.who, event.source_address, event.outcome) == ("clinician", "127.0.0.1", 0)
    assert (event.patient_id, event.patient_name, event.study_instance_uid) == (
        "12345",
        "Doe^Jane",
        STUDY_A,
    )
    assert event.detail == "DICOMweb WADO-RS study metadata"
    assert session[0].detail == "DICOMweb WADO-RS frame rendered"


def test_another_study_or_another_user_is_another_event(
    clinician_client, admin_user, studies, client
):
    clinician_client.get(f"/dicomweb/studies/{STUDY_A}/metadata")
    clinician_client.get(f"/dicomweb/studies/{STUDY_B}/metadata")
    client.force_login(admin_user)
    client.get(f"/dicomweb/studies/{STUDY_A}/metadata")
    seen = sorted((e.who, e.study_instance_uid) for e in dicomweb_events(Kind.STUDY_OPENED))
    assert seen == [("admin", STUDY_A), ("clinician", STUDY_A), ("clinician", STUDY_B)]


def test_qido_searches_are_query_events_told_apart_by_their_terms(clinician_client, studies):
    for _ in range(2):
        assert clinician_client.get("/dicomweb/studies?PatientID=12345").status_code == 200
    # Paging through the same search is the same search.
    clinician_client.get("/dicomweb/studies?PatientID=12345&offset=1&limit=1")
    clinician_client.get("/dicomweb/studies?PatientID=999")
    clinician_client.get(f"/dicomweb/studies/{STUDY_A}/series")
    clinician_client.get(f"/dicomweb/studies/{STUDY_A}/series?Modality=CT")
    queries = dicomweb_events(Kind.QUERY)
    assert [(e.study_instance_uid, e.detail) for e in queries] == [
        ("", "DICOMweb QIDO-RS studies?PatientID=12345"),
        ("", "DICOMweb QIDO-RS studies?PatientID=999"),
        (STUDY_A, "DICOMweb QIDO-RS series"),
    ]
    assert queries[2].patient_id == "12345"


def test_after_the_window_the_same_reads_are_a_new_event(clinician_client, studies):
    clinician_client.get(f"/dicomweb/studies/{STUDY_A}/metadata")
    # Another server process (an empty cache) still sees the event in the table.
    cache.clear()
    clinician_client.get(f"/dicomweb/studies/{STUDY_A}/metadata")
    assert len(dicomweb_events()) == 1
    AuditEvent.objects.update(created_at=timezone.now() - timedelta(minutes=6))
    cache.clear()  # the cache entry would have expired with the window
    clinician_client.get(f"/dicomweb/studies/{STUDY_A}/metadata")
    assert len(dicomweb_events(Kind.STUDY_OPENED)) == 2


def test_a_window_of_zero_records_every_read(clinician_client, studies, settings):
    settings.AUDIT_DICOMWEB_WINDOW_SECONDS = 0
    for _ in range(3):
        clinician_client.get(f"/dicomweb/studies/{STUDY_A}/metadata")
    assert len(dicomweb_events(Kind.STUDY_OPENED)) == 3


def test_refused_and_failed_reads_are_not_read_events(clinician_client, studies):
    assert clinician_client.get("/dicomweb/studies/1.2.3.4/metadata").status_code == 404
    assert Client().get(f"/dicomweb/studies/{STUDY_A}/metadata").status_code == 401
    assert clinician_client.get("/dicomweb/studies?NoSuchKey=1").status_code == 400
    assert dicomweb_events() == []


def test_basic_auth_clients_are_audited_by_user_name(client, clinician, studies):
    token = base64.b64encode(b"clinician:clinician-pass-123").decode()
    response = client.get(
        f"/dicomweb/studies/{STUDY_A}/metadata", HTTP_AUTHORIZATION=f"Basic {token}"
    )
    assert response.status_code == 200
    (event,) = dicomweb_events()
    assert (event.who, event.kind) == ("clinician", Kind.STUDY_OPENED)
