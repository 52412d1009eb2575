"""The listener's associations wait for requests instead of polling for them
(studies.pacs.reactor): a request is served at once, an idle association costs little."""

from __future__ import annotations

import threading
import time

from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import CTImageStorage

from studies.models import Instance
from studies.pacs import reactor, statuses
from tests.dicom_files import make_ct

AET = "DICOMVIEWER"


def accepted_association() -> Association:
    return Association(AE(ae_title=AET), "acceptor")


def test_the_reactor_look_waits_for_a_message_instead_of_returning_at_once():
    assoc = accepted_association()
    reactor.install(assoc)
    started = time.monotonic()
    assert assoc.dimse.get_msg(block=False) == (None, None)
    # pynetdicom's returns at once, so its reactor loops every millisecond.
    assert time.monotonic() - started >= reactor.WAIT_SECONDS * 0.9


def test_a_message_is_handed_over_as_soon_as_it_is_queued(monkeypatch):
    # Wait up to a second, so that only the message can end the wait early (on a busy
    # machine a thread may take tens of milliseconds to run).
    monkeypatch.setattr(reactor, "WAIT_SECONDS", 1.0)
    assoc = accepted_association()
    reactor.install(assoc)
    waited = []

    def look() -> None:
        started = time.monotonic()
        waited.append((assoc.dimse.get_msg(block=False), time.monotonic() - started))

    looking = threading.Thread(target=look)
    looking.start()
    time.sleep(0.005)
    assoc.dimse.msg_queue.put((1, "a message"))
    looking.join(timeout=5)
    ((found, seconds),) = waited
    assert found == (1, "a message")
    assert seconds < 0.5


def test_the_listener_serves_stores_and_releases_with_the_waiting_reactor(listener, known_sender):
    ae = AE(ae_title="STORESCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=AET)
    assert assoc.is_established
    (ours,) = [a for a in listener.server.active_associations if a.is_established]
    assert ours.dimse.get_msg.__qualname__.startswith("install.")
    datasets = [make_ct() for _ in range(3)]
    try:
        for ds in datasets:
            time.sleep(0.1)  # idle in between, as a modality's association is
            assert int(assoc.send_c_store(ds).Status) == statuses.SUCCESS
    finally:
        started = time.monotonic()
        assoc.release()
    assert assoc.is_released and time.monotonic() - started < 1
    uids = {ds.SOPInstanceUID for ds in datasets}
    assert set(Instance.objects.values_list("sop_instance_uid", flat=True)) >= uids


def test_an_idle_association_reads_its_socket_less_often_until_the_next_request():
    assoc = accepted_association()
    busy = assoc.dul._run_loop_delay
    reactor.install(assoc)
    assoc.dimse.get_msg(block=False)  # nothing for WAIT_SECONDS: idle
    assert assoc.dul._run_loop_delay == reactor.IDLE_READ_SECONDS > busy
    assoc.dimse.msg_queue.put((1, "a request"))
    assert assoc.dimse.get_msg(block=False) == (1, "a request")
    assert assoc.dul._run_loop_delay == busy
