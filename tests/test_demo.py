"""The demo content: the generated CT, the curated real samples and ``load_demo``."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from django.core.management import call_command
from pydicom.pixels import apply_rescale
from pydicom.uid import (
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from studies.demo.phantom import (
    ANATOMY,
    PhantomCT,
    ct_dataset,
    generate_ct_series,
    part10_bytes,
    series_uids,
    write_ct_series,
)
from studies.demo.samples import SAMPLES, installed_samples
from studies.ingest import STORED, ingest_bytes, ingest_path
from studies.models import Instance, Series, Study
from studies.storage import dicom_store


@pytest.fixture(scope="module")
def default_headers() -> list[pydicom.Dataset]:
    """The full default series (200 × 512²), pixel data checked for length then dropped."""
    headers = []
    for ds in generate_ct_series():
        assert len(ds.PixelData) == ds.Rows * ds.Columns * 2
        del ds.PixelData
        headers.append(ds)
    return headers


@pytest.fixture(scope="module")
def phantom() -> PhantomCT:
    return PhantomCT()


def hu_patch(ds: pydicom.Dataset, x_mm: float, y_mm: float, half: int = 3) -> np.ndarray:
    """HU around a patient point, located through the header's own geometry."""
    round_trip = pydicom.dcmread(io.BytesIO(part10_bytes(ds)))
    hu = apply_rescale(round_trip.pixel_array, round_trip)
    x0, y0, _ = (float(v) for v in round_trip.ImagePositionPatient)
    row_spacing, column_spacing = (float(v) for v in round_trip.PixelSpacing)
    # PS3.3 C.7.6.2.1.1: with orientation [1,0,0,0,1,0] columns step along x, rows along y.
    row = round((y_mm - y0) / row_spacing)
    column = round((x_mm - x0) / column_spacing)
    return hu[row - half : row + half + 1, column - half : column + half + 1]


def slice_at(t: float, slices: int = 200) -> int:
    return round(t * (slices - 1))


# --- generated CT ------------------------------------------------------------------------------


def test_default_series_has_200_slices_of_512_with_unique_instance_uids(default_headers):
    assert len(default_headers) == 200
    assert {(ds.Rows, ds.Columns) for ds in default_headers} == {(512, 512)}
    assert [ds.InstanceNumber for ds in default_headers] == list(range(1, 201))
    assert len({ds.SOPInstanceUID for ds in default_headers}) == 200
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert len({ds.get(keyword) for ds in default_headers}) == 1, keyword
    first = default_headers[0]
    assert first.SOPClassUID == pydicom.uid.CTImageStorage
    assert first.Modality == "CT"
    assert first.RescaleType == "HU"


def test_slice_positions_descend_evenly_by_the_slice_thickness(default_headers):
    z = np.array([float(ds.ImagePositionPatient[2]) for ds in default_headers])
    steps = np.diff(z)
    thickness = float(default_headers[0].SliceThickness)
    assert np.all(steps < 0)
    assert np.allclose(steps, -thickness, atol=1e-3)
    assert [float(ds.SliceLocation) for ds in default_headers] == pytest.approx(list(z))
    assert {tuple(float(v) for v in ds.ImageOrientationPatient) for ds in default_headers} == {
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    }
    assert {tuple(ds.ImagePositionPatient[:2]) for ds in default_headers} == {
        tuple(default_headers[0].ImagePositionPatient[:2])
    }


def test_header_carries_soft_tissue_lung_and_bone_window_presets(default_headers):
    ds = default_headers[57]
    presets = dict(
        zip(
            ds.WindowCenterWidthExplanation,
            zip(ds.WindowCenter, ds.WindowWidth, strict=True),
            strict=True,
        )
    )
    assert set(presets) == {"SOFT TISSUE", "LUNG", "BONE"}
    assert -800 <= presets["LUNG"][0] <= -400 and presets["LUNG"][1] >= 1000
    assert 20 <= presets["SOFT TISSUE"][0] <= 80
    assert presets["BONE"][0] >= 300


def test_lung_is_air_density_and_air_outside_the_body(phantom):
    ds = ct_dataset(phantom, slice_at(0.22))
    for side in (-1, 1):
        x, y = ANATOMY.lung_centre(side, 0.22)
        # Lateral to the centre, away from the hilar vessels.
        lung = hu_patch(ds, x + side * 20, y - 20)
        assert -950 <= np.median(lung) <= -700, side
    corner = hu_patch(ds, -190, -190)
    assert np.median(corner) <= -950


def test_vertebral_body_has_cortical_rim_and_cancellous_core(phantom):
    index = next(
        i
        for i in range(slice_at(0.2), slice_at(0.4))
        if not ANATOMY.disc_level(phantom.geometry.z(i))
    )
    t = phantom.geometry.t(index)
    ds = ct_dataset(phantom, index)
    x, y = ANATOMY.vertebra_centre(t)
    radius = ANATOMY.vertebra_radius(t)
    assert 150 <= np.median(hu_patch(ds, x, y)) <= 400
    anterior_rim = hu_patch(ds, x, y - radius + 0.8, half=1)
    assert np.max(anterior_rim) >= 700


def test_liver_and_aorta_have_soft_tissue_and_contrast_values(phantom):
    t = 0.6
    ds = ct_dataset(phantom, slice_at(t))
    lx, ly = ANATOMY.liver_centre(t)
    assert 40 <= np.median(hu_patch(ds, lx + 20, ly - 25)) <= 100
    ax, ay, _ = ANATOMY.aorta(t)[-1]
    assert 150 <= np.median(hu_patch(ds, ax, ay, half=2)) <= 350


def test_kidneys_are_drawn_on_both_sides_low_in_the_abdomen(phantom):
    t = 0.78
    ds = ct_dataset(phantom, slice_at(t))
    for side in (-1, 1):
        kx, ky = ANATOMY.kidney_centre(side, t)
        kax, _ = ANATOMY.kidney_axes(t)
        cortex = hu_patch(ds, kx + side * (kax - 3), ky, half=1)
        assert 100 <= np.median(cortex) <= 220, side


def test_same_seed_gives_same_pixels_and_uids_and_another_seed_does_not():
    first = [part10_bytes(ds) for ds in generate_ct_series(slices=6, size=64, seed=7)]
    again = [part10_bytes(ds) for ds in generate_ct_series(slices=6, size=64, seed=7)]
    assert first == again
    other = next(generate_ct_series(slices=6, size=64, seed=8))
    assert other.StudyInstanceUID != series_uids(6, 64, 7).study
    assert other.StudyInstanceUID == series_uids(6, 64, 8).study


def test_generator_refuses_absurd_sizes():
    with pytest.raises(ValueError):
        PhantomCT(slices=0)
    with pytest.raises(ValueError):
        PhantomCT(size=100_000)


def test_written_series_is_ingested_as_valid_part10_files(db, tmp_path):
    paths = write_ct_series(tmp_path / "ct", slices=5, size=64)
    assert [p.name for p in paths] == [f"CT000{i}.dcm" for i in range(1, 6)]
    results = [ingest_path(p, Instance.Source.DEMO) for p in paths]
    assert [r.status for r in results] == [STORED] * 5, [r.reason for r in results]
    assert (
        Series.objects.get(series_instance_uid=results[0].series_instance_uid).number_of_instances
        == 5
    )


# --- curated samples ---------------------------------------------------------------------------


def test_every_curated_sample_is_installed_and_ingested_as_a_distinct_instance(db):
    found, missing = installed_samples()
    assert missing == []
    results = [ingest_path(path, Instance.Source.DEMO) for _, path in found]
    problems = [(r.name, r.status, r.reason) for r in results if r.status != STORED]
    assert problems == []
    assert Instance.objects.count() == len(SAMPLES)


def test_stored_samples_decode_including_the_one_without_a_file_header(db):
    found, _ = installed_samples()
    for _, path in found:
        assert ingest_path(path, Instance.Source.DEMO).ok
    for instance in Instance.objects.all():
        ds = pydicom.dcmread(dicom_store().absolute_path(instance.file_path))
        pixels = ds.pixel_array
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        expected = (ds.Rows, ds.Columns) if frames == 1 else (frames, ds.Rows, ds.Columns)
        assert pixels.shape[: len(expected)] == expected, instance.file_path


def test_samples_cover_the_modalities_colour_models_and_compressions_the_viewer_handles():
    found, _ = installed_samples()
    headers = [pydicom.dcmread(path, stop_before_pixels=True, force=True) for _, path in found]
    modalities = {ds.get("Modality") for ds in headers}
    assert {"CT", "MR", "US"} <= modalities
    photometric = {ds.PhotometricInterpretation for ds in headers}
    assert {"MONOCHROME2", "RGB", "PALETTE COLOR"} <= photometric
    assert any(p.startswith("YBR") for p in photometric)
    syntaxes = {ds.file_meta.get("TransferSyntaxUID") for ds in headers}
    assert {JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless, RLELossless} <= (
        syntaxes
    )
    multi_frame = {ds.Modality for ds in headers if int(ds.get("NumberOfFrames", 1) or 1) > 1}
    assert {"MR", "US"} <= multi_frame


# --- load_demo ---------------------------------------------------------------------------------


def run_load_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("load_demo", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_load_demo_stores_ct_and_samples_once_and_skips_when_run_again(db):
    output = run_load_demo("--slices", "8", "--size", "64")
    assert f"{8 + len(SAMPLES)} stored" in output
    uids = series_uids(8, 64)
    study = Study.objects.get(study_instance_uid=uids.study)
    assert study.number_of_instances == 8
    assert set(Instance.objects.values_list("source", flat=True)) == {Instance.Source.DEMO}
    total = Instance.objects.count()
    assert total == 8 + len(SAMPLES)

    again = run_load_demo("--slices", "8", "--size", "64")
    assert "already loaded" in again
    assert Instance.objects.count() == total


def test_load_demo_force_ingests_again_without_duplicating(db):
    run_load_demo("--slices", "4", "--size", "64", "--no-samples")
    output = run_load_demo("--slices", "4", "--size", "64", "--no-samples", "--force")
    assert "0 stored, 4 already present, 0 rejected" in output
    assert Instance.objects.count() == 4


def test_load_demo_resumes_an_interrupted_load(db):
    phantom = PhantomCT(slices=4, size=64)
    ingest_bytes(part10_bytes(ct_dataset(phantom, 0)), Instance.Source.DEMO)
    output = run_load_demo("--slices", "4", "--size", "64", "--no-samples")
    assert "3 stored, 1 already present" in output
    assert Series.objects.get(series_instance_uid=phantom.uids.series).number_of_instances == 4
