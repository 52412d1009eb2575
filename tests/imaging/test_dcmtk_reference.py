"""Our rendering against an independent reference: DCMTK's dcm2pnm (Debian package dcmtk).

Every file of pydicom's and pydicom-data's test sets with pixel data is rendered by both, with
the file's own VOI (+Wi / +Wl, or +Wm min-max when it has none), with explicit LINEAR and
SIGMOID windows (+Ww, +Wfs), and where it applies with the second window, inverted (+P) and
without overlays (-O); the first and the last frame of multi-frame images. The 8-bit outputs
may differ by at most one grey level (DCMTK truncates where we round).

Files DCMTK cannot read are compared against a sibling that holds the same pixels in a form it
can read (JPEG 2000 against the uncompressed originals shipped beside them); files with no
possible reference are listed with the reason, and covered by the unit tests instead. Where
DCMTK departs from the standard, the case says so with the section that shows it.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from studies.imaging import FrameInfo, Renderer
from tests.dicom_files import sample_path
from tests.imaging.samples import image_files, label

# pydicom warns about the odd files these test sets hold on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

JPEG = {
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
}
JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
JPEG_2000 = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}

# Files whose reference is another file with the same pixels, and why.
SIBLINGS: dict[str, tuple[str, str]] = {
    **{
        f"{stem}_J2K{kind}.dcm": (
            f"{stem}_UNC{kind}.dcm",
            "DCMTK has no free JPEG 2000 codec; the _UNC file holds the same pixels uncompressed",
        )
        for stem in ("693", "MR2", "RG1", "RG3", "US1")
        for kind in ("R", "I")
    },
    "examples_jpeg2k.dcm": ("US1_UNCR.dcm", "JPEG 2000 copy of the US1 ultrasound image"),
    "emri_small_jpeg_2k_lossless.dcm": ("emri_small.dcm", "JPEG 2000 lossless copy"),
    "MR_small_jp2klossless.dcm": ("MR_small.dcm", "JPEG 2000 lossless copy"),
    "JPEG2000.dcm": ("JPEG2000_UNC.dcm", "JPEG 2000 copy (pydicom's README)"),
    "SC_rgb_gdcm_KY.dcm": ("SC_rgb_gdcm2k_uncompressed.dcm", "JPEG 2000 copy made by GDCM"),
    "SC_rgb_jpeg.dcm": (
        "SC_rgb_jpeg_dcmd.dcm",
        "DCMTK cannot parse this file's header (non-standard VR bytes in (0008,0008)); the "
        "_dcmd file is its decompressed copy",
    ),
    **{
        name: (
            sibling,
            "DCMTK refuses Pixel Data encoded OB with Bits Allocated 32 (PS3.5 A.1/A.2 allow OB "
            "only up to 8 bits); we read it as pydicom does, and compare with the RLE copy",
        )
        for name, sibling in (
            ("SC_rgb_32bit.dcm", "SC_rgb_rle_32bit.dcm"),
            ("SC_rgb_32bit_2frame.dcm", "SC_rgb_rle_32bit_2frame.dcm"),
            ("SC_rgb_expb_32bit.dcm", "SC_rgb_rle_32bit.dcm"),
            ("SC_rgb_expb_32bit_2frame.dcm", "SC_rgb_rle_32bit_2frame.dcm"),
        )
    },
    **{
        name: (
            sibling,
            "the file stores 32-bit big-endian numbers in OW; DCMTK reads OW as 16-bit words "
            "with the low word first (PS3.5 8.2 and Annex D), which makes noise of it. The "
            "file is the big-endian copy of the little-endian one (pydicom's README); we read "
            "it as pydicom does, so it must equal DCMTK's rendering of the original",
        )
        for name, sibling in (
            ("rtdose_expb.dcm", "rtdose.dcm"),
            ("rtdose_expb_1frame.dcm", "rtdose_1frame.dcm"),
        )
    },
}

# Files with no reference at all: why, and where they are tested instead.
NO_REFERENCE: dict[str, str] = {
    "GDCMJ2K_TextGBR.dcm": "JPEG 2000 (no DCMTK codec) without an uncompressed copy",
    "J2K_pixelrep_mismatch.dcm": "JPEG 2000 (no DCMTK codec) without an uncompressed copy; "
    "its sign correction is checked in test_decode",
    "explicit_VR-UN.dcm": "JPEG 2000 (no DCMTK codec) without an uncompressed copy",
    "gdcm-US-ALOKA-16.dcm": "DCMTK 3.6.7 does not support segmented palettes ('segmented "
    "palettes not yet supported'); test_color compares it with pydicom's expansion",
    "gdcm-US-ALOKA-16_big.dcm": "as gdcm-US-ALOKA-16.dcm (big-endian copy)",
    "JPEG2000-embedded-sequence-delimiter.dcm": "corrupt on purpose (pydicom's README); "
    "test_bad_input expects DecodeError",
    "MR_truncated.dcm": "truncated pixel data; test_bad_input expects DecodeError",
    "meta_missing_tsyntax.dcm": "pixel data without an Image Pixel module; test_bad_input",
    "nested_priv_SQ.dcm": "pixel data without an Image Pixel module; test_bad_input",
}

# Lossy JPEG decoders may differ by one stored value per sample (ITU-T T.83 / ISO/IEC
# 10918-2 only bound the IDCT error); pylibjpeg's libjpeg and DCMTK's IJG do, in about 1% of
# pixels of these 12-bit images. One stored unit is 255/width grey levels after the window.
LOSSY_STORED_TOLERANCE: dict[str, int] = {"JPEG-lossy.dcm": 1, "JPGExtended.dcm": 1}

YBR_DEVIATION = (
    "DCMTK converts native YBR_FULL with a chroma offset of 127.5 (maxvalue/2) and truncated "
    "tables; PS3.3 C.7.6.3.1.2 defines the offset as 128 (2^(n-1)). Up to 2 levels apart."
)
FRAME_COUNT_DEVIATION = {
    "badVR.dcm": "Number of Frames is '1A', not an IS (PS3.5 6.2); DCMTK shows one frame, we "
    "count 15 from the pixel data length, so only frame 1 can be compared",
}


@dataclass
class Variant:
    name: str
    frame: int
    dcmtk_args: list[str]
    options: dict[str, object] = field(default_factory=dict)
    window_width: float | None = None  # in modality units, when a window applies


def _tool(transfer_syntax: str) -> str:
    if transfer_syntax in JPEG:
        return "dcmj2pnm"
    if transfer_syntax in JPEG_LS:
        return "dcml2pnm"
    return "dcm2pnm"


def _dcmtk_environment() -> dict[str, str]:
    environment = dict(os.environ)
    # The public dictionary alone: DCMTK's start-up is mostly parsing dictionaries, and the
    # private one plays no part in rendering.
    for candidate in sorted(Path("/usr/share").glob("libdcmtk*/dicom.dic")):
        environment["DCMDICTPATH"] = str(candidate)
    return environment


ENVIRONMENT = _dcmtk_environment()


def run_dcmtk(tool: str, path: Path, frame: int, args: list[str]) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="dcmtk-") as directory:
        output = Path(directory) / "out.pnm"
        command = [tool, "--write-raw-pnm", "--frame", str(frame + 1), *args, str(path)]
        result = subprocess.run(
            [*command, str(output)], capture_output=True, text=True, env=ENVIRONMENT, timeout=120
        )
        if not output.exists():
            raise AssertionError(f"{' '.join(command)} wrote nothing: {result.stderr.strip()}")
        with Image.open(output) as image:
            return np.asarray(image)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(cache_bytes=256 * 1024**2)


def _file_windows_are_top_level(path: Path) -> bool:
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    return "WindowCenter" in ds or "VOILUTSequence" in ds


def _plan(path: Path, info: FrameInfo, representative: bool) -> list[Variant]:
    last = info.number_of_frames - 1
    frames = [0] if last == 0 or path.name in FRAME_COUNT_DEVIATION else [0, last]
    if info.is_color:
        return [Variant("own", frame, []) for frame in frames]
    own_args: list[str]
    own_width = info.default_window[1] if info.default_window else None
    windows = [voi for voi in info.vois if voi.kind == "window"]
    if not info.vois:
        own_args = ["+Wm"]
    elif info.vois[0].kind == "lut":
        own_args = ["+Wl", "1"]
    elif _file_windows_are_top_level(path):
        own_args = ["+Wi", "1"]
    else:
        # PS3.3 C.7.6.16.2.10: enhanced images carry the window in the Frame VOI LUT
        # functional group, which DCMTK 3.6.7 does not read ("0 window(s) in file"); give it
        # the same window explicitly.
        own_args = ["+Ww", f"{windows[0].center:.10g}", f"{windows[0].width:.10g}"]
    variants = [Variant("own", frame, own_args, window_width=own_width) for frame in frames]
    if len(windows) > 1 and own_args[0] == "+Wi":
        variants.append(
            Variant("second window", 0, ["+Wi", "2"], {"voi_index": 1}, windows[1].width)
        )
    if info.has_overlays:
        variants.append(Variant("no overlays", 0, [*own_args, "-O"], {"overlays": False}))
    if representative and info.default_window is not None:
        center, width = info.default_window
        # Off-centre and narrower than the file's window, so both clipping ends are exercised.
        explicit = (float(f"{center + 0.1 * width:.6g}"), float(f"{0.6 * width:.6g}"))
        text = [f"{explicit[0]:.6g}", f"{explicit[1]:.6g}"]
        variants += [
            Variant("LINEAR", 0, ["+Ww", *text], {"window": explicit}, explicit[1]),
            Variant(
                "SIGMOID",
                0,
                ["+Ww", *text, "+Wfs"],
                {"window": explicit, "function": "SIGMOID"},
                explicit[1],
            ),
            Variant("inverted", 0, [*own_args, "+P"], {"invert": True}, own_width),
        ]
    return variants


def _representatives() -> set[str]:
    """One file per distinct pixel encoding gets the explicit-window variants (speed)."""
    seen: set[tuple[object, ...]] = set()
    chosen: set[str] = set()
    for path in image_files():
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        transfer_syntax = getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "")
        signature = (
            str(transfer_syntax),
            ds.get("BitsAllocated"),
            ds.get("BitsStored"),
            ds.get("PixelRepresentation"),
            ds.get("PhotometricInterpretation"),
            "ModalityLUTSequence" in ds,
            "VOILUTSequence" in ds,
            "RescaleSlope" in ds,
        )
        if signature not in seen:
            seen.add(signature)
            chosen.add(path.name)
    return chosen


REPRESENTATIVES = _representatives()


def _tolerance(path: Path, info: FrameInfo, variant: Variant) -> tuple[int, str]:
    stored = LOSSY_STORED_TOLERANCE.get(path.name)
    if stored and variant.window_width:
        levels = 1 + math.ceil(stored * 255 / variant.window_width)
        return levels, f"lossy decoders may differ by {stored} stored unit(s)"
    if (
        info.photometric in ("YBR_FULL", "YBR_FULL_422")
        and info.transfer_syntax not in JPEG | JPEG_LS | JPEG_2000
    ):
        return 2, YBR_DEVIATION
    return 1, ""


@dataclass
class Planned:
    info: FrameInfo
    reference: Path
    pending: list[tuple[Variant, Future[np.ndarray]]]


def _prepare(path: Path, renderer: Renderer, pool: ThreadPoolExecutor) -> Planned:
    reference = sample_path(SIBLINGS[path.name][0]) if path.name in SIBLINGS else path
    info = renderer.frame_info(path)
    if info.transfer_syntax in JPEG_2000 and reference == path:
        raise AssertionError(
            f"{path.name} is JPEG 2000 with no sibling listed: add one or a reason"
        )
    meta = pydicom.dcmread(reference, stop_before_pixels=True, force=True).file_meta
    tool = _tool(str(meta.get("TransferSyntaxUID", "")))
    pending = [
        (variant, pool.submit(run_dcmtk, tool, reference, variant.frame, variant.dcmtk_args))
        for variant in _plan(path, info, path.name in REPRESENTATIVES)
    ]
    return Planned(info, reference, pending)


@pytest.fixture(scope="module")
def planned(request, renderer: Renderer):
    """Plans every selected file up front and starts its DCMTK runs in a pool.

    DCMTK then works in other processes while this process decodes the next files, so the
    comparison costs about the larger of the two, not their sum.
    """
    if shutil.which("dcm2pnm") is None:
        if os.environ.get("REQUIRE_PEERS", "").lower() in {"1", "true", "yes"}:
            pytest.fail("DCMTK is required (REQUIRE_PEERS) but dcm2pnm is missing")
        pytest.skip("DCMTK (dcm2pnm) is not installed")
    selected = [
        item.callspec.params["path"]
        for item in request.session.items
        if item.module is request.module
        and hasattr(item, "callspec")
        and "path" in item.callspec.params
        and item.callspec.params["path"].name not in NO_REFERENCE
    ]
    plans: dict[Path, Planned | Exception] = {}
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for path in selected:
            try:
                plans[path] = _prepare(path, renderer, pool)
            except Exception as exc:  # reported by the file's own test
                plans[path] = exc
        yield plans
        pool.shutdown(cancel_futures=True)


@pytest.mark.parametrize("path", image_files(), ids=label)
def test_rendering_matches_dcmtk(path: Path, planned: dict, renderer: Renderer):
    if path.name in NO_REFERENCE:
        pytest.skip(NO_REFERENCE[path.name])
    plan = planned[path]
    if isinstance(plan, Exception):
        raise plan
    failures = []
    for variant, future in plan.pending:
        ours = renderer.render_pixels(path, variant.frame, **variant.options)  # type: ignore[arg-type]
        theirs = future.result()
        where = f"{variant.name}, frame {variant.frame + 1}, DCMTK {' '.join(variant.dcmtk_args)}"
        if plan.reference != path:
            where += f" on {plan.reference.name}"
        if ours.shape != theirs.shape:
            failures.append(f"{where}: shape {ours.shape} vs DCMTK {theirs.shape}")
            continue
        difference = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
        tolerance, reason = _tolerance(path, plan.info, variant)
        if int(difference.max()) > tolerance:
            failures.append(
                f"{where}: max difference {int(difference.max())} > {tolerance} in "
                f"{int((difference > tolerance).sum())} of {difference.size} samples"
                + (f" ({reason})" if reason else "")
            )
    assert not failures, "\n".join(failures)


def test_every_image_file_is_compared_or_has_a_reason():
    names = {path.name for path in image_files()}
    assert len(names) > 150  # both test sets were found
    listed = set(SIBLINGS) | set(NO_REFERENCE) | set(LOSSY_STORED_TOLERANCE)
    assert listed <= names, f"listed but not in the test sets: {sorted(listed - names)}"
    for sibling, _ in SIBLINGS.values():
        assert sibling in names
