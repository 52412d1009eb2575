"""Stage 2: stored values → modality values. PS3.3 C.11.1."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from studies.imaging import InvalidImage, Limits, Renderer
from studies.imaging.header import read_header
from studies.imaging.modality_lut import ModalityLut, modality_lut
from tests.dicom_files import make_ct, sample_path

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def lut_of(ds: Dataset, frame: int = 0) -> ModalityLut:
    return modality_lut(read_header(ds, Limits()), frame)


def test_rescale_is_slope_times_stored_plus_intercept():
    lut = lut_of(make_ct(RescaleSlope=2, RescaleIntercept=-1024))
    np.testing.assert_allclose(lut.apply(np.array([0, 10, 4095])), [-1024, -1004, 7166])
    assert lut.unit == "HU"  # CT without Rescale Type: Hounsfield units


def test_rescale_type_names_the_unit_and_fractional_rescale_stays_fractional():
    lut = lut_of(
        make_ct(Modality="PT", RescaleSlope=0.5, RescaleIntercept=0.25, RescaleType="BQML")
    )
    np.testing.assert_allclose(lut.apply(np.array([3])), [1.75])
    assert lut.unit == "BQML"
    assert not lut.is_integral


def test_modality_lut_sequence_maps_through_the_table_and_clamps_outside_it():
    ds = pydicom.dcmread(sample_path("mlut_18.dcm"))
    data = np.asarray(ds.ModalityLUTSequence[0].LUTData)
    lut = lut_of(ds)
    # LUT Descriptor [4096, -2048, 16]: stored -2048 is entry 0, stored 0 is entry 2048.
    assert (lut.table.first_mapped, len(lut.table), lut.table.bits) == (-2048, 4096, 16)
    stored = np.array([-2048, 0, 2047, -5000, 5000])
    expected = [data[0], data[2048], data[4095], data[0], data[4095]]
    np.testing.assert_array_equal(lut.apply(stored), expected)
    assert lut.unit == "US"  # Modality LUT Type: unspecified


def test_modality_lut_sequence_agrees_with_pydicom_on_the_whole_frame():
    ds = pydicom.dcmread(sample_path("mlut_18.dcm"))
    ours = lut_of(ds).apply(ds.pixel_array)
    np.testing.assert_array_equal(ours, apply_modality_lut(ds.pixel_array, ds))


def test_first_mapped_value_written_as_unsigned_is_read_signed_for_signed_pixels():
    ds = make_ct(PixelRepresentation=1, BitsStored=16, HighBit=15)
    del ds.RescaleSlope, ds.RescaleIntercept
    item = Dataset()
    item.LUTDescriptor = [4, 65534, 16]  # 65534 means -2 when the stored values are signed
    item.LUTData = [10, 20, 30, 40]
    item.ModalityLUTType = "HU"
    ds.ModalityLUTSequence = [item]
    np.testing.assert_array_equal(
        lut_of(ds).apply(np.array([-3, -2, 0, 1, 9])), [10, 10, 30, 40, 40]
    )


def test_enhanced_images_take_the_rescale_of_their_functional_groups():
    ds = pydicom.dcmread(sample_path("eCT_Supplemental.dcm"))
    assert "RescaleIntercept" not in ds  # only in Pixel Value Transformation (C.7.6.16.2.9)
    for frame in (0, 1):
        lut = lut_of(ds, frame)
        assert (lut.slope, lut.intercept, lut.unit) == (1.0, -1024.0, "US")


def test_pixel_value_reports_hounsfield_units_of_a_ct():
    value = Renderer().pixel_value(sample_path("CT_small.dcm"), 0, 64.5, 64.2)
    stored = pydicom.dcmread(sample_path("CT_small.dcm")).pixel_array[64, 64]
    assert (value.column, value.row, value.stored) == (64, 64, stored)
    assert value.value == stored - 1024  # Rescale Intercept -1024, slope 1
    assert value.unit == "HU"


def test_a_zero_slope_is_refused():
    with pytest.raises(InvalidImage, match="Rescale Slope is 0"):
        lut_of(make_ct(RescaleSlope=0))
