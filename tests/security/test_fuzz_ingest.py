"""A bounded, deterministic fuzz run of the ingest door (studies.ingest.ingest_bytes).

Real files from pydicom's test set are mutated the ways broken or hostile files differ from
good ones: flipped bits, tag and length fields overwritten with extreme values (PS3.5 7.1:
a 32-bit length, 0xFFFFFFFF meaning undefined), truncation, inserted and duplicated runs.
Every case must come back as an ``IngestResult``: stored, duplicate, or rejected with a
known reason code. Any exception escaping ingest is a crash; a case over the deadline is a
hang. Hypothesis runs derandomised (same cases every run) without its example database.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from studies.ingest import IngestResult, ingest_bytes
from studies.models import Instance
from studies.validation import Limits, Rejected, check_file
from tests.dicom_files import make_ct, sample_path, to_bytes

CASES = int(os.environ.get("FUZZ_CASES", "10000"))
# Files per Hypothesis example: its bookkeeping costs as much as an ingest, so each example
# carries a batch and the run stays within a CI minute.
BATCH = 10


def _generated(syntax: str) -> bytes:
    ds = make_ct(rows=8, columns=8, PatientName="Fuzz^Seed", StudyDescription="fuzz")
    ds.file_meta.TransferSyntaxUID = syntax
    return to_bytes(ds)


# Real files of pydicom's test set (varied structure), and small generated CTs in each
# native transfer syntax: the check decodes every element, so a seed's cost is its element
# count, and these keep 10,000 cases within a CI minute.
REAL_SEEDS = [
    "MR_small_RLE.dcm",  # encapsulated (RLE fragments)
    "SC_rgb_small_odd_jpeg.dcm",  # encapsulated JPEG, odd size
    "image_dfl.dcm",  # deflated transfer syntax
    "nested_priv_SQ.dcm",  # private sequences, undefined lengths
    "no_meta.dcm",  # no file meta group
]
GENERATED = {
    "ct-explicit-le": ExplicitVRLittleEndian,
    "ct-implicit-le": ImplicitVRLittleEndian,
    "ct-explicit-be": ExplicitVRBigEndian,  # retired (PS3.5 A.3), still read
    "ct-deflated": DeflatedExplicitVRLittleEndian,
}
SEEDS = REAL_SEEDS + list(GENERATED)
SEED_BYTES = [sample_path(name).read_bytes() for name in REAL_SEEDS] + [
    _generated(syntax) for syntax in GENERATED.values()
]

# Every reason the door may give (studies.validation, plus what ingest adds itself).
REASONS = {
    "too_large",
    "not_dicom",
    "bad_file_meta",
    "invalid_uid",
    "unsupported_transfer_syntax",
    "inflated_too_large",
    "malformed",
    "missing_attribute",
    "image_too_large",
    "pixel_data_length",
    "conflicting_uids",
    "storage_error",
}
# Values that make parsers misbehave when they land on a tag, VR or length.
EXTREME_WORDS = [
    b"\xff\xff\xff\xff",
    b"\xfe\xff\xff\xff",
    b"\x00\x00\x00\x80",
    b"\xff\xff\xff\x7f",
    b"\x00\x00\x00\x00",
    b"\xfe\xff\x00\xe0",  # (FFFE,E000) item tag
    b"\xfe\xff\xdd\xe0",  # (FFFE,E0DD) sequence delimiter
    b"\xe0\x7f\x10\x00",  # (7FE0,0010) pixel data tag
    b"SQ\x00\x00",
    b"UN\x00\x00",
    b"OB\x00\x00",
]


def _position(data: bytes, where: int, header_bias: bool) -> int:
    # Most structure (file meta, tags, lengths) sits in the first few kilobytes.
    span = min(len(data), 4096) if header_bias else len(data)
    return where % max(span, 1)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**20), st.booleans(), st.integers(0, 7)),
    st.tuples(
        st.just("word"), st.integers(0, 2**20), st.booleans(), st.sampled_from(EXTREME_WORDS)
    ),
    st.tuples(st.just("truncate"), st.integers(0, 2**20), st.booleans(), st.just(b"")),
    st.tuples(
        st.just("insert"), st.integers(0, 2**20), st.booleans(), st.binary(min_size=1, max_size=16)
    ),
    st.tuples(st.just("repeat"), st.integers(0, 2**20), st.booleans(), st.integers(1, 512)),
)


def mutate(data: bytes, steps: list[tuple]) -> bytes:
    buffer = bytearray(data)
    for kind, where, header_bias, value in steps:
        if not buffer:
            break
        at = _position(bytes(buffer), where, header_bias)
        if kind == "flip":
            buffer[at] ^= 1 << value
        elif kind == "word":
            buffer[at : at + len(value)] = value
        elif kind == "truncate":
            del buffer[at:]
        elif kind == "insert":
            buffer[at:at] = value
        elif kind == "repeat":
            buffer[at:at] = buffer[at : at + value]
    return bytes(buffer)


def assert_typed(result: object) -> None:
    assert isinstance(result, IngestResult)
    assert result.status in {"stored", "duplicate", "rejected"}
    if result.status == "rejected":
        assert result.reason_code in REASONS, (result.reason_code, result.reason)
        assert result.reason


@pytest.fixture
def archive_in_memory(settings):
    """Store and quarantine on tmpfs when there is one: each stored or quarantined case is
    fsynced (studies.storage), which on a disk costs more than everything else together."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="fuzz-ingest-") as root:
        settings.DICOM_STORE_DIR = Path(root) / "store"
        settings.QUARANTINE_DIR = Path(root) / "quarantine"
        yield


def run_batches(cases: int, ingest: Callable[[bytes, str], object]) -> dict[str, int]:
    """Feed ``cases`` mutated files to ``ingest``; returns how many got each answer."""
    seen: dict[str, int] = {}
    slowest = 0.0

    @settings(
        max_examples=cases // BATCH,
        derandomize=True,
        database=None,
        deadline=timedelta(seconds=BATCH * 2),  # so slow it must be a hang
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],  # a failure is reported as generated, not shrunk
    )
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(range(len(SEEDS))), st.lists(mutation, min_size=1, max_size=4)
            ),
            min_size=BATCH,
            max_size=BATCH,
        )
    )
    def batch(batch_cases: list[tuple[int, list[tuple]]]) -> None:
        nonlocal slowest
        for seed, steps in batch_cases:
            data = mutate(SEED_BYTES[seed], steps)
            started = time.perf_counter()
            try:
                answer = ingest(data, SEEDS[seed])
            except Exception as exc:
                raise AssertionError(f"crashed on {SEEDS[seed]} mutated by {steps}") from exc
            slowest = max(slowest, time.perf_counter() - started)
            seen[answer] = seen.get(answer, 0) + 1

    batch()
    assert sum(seen.values()) == cases
    assert slowest < 2.0, f"one case took {slowest:.1f} s"
    return seen


def test_ten_thousand_mutated_files_meet_only_typed_rejections_at_the_check():
    """The part of the door that parses hostile bytes (studies.validation.check_file, the
    first thing ingest_bytes does), at full count: pure, so 10,000 cases fit in CI time."""
    limits = Limits(
        max_file_bytes=1024**2,
        max_image_bytes=64 * 1024**2,
        max_frames=100,
        max_inflated_bytes=1024**2,
    )

    def check(data: bytes, name: str) -> str:
        try:
            check_file(data, limits)
        except Rejected as rejection:
            assert rejection.code in REASONS | {"not_an_instance"}, rejection.code
            assert rejection.message
            return "rejected"
        return "accepted"

    seen = run_batches(CASES, check)
    # The mutations must reach both sides of the door, or the run tested little.
    assert seen.get("rejected", 0) > CASES // 10, seen
    assert seen.get("accepted", 0) > CASES // 20, seen


@pytest.mark.django_db
def test_mutated_files_through_the_whole_ingest_get_typed_answers(archive_in_memory):
    """End to end (store, index, quarantine) for a tenth of the count: each case writes."""

    def ingest(data: bytes, name: str) -> str:
        result = ingest_bytes(data, Instance.Source.IMPORT, name=name)
        assert_typed(result)
        return result.status

    seen = run_batches(max(CASES // 10, BATCH), ingest)
    assert seen.get("rejected", 0) > 0 and seen.get("stored", 0) > 0, seen
