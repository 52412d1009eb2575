"""Ingest in forked ingest processes (studies.ingest_pool) and the index's write turn
(studies.write_turn): the same promise as ingest in the caller, on more cores."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.db import close_old_connections, connection
from pydicom.uid import generate_uid

from studies import ingest_pool
from studies.ingest import REJECTED, STORED
from studies.models import Instance, QuarantinedFile, Series
from studies.storage import dicom_store, key_digest
from studies.write_turn import write_turn
from tests.dicom_files import make_ct, to_bytes

# The ingest processes write through their own connections: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ingest_processes(settings):
    """Two ingest processes, forked with this test's settings (database, store)."""
    ingest_pool.start(2)
    yield
    ingest_pool.stop()


def test_pooled_ingest_has_stored_and_indexed_the_instance_when_it_returns(
    ingest_processes, settings
):
    # Changed after the fork, so only this process refuses the file: it is stored only if it
    # was ingested in an ingest process, as it must be.
    settings.INGEST_MAX_FILE_BYTES = 1024
    ds = make_ct()
    result = ingest_pool.ingest(to_bytes(ds), Instance.Source.CSTORE, "tests")
    assert result.status == STORED
    instance = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert instance.pk == result.instance_id
    path = dicom_store().absolute_path(instance.file_path)
    assert path.stat().st_size == instance.file_size


def test_refused_instance_is_quarantined_by_the_ingest_process_with_its_reason(
    ingest_processes,
):
    ds = make_ct()
    announced = (str(ds.SOPClassUID), generate_uid())
    result = ingest_pool.ingest(
        to_bytes(ds), Instance.Source.CSTORE, "tests", expected_sop=announced
    )
    assert (result.status, result.reason_code) == (REJECTED, "not_as_announced")
    assert QuarantinedFile.objects.get(pk=result.quarantine_id).reason_code == "not_as_announced"
    assert not Instance.objects.exists()


def test_instances_from_concurrent_senders_are_all_indexed_and_counted(ingest_processes):
    series_uid, study_uid = generate_uid(), generate_uid()
    statuses: list[str] = []

    def send(first: int) -> None:
        try:
            for number in range(first, first + 6):
                ds = make_ct(study_uid=study_uid, series_uid=series_uid, instance_number=number)
                statuses.append(ingest_pool.ingest(to_bytes(ds), Instance.Source.CSTORE).status)
        finally:
            close_old_connections()

    senders = [threading.Thread(target=send, args=(first,)) for first in (1, 7)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=60)
    assert statuses == [STORED] * 12
    assert Series.objects.get(series_instance_uid=series_uid).number_of_instances == 12
    assert Instance.objects.count() == 12


def test_a_killed_ingest_process_leaves_ingest_to_the_receiving_process(ingest_processes):
    children = [process.pid for process in ingest_pool._pool.processes]
    os.kill(children[0], signal.SIGKILL)
    ds = make_ct()
    # The pool is broken now: this instance (and the next) are ingested here instead.
    assert ingest_pool.ingest(to_bytes(ds), Instance.Source.CSTORE).status == STORED
    assert not ingest_pool.running()
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists()
    assert ingest_pool.ingest(to_bytes(make_ct()), Instance.Source.CSTORE).status == STORED


def test_an_ingest_is_indexed_only_in_its_write_turn():
    from studies.ingest import ingest_bytes

    if connection.vendor != "sqlite":
        pytest.skip("only SQLite writers take turns; other engines lock rows (write_turn.py)")
    ds = make_ct()
    results = []
    with write_turn():
        ingest = threading.Thread(
            target=lambda: (
                results.append(ingest_bytes(to_bytes(ds), Instance.Source.CSTORE)),
                close_old_connections(),
            )
        )
        ingest.start()
        # The file is stored before the index is written: once it is there, the ingest is
        # at (or near) its turn, and must not index while the turn is held here.
        deadline = time.monotonic() + 30
        while not dicom_store().exists(key_digest(ds.SOPInstanceUID)):
            assert time.monotonic() < deadline, "the ingest never stored its file"
            time.sleep(0.01)
        ingest.join(timeout=0.3)
        assert ingest.is_alive()
        assert not Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists()
    ingest.join(timeout=30)
    assert results[0].status == STORED
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists()
