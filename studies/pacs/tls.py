"""DICOM over TLS for the listener (PS3.15 B.1 Basic TLS Secure Transport Connection
Profile; port 2762 is the registered "dicom-tls" port, PS3.8 Annex G).

TLS 1.2 or later only, and mutual: the peer must present a certificate signed by the
configured CA (PS3.15 B.1: both sides authenticate), so the AE allow-list is checked on top
of a peer that proved who it is. Off unless DICOM_TLS_CERT_FILE is set.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def server_context(
    cert_file: Path | str, key_file: Path | str, ca_file: Path | str
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no association
    context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    context.load_verify_locations(cafile=str(ca_file))
    return context


def context_from_settings() -> ssl.SSLContext | None:
    """The listener's TLS context, or None when TLS is not configured."""
    cert = settings.DICOM_TLS_CERT_FILE
    if not cert:
        return None
    key, ca = settings.DICOM_TLS_KEY_FILE, settings.DICOM_TLS_CA_FILE
    if not key or not ca:
        raise ImproperlyConfigured(
            "DICOM TLS needs DICOM_TLS_KEY_FILE and DICOM_TLS_CA_FILE (client certificates "
            "are always verified) besides DICOM_TLS_CERT_FILE"
        )
    return server_context(cert, key, ca)
