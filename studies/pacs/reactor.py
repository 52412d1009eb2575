"""An accepted association's reactor waits for requests instead of polling for them.

pynetdicom's acceptor reactor (``Association._run_reactor``, 3.0) loops for the life of the
association: sleep 1 ms, look at the DIMSE message queue without waiting
(``dimse.get_msg(block=False)``), check for a release, an abort, a dead DUL, the network
timeout. A sender that keeps its association open between stores (a modality sending an image
every few seconds, ``make load``'s senders) costs ~50 ms of CPU a second in that loop alone,
more than the instances it sends.

Here that one look waits up to ``WAIT_SECONDS`` for a message: a request is served as soon as
it is decoded, as before, and the checks after it run every 20 ms instead of every 1 ms while
nothing arrives (an A-RELEASE or A-ABORT from the peer is noticed up to 20 ms later). Only the
reactor asks without blocking (every send_* waits with ``block=True``, left as it is), and only
the listener's associations get this: on a requestor's association the reactor is paused
while a request runs, and ``release()`` waits for it to pause.

The association's DUL thread, which reads the socket, polls too: sleep ``_run_loop_delay``
(1 ms) whenever nothing happened, then look. Once no request has come for ``WAIT_SECONDS`` it
polls every ``IDLE_READ_SECONDS`` instead, and at its own pace again from the next request
on: the first PDU after a pause is read up to 10 ms later (5 ms on average), and nothing
changes within a stream of stores (a retrieve, a storescu folder), whose requests follow each
other's responses at once. Together: an idle association cost ~62 ms of CPU a second, now ~10.
That pacing is left alone where the DUL thread waits on its socket instead of polling it
(``studies.pacs.dul_wait``, the listener's associations).
"""

from __future__ import annotations

import queue

from studies.pacs import dul_wait

WAIT_SECONDS = 0.02
IDLE_READ_SECONDS = 0.01


def install(assoc) -> None:
    dimse, dul = assoc.dimse, assoc.dul
    blocking_get = dimse.get_msg
    busy_read = dul._run_loop_delay
    # A DUL that waits for its socket (studies.pacs.dul_wait) has no polling pace to change.
    paced = not isinstance(dul.socket, dul_wait.WakeableSocket)

    def get_msg(block: bool = False):
        if block:
            return blocking_get(block=True)
        try:
            found = dimse.msg_queue.get(timeout=WAIT_SECONDS)
        except queue.Empty:
            if paced:
                dul._run_loop_delay = IDLE_READ_SECONDS
            return None, None
        # Its response, and the peer's next request, are handled at pynetdicom's pace.
        if paced:
            dul._run_loop_delay = busy_read
        return found

    dimse.get_msg = get_msg


def install_on_open(event) -> None:
    """EVT_CONN_OPEN handler: ``install`` on the association just accepted."""
    install(event.assoc)
