"""Malformed PDUs (PS3.8 9.3) end their own association and nobody else's: an unknown PDU
type, an absurd length, a truncated PDU and one that stops or trickles each get the
connection aborted or closed promptly, over plain TCP and TLS, while a well-behaved peer
keeps being served (studies.pacs.pdu_guard)."""

from __future__ import annotations

import shutil
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from studies.models import KnownSender
from studies.pacs.listener import Listener
from studies.pacs.tls import server_context

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


# --- the same over TLS -----------------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, a server and a client certificate on P-256 keys (RSA keys take seconds)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    directory = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
            "-subj", "/CN=Test DICOM CA", cwd=directory)  # fmt: skip
    for name in ("server", "client"):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=directory)  # fmt: skip
        (directory / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "1", "-out", f"{name}.crt",
                "-extfile", f"{name}.ext", cwd=directory)  # fmt: skip
    return directory


@pytest.fixture
def tls_listener(listener, pki):
    context = server_context(pki / "server.crt", pki / "server.key", pki / "ca.crt")
    with Listener(host="127.0.0.1", port=0, ssl_context=context) as running:
        yield running


def client_context(pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    return context


def test_idle_tls_connection_does_not_hold_up_other_tls_peers(tls_listener, pki):
    # pynetdicom shakes hands in its accept loop; a peer that never starts the handshake
    # would keep every other TLS peer waiting.
    idle = socket.create_connection(("127.0.0.1", tls_listener.port), timeout=5)
    try:
        started = time.monotonic()
        assert good_echo(tls_listener.port, (client_context(pki), "127.0.0.1"))
        assert time.monotonic() - started < TIMEOUT
        assert ends_within(idle, TIMEOUT + 3), "the silent TLS peer was never dropped"
    finally:
        idle.close()


@pytest.mark.parametrize("name", ["unknown type", "absurd length", "stalled"])
def test_malformed_pdu_over_tls_ends_its_own_connection_promptly(tls_listener, pki, name):
    raw = socket.create_connection(("127.0.0.1", tls_listener.port), timeout=5)
    with client_context(pki).wrap_socket(raw, server_hostname="127.0.0.1") as bad:
        bad.sendall(MALFORMED[name])
        assert ends_within(bad, TIMEOUT + 3), f"{name}: connection still open"
    assert good_echo(tls_listener.port, (client_context(pki), "127.0.0.1"))
