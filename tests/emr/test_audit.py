"""The audit trail: each audited action leaves an event (who, when, from where, patient,
study, outcome), searchable in the admin, exportable as DICOM PS3.15 A.5 audit messages, and
sent to syslog when configured."""

from __future__ import annotations

import socket
from xml.etree import ElementTree as ET

import pytest
from django.urls import reverse
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from studies import audit
from studies.audit import dicom_xml
from studies.models import AuditEvent
from tests.emr.conftest import STUDY_A
from tests.emr.links import signed_link
from tests.pacs.conftest import listener  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

Kind = AuditEvent.Kind


def parse(xml: bytes) -> ET.Element:
    return ET.fromstring(xml)  # noqa: S314 (our own output, not a stranger's)


def test_opening_a_study_records_who_where_patient_and_study(clinician_client, studies):
    assert clinician_client.get(reverse("frontend:study-viewer", args=[STUDY_A])).status_code == 200
    event = AuditEvent.objects.get(kind=Kind.STUDY_OPENED)
    assert (event.who, event.source_address, event.outcome) == ("clinician", "127.0.0.1", 0)
    assert (event.patient_id, event.patient_name, event.study_instance_uid) == (
        "12345",
        "Doe^Jane",
        STUDY_A,
    )


def test_login_and_failed_login_are_recorded_without_the_password(client, clinician):
    client.post(reverse("login"), {"username": "clinician", "password": "wrong-password"})
    client.post(reverse("login"), {"username": "clinician", "password": "clinician-pass-123"})
    failed = AuditEvent.objects.get(kind=Kind.LOGIN_FAILED)
    assert (failed.who, failed.outcome) == ("clinician", AuditEvent.Outcome.MINOR_FAILURE)
    assert AuditEvent.objects.filter(kind=Kind.LOGIN, who="clinician").exists()
    assert not AuditEvent.objects.filter(detail__contains="wrong-password").exists()


def test_a_refused_launch_is_recorded_with_its_reason(client, integration, studies):
    client.get(signed_link(studyUID=STUDY_A, expires=1))
    event = AuditEvent.objects.get(kind=Kind.LAUNCH_REFUSED)
    assert (event.who, event.detail, event.outcome) == ("emr:ris", "expired", 8)


def test_a_launch_is_recorded_with_the_emr_user(client, integration, studies):
    client.get(signed_link(studyUID=STUDY_A, user="dr.house"))
    event = AuditEvent.objects.get(kind=Kind.LAUNCH)
    assert (event.who, event.study_instance_uid, event.patient_id) == (
        "emr:ris/dr.house",
        STUDY_A,
        "12345",
    )


def test_a_rejected_association_is_recorded(listener):  # noqa: F811
    ae = AE(ae_title="INTRUDER")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title)
    assert assoc.is_rejected
    event = AuditEvent.objects.get(kind=Kind.ASSOCIATION_REJECTED)
    assert (event.who, event.source_address, event.outcome) == ("INTRUDER", "127.0.0.1", 4)


def test_dicom_audit_message_follows_ps3_15_a5(clinician_client, studies):
    clinician_client.get(reverse("frontend:study-viewer", args=[STUDY_A]))
    message = parse(dicom_xml.to_xml(AuditEvent.objects.get(kind=Kind.STUDY_OPENED)))
    assert message.tag == "AuditMessage"
    identification = message.find("EventIdentification")
    assert identification.get("EventActionCode") == "R"
    assert identification.get("EventOutcomeIndicator") == "0"
    assert identification.find("EventID").get("csd-code") == "110103"
    participant = message.find("ActiveParticipant")
    assert (participant.get("UserID"), participant.get("NetworkAccessPointID")) == (
        "clinician",
        "127.0.0.1",
    )
    objects = {
        o.find("ParticipantObjectIDTypeCode").get("csd-code"): o.get("ParticipantObjectID")
        for o in message.findall("ParticipantObjectIdentification")
    }
    assert objects == {"110180": STUDY_A, "2": "12345"}


def test_admin_searches_by_patient_and_exports_xml(admin_user, client, studies):
    audit.record(Kind.QUERY, who="someone", patient_id="12345", detail="C-FIND")
    audit.record(Kind.QUERY, who="someone", patient_id="999", detail="C-FIND")
    client.force_login(admin_user)
    url = reverse("admin:studies_auditevent_changelist")
    page = client.get(url, {"q": "999"})
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    ids = [
        str(pk) for pk in AuditEvent.objects.filter(kind=Kind.QUERY).values_list("pk", flat=True)
    ]
    response = client.post(url, {"action": "export_dicom_audit", "_selected_action": ids})
    assert response["Content-Type"] == "application/xml"
    root = parse(response.content)
    assert sorted(
        m.find(".//ParticipantObjectIdentification").get("ParticipantObjectID")
        for m in root.findall("AuditMessage")
    ) == ["12345", "999"]


def test_audit_messages_go_to_syslog_when_configured(monkeypatch, db):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(5)
        monkeypatch.setenv("AUDIT_SYSLOG_ADDRESS", f"127.0.0.1:{collector.getsockname()[1]}")
        audit.record(Kind.EXPORT, who="clinician", study_uid=STUDY_A)
        datagram = collector.recv(65536)
    assert datagram.startswith(b"<85>1 ")
    xml = datagram[datagram.index(b"<?xml") :]
    assert parse(xml).find("EventIdentification/EventID").get("csd-code") == "110106"


def test_a_study_export_is_recorded(clinician_client, studies):
    response = clinician_client.get(f"/export/studies/{STUDY_A}.zip")
    assert response.status_code == 200
    event = AuditEvent.objects.get(kind=Kind.EXPORT)
    assert (event.who, event.study_instance_uid, event.patient_id) == (
        "clinician",
        STUDY_A,
        "12345",
    )
