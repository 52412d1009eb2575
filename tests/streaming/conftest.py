"""Fixtures for the viewer socket: a clinician, and real instances in the archive.

Instances are added the one way the archive allows, ``studies.ingest.ingest_bytes``, so
file paths, index rows and stored headers are what production has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from studies.demo.phantom import PhantomCT, ct_dataset
from studies.ingest import ingest_bytes
from studies.models import Instance
from studies.rendering import instance_path
from tests.dicom_files import make_ct, to_bytes


@dataclass(frozen=True)
class Stored:
    study: str
    series: str
    instance: str
    path: Path


def store(ds: Dataset) -> Stored:
    result = ingest_bytes(to_bytes(ds), "upload", "tests")
    assert result.status == "stored", result.reason
    instance = Instance.objects.get(pk=result.instance_id)
    return Stored(
        result.study_instance_uid,
        result.series_instance_uid,
        result.sop_instance_uid,
        instance_path(instance),
    )


@pytest.fixture
def phantom_slices(transactional_db) -> list[Stored]:
    """Three 512×512 slices of the demo CT phantom (HU, 0.78125 mm pixels, window presets)."""
    phantom = PhantomCT(slices=3, size=512)
    return [store(ct_dataset(phantom, index)) for index in range(3)]


@pytest.fixture
def large_ct(transactional_db) -> Stored:
    """A 4096×4096 CT: 256 level-0 tiles, slow enough to race a second request against."""
    return store(make_ct(rows=4096, columns=4096, sop_uid=generate_uid()))


@pytest.fixture(autouse=True)
def preview_store_per_test(settings, tmp_path):
    """Each test's previews in its own directory, with nothing remembered from another."""
    from studies.streaming.previews import reset_preview_store

    settings.VIEWER_PREVIEW_DIR = tmp_path / "previews"
    reset_preview_store()
    yield
    reset_preview_store()
