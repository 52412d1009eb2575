"""Optionally send each audit message to syslog (RFC 5424 over UDP, as PS3.15 A.5 and
IHE ATNA allow for a local collector), when ``AUDIT_SYSLOG_ADDRESS=host:port`` is set.

The message carries PHI (patient ID and name, as the audit record must), so point it only
at a collector on a trusted network; the application log never carries it.
"""

from __future__ import annotations

import logging
import os
import socket

from studies.audit.dicom_xml import to_xml
from studies.models import AuditEvent

logger = logging.getLogger(__name__)

# RFC 5424: facility 10 (security/authorization, authpriv), severity 5 (notice).
_PRI = 10 * 8 + 5


def address() -> tuple[str, int] | None:
    value = os.environ.get("AUDIT_SYSLOG_ADDRESS", "").strip()
    if not value:
        return None
    host, _, port = value.rpartition(":")
    try:
        return (host or "127.0.0.1", int(port))
    except ValueError:
        logger.error("AUDIT_SYSLOG_ADDRESS is host:port; audit messages are not sent")
        return None


def frame(event: AuditEvent) -> bytes:
    timestamp = event.created_at.isoformat()
    header = f"<{_PRI}>1 {timestamp} {socket.gethostname()} dicomviewer - IHE+RFC-3881 - "
    return header.encode("ascii", "replace") + b"\xef\xbb\xbf" + to_xml(event)


def send(event: AuditEvent) -> None:
    target = address()
    if target is None:
        return
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(frame(event), target)
    except OSError as exc:
        logger.warning("audit syslog send failed: %s", type(exc).__name__)
