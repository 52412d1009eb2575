"""Stage 4: Presentation LUT Shape and MONOCHROME1. PS3.3 C.11.6, C.7.6.3.1.2."""

from __future__ import annotations

import numpy as np
import pytest

from studies.imaging import Renderer
from tests.dicom_files import make_ct

RAMP = np.arange(0, 4096, 256, dtype="<u2").reshape(1, 16)


def ramp(**attributes: object):
    return make_ct(rows=1, columns=16, PixelData=RAMP.tobytes(), RescaleIntercept=0, **attributes)


def render(**attributes: object) -> np.ndarray:
    return Renderer().render_pixels(ramp(**attributes), window=(2048, 4096))[0]


def test_monochrome2_shows_low_values_dark():
    shown = render()
    assert shown[0] == 0 and shown[-1] > 200
    assert (np.diff(shown.astype(int)) > 0).all()


def test_monochrome1_shows_low_values_bright():
    # C.7.6.3.1.2: MONOCHROME1, the minimum sample value is intended to be displayed white.
    np.testing.assert_array_equal(render(PhotometricInterpretation="MONOCHROME1"), 255 - render())


def test_inverse_presentation_lut_shape_inverts_monochrome2():
    np.testing.assert_array_equal(render(PresentationLUTShape="INVERSE"), 255 - render())


def test_inverse_shape_on_monochrome1_is_the_same_single_inversion():
    # C.8.11.7: DX requires INVERSE with MONOCHROME1 to describe that one inversion.
    np.testing.assert_array_equal(
        render(PhotometricInterpretation="MONOCHROME1", PresentationLUTShape="INVERSE"),
        255 - render(),
    )


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
def test_user_inversion_flips_whatever_the_pipeline_shows(photometric):
    renderer = Renderer()
    ds = ramp(PhotometricInterpretation=photometric)
    normal = renderer.render_pixels(ds, window=(2048, 4096))
    flipped = renderer.render_pixels(ds, window=(2048, 4096), invert=True)
    np.testing.assert_array_equal(flipped, 255 - normal)
    assert renderer.frame_info(ds).inverted == (photometric == "MONOCHROME1")
