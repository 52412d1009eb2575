"""Real sample files for the demo: one of each kind of image the viewer must handle.

All ship with pydicom (its test files) or the pydicom-data package, so nothing is fetched.
Many of those files are the same image in several transfer syntaxes and share one SOP
Instance UID; only one file per UID is listed, or the archive would keep the first and call
the rest duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom.data import get_testdata_file


@dataclass(frozen=True)
class Sample:
    name: str  # file name in pydicom's test files or pydicom-data
    shows: str  # what it exercises in the viewer


SAMPLES: tuple[Sample, ...] = (
    Sample("CT_small.dcm", "CT, signed 16-bit, explicit VR little endian"),
    Sample("693_J2KR.dcm", "CT 512x512, JPEG 2000 lossless"),
    Sample("MR-SIEMENS-DICOM-WithOverlays.dcm", "MR 484x484 with overlay planes"),
    Sample("MR_small_jpeg_ls_lossless.dcm", "MR, JPEG-LS lossless"),
    Sample("emri_small.dcm", "MR multi-frame (10 frames)"),
    Sample("JPEG-LL.dcm", "NM 16-bit, JPEG lossless (process 14)"),
    Sample("JPGLosslessP14SV1_1s_1f_8b.dcm", "US 8-bit, JPEG lossless SV1"),
    Sample("US1_UNCI.dcm", "US colour, RGB"),
    Sample("US1_J2KR.dcm", "US colour, JPEG 2000 lossless (YBR_RCT)"),
    Sample("examples_ybr_color.dcm", "US multi-frame (30 frames), JPEG baseline YBR_FULL_422"),
    Sample("gdcm-US-ALOKA-16.dcm", "US palette colour, 16-bit, implicit VR"),
    Sample("OBXXXX1A_rle.dcm", "US palette colour, RLE lossless"),
    Sample("OT-PAL-8-face.dcm", "palette colour, 8-bit, no file meta header"),
    Sample("SC_rgb.dcm", "secondary capture, RGB"),
    Sample("SC_ybr_full_uncompressed.dcm", "secondary capture, YBR_FULL uncompressed"),
    Sample("SC_rgb_jpeg_dcmtk.dcm", "secondary capture, JPEG baseline YBR_FULL"),
)


def sample_path(name: str) -> Path:
    """The installed file for a sample name; never downloads."""
    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"{name} is not in pydicom's test files or pydicom-data")
    return Path(path)


def installed_samples() -> tuple[list[tuple[Sample, Path]], list[Sample]]:
    """(found samples with their paths, samples whose files are not installed)."""
    found, missing = [], []
    for sample in SAMPLES:
        try:
            found.append((sample, sample_path(sample.name)))
        except FileNotFoundError:
            missing.append(sample)
    return found, missing
