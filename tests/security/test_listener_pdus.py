"""Malformed PDUs (PS3.8 9.3) end their own association and nobody else's: an unknown PDU
type, an absurd length, a truncated PDU and one that stops or trickles each get the
connection aborted or closed promptly, while a well-behaved peer keeps being served
(studies.pacs.pdu_guard)."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from studies.models import KnownSender
from studies.pacs.listener import Listener

AET = "DICOMVIEWER"
A_ABORT, A_ASSOCIATE_RJ = 0x07, 0x03
TIMEOUT = 2  # ACSE and network timeout of the listeners below


@pytest.fixture
def listener(transactional_db, settings):
    # Short timeouts so a peer that stops mid-PDU is dropped within the test's patience.
    settings.DICOM_ACSE_TIMEOUT = TIMEOUT
    settings.DICOM_NETWORK_TIMEOUT = TIMEOUT
    KnownSender.objects.create(ae_title="STORESCU", description="well-behaved peer")
    with Listener(host="127.0.0.1", port=0) as running:
        yield running


def ends_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server closes the connection (or sends A-ABORT / A-ASSOCIATE-RJ)."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return False
        except OSError:
            return True  # reset
        if not data or data[0] in (A_ABORT, A_ASSOCIATE_RJ):
            return True
    return False


def good_echo(port: int, tls_args=None) -> bool:
    ae = AE(ae_title="STORESCU")
    ae.acse_timeout = ae.network_timeout = 10
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=AET, tls_args=tls_args)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return status.Status == 0x0000


ASSOCIATE_RQ_START = struct.pack(">BBI", 0x01, 0, 68) + b"\0\x01\0\0" + b"DICOMVIEWER"
MALFORMED = {
    "unknown type": struct.pack(">BBI", 0x99, 0, 4) + b"\0\0\0\0",
    "absurd length": struct.pack(">BBI", 0x01, 0, 0xFFFFFFF0) + b"\0\x01\0\0" + b" " * 32,
    "truncated": ASSOCIATE_RQ_START,  # then the peer closes its side
    "stalled": ASSOCIATE_RQ_START,  # then nothing, connection kept open
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_pdu_does_not_stop_other_peers_being_served(listener, name):
    bad = socket.create_connection(("127.0.0.1", listener.port), timeout=5)
    try:
        bad.sendall(MALFORMED[name])
        if name == "truncated":
            bad.shutdown(socket.SHUT_WR)  # the rest never comes
        # While the broken connection is pending, a good peer is answered.
        assert good_echo(listener.port)
    finally:
        bad.close()
    assert good_echo(listener.port)  # and after it


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_pdu_ends_its_own_connection_promptly(listener, name):
    bad = socket.create_connection(("127.0.0.1", listener.port), timeout=5)
    try:
        bad.sendall(MALFORMED[name])
        if name == "truncated":
            bad.shutdown(socket.SHUT_WR)
        assert ends_within(bad, TIMEOUT + 3), f"{name}: connection still open"
    finally:
        bad.close()


@pytest.mark.parametrize(
    ("name", "reason"),
    [("unknown type", 0x01), ("absurd length", 0x06)],  # unrecognized PDU, invalid parameter
)
def test_bad_pdu_header_is_answered_with_a_provider_abort_at_once(listener, name, reason):
    bad = socket.create_connection(("127.0.0.1", listener.port), timeout=5)
    try:
        bad.sendall(MALFORMED[name])
        bad.settimeout(1)  # no waiting for a timeout: the header alone decides
        answer = bad.recv(64)
    finally:
        bad.close()
    # PS3.8 9.3.8: A-ABORT, length 4, source 2 (DICOM UL service-provider), reason.
    assert answer == struct.pack(">BBL", A_ABORT, 0, 4) + bytes([0, 0, 2, reason])


def test_pdu_trickled_a_byte_at_a_time_is_cut_off_after_the_network_timeout(listener):
    bad = socket.create_connection(("127.0.0.1", listener.port), timeout=5)
    started = time.monotonic()
    try:
        bad.sendall(ASSOCIATE_RQ_START[:6])
        bad.settimeout(0.25)
        # Each byte comes well inside any per-read timeout; the whole PDU never does.
        for byte in ASSOCIATE_RQ_START[6:] + b" " * 60:
            try:
                bad.sendall(bytes([byte]))
                answer = bad.recv(64)
            except TimeoutError:
                continue
            except OSError:
                break  # reset: closed
            assert not answer or answer[0] == A_ABORT
            break
        else:
            pytest.fail("the trickling peer was never cut off")
    finally:
        bad.close()
    assert time.monotonic() - started < TIMEOUT + 3
