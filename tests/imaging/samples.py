"""The real test images of pydicom and pydicom-data, found on disk (never downloaded)."""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

import pydicom

from tests.dicom_files import sample_path

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


@cache
def test_set_directories() -> tuple[Path, ...]:
    """pydicom's own test_files folder and pydicom-data's data folder."""
    return (sample_path("CT_small.dcm").parent, sample_path("MR2_UNCI.dcm").parent)


@cache
def image_files() -> tuple[Path, ...]:
    """Every file of both test sets that holds pixel data, sorted by name."""
    found = []
    for directory in test_set_directories():
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or path.suffix in {".txt", ".json", ".dump", ".gz", ".icc"}:
                continue
            if _has_pixel_data(path):
                found.append(path)
    return tuple(sorted(found, key=lambda p: (p.name, str(p))))


def _has_pixel_data(path: Path) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True, defer_size=256)
    except Exception:  # not DICOM at all (README, JSON...): not an image
        return False
    return any(keyword in ds for keyword in PIXEL_KEYWORDS)


def label(path: Path) -> str:
    """A short, unique test id: the file name, with its folder for the DICOMDIR tree."""
    for directory in test_set_directories():
        if path.is_relative_to(directory):
            return str(path.relative_to(directory))
    return path.name
