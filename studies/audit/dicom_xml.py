"""Audit events as DICOM audit messages (PS3.15 A.5, the schema of A.5.1, RFC 3881 heritage).

One ``<AuditMessage>`` per event: EventIdentification (event ID and type from the DCM coding
scheme, PS3.16 CID 400/401), the active participant (user or remote node, with its network
address), the audit source (this viewer), and participant objects (the study by its Study
Instance UID, the patient by patient ID and name).
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree import ElementTree as ET

from django.conf import settings

from studies.models import AuditEvent

Kind = AuditEvent.Kind

# kind → (EventID code, meaning, EventActionCode, EventTypeCode or None), PS3.15 A.5.3.
_EVENTS = {
    Kind.STUDY_OPENED: ("110103", "DICOM Instances Accessed", "R", None),
    Kind.IMAGE_SESSION: ("110103", "DICOM Instances Accessed", "R", None),
    Kind.QUERY: ("110112", "Query", "E", None),
    Kind.RETRIEVE: ("110107", "DICOM Instances Transferred", "C", None),
    Kind.EXPORT: ("110106", "Export", "R", None),
    Kind.LOGIN: ("110114", "User Authentication", "E", ("110122", "Login")),
    Kind.LOGIN_FAILED: ("110114", "User Authentication", "E", ("110122", "Login")),
    Kind.LAUNCH: ("110114", "User Authentication", "E", ("110122", "Login")),
    Kind.LAUNCH_REFUSED: ("110114", "User Authentication", "E", ("110122", "Login")),
    Kind.ASSOCIATION_REJECTED: ("110113", "Security Alert", "E", ("110126", "Node Authentication")),
}


def _code(parent: ET.Element, tag: str, code: str, system: str, text: str) -> None:
    ET.SubElement(parent, tag, {"csd-code": code, "codeSystemName": system, "originalText": text})


def audit_message(event: AuditEvent) -> ET.Element:
    event_id, meaning, action, event_type = _EVENTS.get(
        event.kind, ("110100", "Application Activity", "E", None)
    )
    message = ET.Element("AuditMessage")
    identification = ET.SubElement(
        message,
        "EventIdentification",
        {
            "EventActionCode": action,
            "EventDateTime": event.created_at.isoformat(),
            "EventOutcomeIndicator": str(event.outcome),
        },
    )
    _code(identification, "EventID", event_id, "DCM", meaning)
    if event_type:
        _code(identification, "EventTypeCode", event_type[0], "DCM", event_type[1])
    if event.detail:
        ET.SubElement(identification, "EventOutcomeDescription").text = event.detail
    participant = {"UserID": event.who or "unknown", "UserIsRequestor": "true"}
    if event.source_address:
        # NetworkAccessPointTypeCode 2: an IP address (A.5.1).
        participant |= {
            "NetworkAccessPointID": event.source_address,
            "NetworkAccessPointTypeCode": "2",
        }
    ET.SubElement(message, "ActiveParticipant", participant)
    ET.SubElement(
        message,
        "AuditSourceIdentification",
        {"AuditSourceID": getattr(settings, "DICOM_AE_TITLE", "DICOMVIEWER")},
    )
    if event.study_instance_uid:
        study = ET.SubElement(
            message,
            "ParticipantObjectIdentification",
            {
                "ParticipantObjectID": event.study_instance_uid,
                "ParticipantObjectTypeCode": "2",  # system object
                "ParticipantObjectTypeCodeRole": "3",  # report
            },
        )
        _code(study, "ParticipantObjectIDTypeCode", "110180", "DCM", "Study Instance UID")
    if event.patient_id:
        patient = ET.SubElement(
            message,
            "ParticipantObjectIdentification",
            {
                "ParticipantObjectID": event.patient_id,
                "ParticipantObjectTypeCode": "1",  # person
                "ParticipantObjectTypeCodeRole": "1",  # patient
            },
        )
        _code(patient, "ParticipantObjectIDTypeCode", "2", "RFC-3881", "Patient Number")
        if event.patient_name:
            ET.SubElement(patient, "ParticipantObjectName").text = event.patient_name
    return message


def to_xml(event: AuditEvent) -> bytes:
    return ET.tostring(audit_message(event), encoding="utf-8", xml_declaration=True)


def export(events: Iterable[AuditEvent]) -> bytes:
    """Several messages in one document: ``<AuditMessages>`` around the A.5 messages."""
    root = ET.Element("AuditMessages")
    for event in events:
        root.append(audit_message(event))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
