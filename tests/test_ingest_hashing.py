"""Ingest hashes a file while it is being written (studies.ingest._hasher): the digest it
records is the stored file's, and a forked process (a server's worker) hashes too."""

from __future__ import annotations

import hashlib
import multiprocessing

import pytest

from studies import ingest
from studies.ingest import ingest_bytes
from studies.models import Instance
from studies.storage import dicom_store
from tests.dicom_files import make_ct, to_bytes


@pytest.mark.django_db
def test_recorded_digest_is_the_sha256_of_the_stored_file():
    for _ in range(3):
        result = ingest_bytes(to_bytes(make_ct()), Instance.Source.CSTORE)
        instance = Instance.objects.get(pk=result.instance_id)
        with dicom_store().open(instance.file_path) as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == instance.sha256


def _hash_in_child(queue) -> None:
    try:
        queue.put(ingest._hasher().submit(len, b"four").result(timeout=10))
    except Exception as exc:  # a TimeoutError if the inherited pool never runs the work
        queue.put(repr(exc))


def test_a_forked_child_hashes_with_its_own_threads():
    assert ingest._hasher().submit(len, b"abc").result(timeout=10) == 3  # the parent's pool
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_hash_in_child, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=30) == 4
    finally:
        child.join(timeout=30)
