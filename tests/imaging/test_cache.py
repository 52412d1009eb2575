"""The byte-bounded, thread-safe LRU cache of decoded frames and pyramid levels."""

from __future__ import annotations

import threading
import time

import numpy as np

from studies.imaging import ByteLRU, Renderer
from tests.dicom_files import sample_path


def block(size: int) -> np.ndarray:
    return np.zeros(size, dtype=np.uint8)


def test_the_least_recently_used_entries_go_first_when_bytes_run_out():
    cache = ByteLRU(1000)
    cache.put("a", block(400))
    cache.put("b", block(400))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("c", block(400))
    assert "b" not in cache and "a" in cache and "c" in cache
    stats = cache.stats()
    assert (stats.bytes, stats.entries, stats.evictions) == (800, 2, 1)


def test_an_entry_larger_than_the_cache_is_not_kept():
    cache = ByteLRU(1000)
    cache.put("small", block(10))
    cache.put("huge", block(5000))
    assert "huge" not in cache and "small" in cache


def test_replacing_an_entry_counts_its_bytes_once():
    cache = ByteLRU(1000)
    cache.put("a", block(600))
    cache.put("a", block(300))
    assert cache.nbytes == 300


def test_concurrent_requests_for_one_key_create_it_once():
    cache = ByteLRU(10_000)
    calls = []

    def slow_decode() -> np.ndarray:
        calls.append(1)
        time.sleep(0.05)
        return block(100)

    results: list[np.ndarray] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_create("k", slow_decode)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len(results) == 8 and all(result is results[0] for result in results)


def test_a_failed_creation_is_not_cached_and_can_be_retried():
    cache = ByteLRU(1000)

    def broken() -> np.ndarray:
        raise ValueError("decoder failed")

    for _ in range(2):
        try:
            cache.get_or_create("k", broken)
        except ValueError:
            pass
    assert "k" not in cache
    assert cache.get_or_create("k", lambda: block(1)).size == 1


def test_the_renderer_keeps_its_cache_within_the_configured_bytes():
    limit = 3 * 1024**2
    renderer = Renderer(cache_bytes=limit)
    for name in ("693_UNCR.dcm", "MR2_UNCR.dcm", "CT_small.dcm", "US1_UNCR.dcm"):
        renderer.render(sample_path(name), output_size=(256, 256))
        assert renderer.cache.nbytes <= limit
    assert renderer.cache.stats().evictions > 0


def test_two_paths_to_one_file_share_its_decoded_frame(tmp_path):
    original = tmp_path / "ct.dcm"
    original.write_bytes(sample_path("CT_small.dcm").read_bytes())
    (tmp_path / "link").symlink_to(tmp_path)
    renderer = Renderer()
    renderer.render(original)
    decoded = len(renderer.cache)
    renderer.render(tmp_path / "link" / "." / "ct.dcm")
    assert len(renderer.cache) == decoded  # nothing decoded again


def test_a_file_replaced_under_the_same_name_is_read_again(tmp_path):
    path = tmp_path / "image.dcm"
    path.write_bytes(sample_path("CT_small.dcm").read_bytes())
    renderer = Renderer()
    first = renderer.frame_info(path)
    replacement = tmp_path / "new.dcm"
    replacement.write_bytes(sample_path("MR_small.dcm").read_bytes())
    replacement.replace(path)  # a new file (inode) under the old name
    second = renderer.frame_info(path)
    assert (first.modality, second.modality) == ("CT", "MR")
