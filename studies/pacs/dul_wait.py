"""An association's DUL thread waits for the peer's bytes or for something to send, instead of
polling for them.

pynetdicom's DUL reactor (``DULServiceProvider.run_reactor``, 3.0) loops for the life of the
association: sleep ``_run_loop_delay`` (1 ms) whenever nothing happened, then look at the
socket without waiting (``AssociationSocket.ready``: ``select`` with a zero timeout) and at the
queue of PDUs to send. While an instance is ingested (several ms per CT slice) the DUL thread
woke every millisecond, each time taking the GIL from the thread doing the ingest: ~0.5 ms of
CPU per received instance (py-spy, the retrieve bench). And the C-STORE response we queue
waited up to 1 ms for the next look before it was sent, as did the next PDU from the peer.

Here the look waits: ``select`` on the socket and on a wake-up pipe, for up to
``WAIT_SECONDS``. Whatever is queued to send (``send_pdu``: our responses, A-RELEASE,
A-ABORT) writes a byte to the pipe; the look then hands it to the state machine itself (the
loop's own next look at its send queue would come only after its 1 ms sleep), so it leaves at
once; the peer's bytes are read as soon as they arrive. The loop sleeps only after a look
that found nothing for ``WAIT_SECONDS``. Everything else the loop checks (the ARTIM timer, a
kill, the network timeout) is checked at least every ``WAIT_SECONDS`` + 1 ms.

Installed on EVT_CONN_OPEN after ``pdu_guard.guard`` (on the same socket object, re-classed),
on the listener's associations and on ours as a requestor (C-GET brings the instances back
on it).
"""

from __future__ import annotations

import contextlib
import os
import select
import ssl
import weakref

from studies.pacs.pdu_guard import GuardedSocket

WAIT_SECONDS = 0.02
_EVT17_TRANSPORT_CLOSED = "Evt17"


class WakeableSocket(GuardedSocket):
    """The guarded socket whose ``ready`` waits for the peer's bytes or a wake-up."""

    _wake_read: int
    _wake_write: int

    def _start_waking(self) -> None:
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        # Closed only when nothing can use them any more: closing them while the DUL thread
        # selects on them would let the number be reused by another connection meanwhile.
        weakref.finalize(self, _close_all, self._wake_read, self._wake_write)

    def wake(self) -> None:
        """Make a ``ready`` that is waiting return now (or the next one, at once)."""
        try:
            os.write(self._wake_write, b"\0")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already
        except OSError:
            pass  # finalized: nobody is waiting

    @property
    def ready(self) -> bool:
        sock = self.socket
        if sock is None or self._is_connected is False:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True  # decrypted bytes buffered, which select cannot see (pynetdicom #528)
        dul = self.assoc.dul
        # Never wait while the loop has work: an event not yet handled (each turn handles one,
        # and a turn woken here can add two) or a PDU queued without a wake-up.
        busy = dul.event_queue.qsize() or dul.to_provider_queue.qsize()
        try:
            readable, _, _ = select.select(
                [sock, self._wake_read], [], [], 0 if busy else WAIT_SECONDS
            )
        except (OSError, ValueError):
            # As pynetdicom's ready: the connection is gone (Evt17).
            self.event_queue.put(_EVT17_TRANSPORT_CLOSED)
            return False
        if self._wake_read in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_read, 4096)
            # As the loop's own look at its send queue does (it comes first in each turn, so
            # a PDU queued now would wait for the turn after the sleep): the event goes on the
            # event queue, which the loop reads next, in this turn.
            dul._process_recv_primitive()
        return sock in readable


def _close_all(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def install(assoc) -> None:
    """Make this association's DUL wait instead of poll (its socket must be guarded)."""
    dul = assoc.dul
    sock = dul.socket
    if type(sock) is GuardedSocket:
        sock.__class__ = WakeableSocket  # adds methods only; the DUL holds this object
    if not isinstance(sock, WakeableSocket):
        return
    sock._start_waking()
    queue_pdu = dul.send_pdu

    def send_pdu(primitive) -> None:
        queue_pdu(primitive)
        sock.wake()

    dul.send_pdu = send_pdu


def install_on_open(event) -> None:
    """EVT_CONN_OPEN handler, bound after ``pdu_guard.guard``."""
    install(event.assoc)
