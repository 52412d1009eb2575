"""An association's DUL thread waits for the peer's bytes or for something to send
(studies.pacs.dul_wait), and the guarded socket reads a PDU that arrives in pieces whole
(studies.pacs.pdu_guard)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.transport import AddressInformation, AssociationSocket

from studies.pacs import dul_wait, pdu_guard


@pytest.fixture
def wired(settings):
    """An accepted association whose DUL socket is one end of a socket pair (the other end
    plays the peer), guarded and waking as the listener's are."""
    settings.DICOM_NETWORK_TIMEOUT = 2
    ours, peer = socket.socketpair()
    assoc = Association(AE(ae_title="DICOMVIEWER"), "acceptor")
    assoc.acceptor.maximum_length = 1024**2
    assoc.network_timeout = 2
    assoc.requestor.address_info = AddressInformation("127.0.0.1", 11112)
    sock = AssociationSocket(assoc, client_socket=ours)
    assoc.dul.socket = sock
    sock.__class__ = pdu_guard.GuardedSocket
    sock._start_guard(settings.DICOM_MAX_DATASET_BYTES)
    dul_wait.install(assoc)
    # The connection's own event (Evt5, transport connection indication), which the DUL loop
    # would have handled first.
    assert assoc.dul.event_queue.get_nowait() == "Evt5"
    yield assoc, sock, peer
    sock.close()
    peer.close()


def _in_thread(function) -> tuple[threading.Thread, list]:
    found: list = []

    def run() -> None:
        started = time.monotonic()
        found.append((function(), time.monotonic() - started))

    thread = threading.Thread(target=run)
    thread.start()
    return thread, found


def test_the_listener_socket_is_the_waking_one(wired):
    _assoc, sock, _peer = wired
    assert isinstance(sock, dul_wait.WakeableSocket)


def test_a_look_waits_for_the_peer_instead_of_returning_at_once(wired):
    _assoc, sock, _peer = wired
    started = time.monotonic()
    assert sock.ready is False
    # pynetdicom's look returns at once, so its DUL loops every millisecond.
    assert time.monotonic() - started >= dul_wait.WAIT_SECONDS * 0.9


def test_the_peers_bytes_end_the_wait_at_once(wired, monkeypatch):
    _assoc, sock, peer = wired
    # Wait up to a second, so that only the bytes can end the wait early (on a busy machine a
    # thread may take tens of milliseconds to run).
    monkeypatch.setattr(dul_wait, "WAIT_SECONDS", 1.0)
    thread, found = _in_thread(lambda: sock.ready)
    time.sleep(0.005)
    peer.sendall(b"\x07\x00\x00\x00\x00\x04\x00\x00\x00\x00")
    thread.join(timeout=5)
    ((ready, seconds),) = found
    assert ready is True
    assert seconds < 0.5


def test_a_pdu_queued_to_send_ends_the_wait_at_once(wired, monkeypatch):
    assoc, sock, _peer = wired
    # Wait up to a second, so that only the wake-up can end the wait early.
    monkeypatch.setattr(dul_wait, "WAIT_SECONDS", 1.0)
    thread, found = _in_thread(lambda: sock.ready)
    time.sleep(0.02)
    primitive = P_DATA()
    assoc.dul.send_pdu(primitive)
    thread.join(timeout=5)
    ((ready, seconds),) = found
    assert ready is False  # nothing to read
    assert seconds < 0.5
    # The send is on the state machine's queue already (P-DATA request, Evt9): the DUL loop
    # sends it in this turn, without its sleep.
    assert assoc.dul.event_queue.get_nowait() == "Evt9"
    assert assoc.dul.to_provider_queue.get_nowait() is primitive
    # The wake-up was used up: the next look waits again.
    monkeypatch.setattr(dul_wait, "WAIT_SECONDS", 0.05)
    started = time.monotonic()
    assert sock.ready is False
    assert time.monotonic() - started >= 0.045


def test_a_pdu_arriving_in_pieces_is_read_whole(wired):
    _assoc, sock, peer = wired
    body = bytes(range(256)) * 1024  # 256 KiB
    header = pdu_guard._HEADER.pack(pdu_guard.P_DATA_TF, 0, len(body))

    def send_in_pieces() -> None:
        peer.sendall(header)
        for start in range(0, len(body), 64 * 1024):
            time.sleep(0.01)
            peer.sendall(body[start : start + 64 * 1024])

    sender = threading.Thread(target=send_in_pieces)
    sender.start()
    assert bytes(sock.recv(6)) == header
    # The meter sees a P-DATA-TF whose PDV headers are nonsense here; only the bytes matter.
    assert bytes(sock.recv(len(body))) == body
    sender.join(timeout=5)


def test_a_pdu_that_stops_arriving_is_refused_at_the_network_timeout(wired):
    _assoc, sock, peer = wired
    sock._timeout = 0.3
    peer.sendall(pdu_guard._HEADER.pack(pdu_guard.P_DATA_TF, 0, 1000) + b"\x00" * 10)
    assert len(sock.recv(6)) == 6
    started = time.monotonic()
    with pytest.raises(pdu_guard.PduRefused):
        sock.recv(1000)
    assert 0.2 < time.monotonic() - started < 2


def test_a_look_does_not_wait_while_the_loop_has_an_event_to_handle(wired):
    assoc, sock, _peer = wired
    assoc.dul.event_queue.put("Evt10")  # e.g. a PDU read in the turn a send woke
    started = time.monotonic()
    assert sock.ready is False
    assert time.monotonic() - started < dul_wait.WAIT_SECONDS / 2
