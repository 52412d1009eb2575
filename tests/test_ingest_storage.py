"""How ingest's file store writes a file (studies.storage.FileStore.put, with os calls rather
than pathlib and mkstemp): the directories it needs are made when missing, a short write is
continued, files are private, and keys are checked as before."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat

import pytest

from studies import storage
from studies.storage import FileStore


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_directories_removed_under_the_store_are_made_again(tmp_path):
    store = FileStore(tmp_path / "store")
    first = store.put(_key("a"), b"first")
    shutil.rmtree(tmp_path / "store")  # e.g. a store emptied while a listener runs
    again = store.put(_key("a"), b"first")
    assert again.created
    assert store.absolute_path(first.relative_path).read_bytes() == b"first"
    assert store.exists(_key("a"))


def test_a_short_write_is_continued_until_the_file_is_whole(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:1000])))
    data = os.urandom(10_000)
    stored = FileStore(tmp_path).put(_key("b"), data)
    assert (tmp_path / stored.relative_path).read_bytes() == data


def test_stored_files_are_private_and_no_incoming_file_stays(tmp_path):
    stored = FileStore(tmp_path).put(_key("c"), b"bytes")
    mode = stat.S_IMODE((tmp_path / stored.relative_path).stat().st_mode)
    assert mode == 0o600  # as tempfile.mkstemp made them
    assert [p.name for p in tmp_path.rglob(".incoming-*")] == []


@pytest.mark.parametrize(
    "key", ["", "ab", _key("d").upper(), _key("d")[:-1] + "g", "../" * 21 + "a"]
)
def test_a_key_that_is_not_a_lowercase_sha256_digest_is_refused(tmp_path, key):
    with pytest.raises(ValueError):
        FileStore(tmp_path).put(key, b"x")
    with pytest.raises(ValueError):
        FileStore(tmp_path).exists(key)


def test_a_failed_link_target_directory_is_a_storage_error(tmp_path):
    blocker = tmp_path / "store"
    blocker.write_text("a file where the store should be")
    with pytest.raises(storage.StorageError):
        FileStore(blocker).put(_key("e"), b"x")
