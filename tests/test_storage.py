"""The file store: first writer wins, and a file a crash left incomplete is never trusted."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest

from studies.ingest import DUPLICATE, STORED, ingest_bytes
from studies.models import Instance
from studies.storage import FileStore, StorageError, dicom_store, key_digest
from tests.dicom_files import make_ct, to_bytes

DATA = os.urandom(300_000)
KEY = hashlib.sha256(b"an instance").hexdigest()


def test_new_file_is_created_whole_and_leaves_no_temp_file(tmp_path):
    store = FileStore(tmp_path)
    stored = store.put(KEY, DATA)
    assert stored.created and stored.size == len(DATA)
    assert store.exists(KEY)
    with store.open(stored.relative_path) as handle:
        assert handle.read() == DATA
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{KEY}.dcm"]


def test_same_bytes_again_keep_the_first_file(tmp_path):
    store = FileStore(tmp_path)
    first = store.put(KEY, DATA)
    inode = (tmp_path / first.relative_path).stat().st_ino
    again = store.put(KEY, DATA)
    assert not again.created and again.relative_path == first.relative_path
    assert (tmp_path / first.relative_path).stat().st_ino == inode


@pytest.mark.parametrize("left_behind", [b"", DATA[:4096], DATA[:-1] + b"\x00"])
def test_file_a_crash_left_short_or_wrong_under_the_key_is_replaced(tmp_path, left_behind):
    # The store links a file before syncing it: a crash in between can leave a name whose
    # bytes never reached the disk (empty or short), or zeros where data should be.
    store = FileStore(tmp_path)
    path = tmp_path / store.relative_path_for(KEY)
    path.parent.mkdir(parents=True)
    path.write_bytes(left_behind)
    stored = store.put(KEY, DATA)
    assert path.read_bytes() == DATA
    # Not reported as created: the caller must not delete it if indexing fails.
    assert not stored.created


@pytest.mark.django_db
def test_instance_whose_file_a_crash_left_short_is_stored_whole_when_sent_again():
    data = to_bytes(make_ct())
    first = ingest_bytes(data, Instance.Source.CSTORE)
    instance = Instance.objects.get(pk=first.instance_id)
    # As after a crash between link and sync: no row (it never committed), a short file.
    path = dicom_store().absolute_path(instance.file_path)
    Instance.objects.filter(pk=instance.pk).delete()
    path.write_bytes(data[:1000])

    again = ingest_bytes(data, Instance.Source.CSTORE)
    assert again.status == STORED
    resent = Instance.objects.get(pk=again.instance_id)
    with dicom_store().open(resent.file_path) as handle:
        on_disk = handle.read()
    assert len(on_disk) == resent.file_size
    assert hashlib.sha256(on_disk).hexdigest() == resent.sha256
    assert ingest_bytes(data, Instance.Source.CSTORE).status == DUPLICATE
    assert dicom_store().exists(key_digest(resent.sop_instance_uid))


def test_a_failed_sync_leaves_no_file_under_the_key(tmp_path, monkeypatch):
    # A full disk with delayed allocation can surface only at the sync; the name must not
    # stay, or a later put could trust a file whose bytes never reached the disk.
    store = FileStore(tmp_path)

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdatasync", disk_full)
    with pytest.raises(StorageError, match="No space left"):
        store.put(KEY, DATA)
    assert not store.exists(KEY)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    monkeypatch.undo()
    assert store.put(KEY, DATA).created


def test_a_path_the_store_did_not_make_is_resolved_and_may_not_leave_it(tmp_path):
    store = FileStore(tmp_path / "store")
    made = store.relative_path_for("ab" * 32)
    assert store.absolute_path(made) == (tmp_path / "store").resolve() / made
    assert store.absolute_path("x/../y.dcm") == (tmp_path / "store").resolve() / "y.dcm"
    for escaping in ("../outside.dcm", "ab/../../outside.dcm", "/etc/passwd"):
        with pytest.raises(ValueError, match="escapes"):
            store.absolute_path(escaping)
