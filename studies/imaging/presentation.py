"""Stage 4: VOI output → P-values → 8-bit display values. PS3.3 C.11.6, PS3.4 N.2.

The Presentation LUT Shape (2050,0020) says whether VOI output is already in P-values
(IDENTITY) or must be inverted first (INVERSE). MONOCHROME1 means the lowest value is white
(C.7.6.3.1.2), which is one inversion whatever the shape says: IODs that use MONOCHROME1
(DX, C.8.11.7) require INVERSE precisely to describe that inversion, not a second one.
"""

from __future__ import annotations

import numpy as np

from .header import ImageHeader

OUTPUT_MAX = 255


def inverts(header: ImageHeader) -> bool:
    """Whether the standard pipeline of this image inverts grey levels."""
    if header.photometric == "MONOCHROME1":
        return True
    shape = str(header.meta.get("PresentationLUTShape", "") or "").strip().upper()
    return shape == "INVERSE"


def to_display(normalized: np.ndarray, invert: bool) -> np.ndarray:
    """0..1 VOI output → uint8, inverted when asked; rounded to the nearest level."""
    values = 1.0 - normalized if invert else normalized
    values = np.clip(values, 0.0, 1.0)  # a new array: the caller's stays as it was
    # NaN (float pixel data may hold it) shows as black rather than as undefined bytes. One
    # pass over the values; np.nan_to_num took three (NaN, +inf, -inf), and clip has already
    # bounded the infinities.
    np.copyto(values, 0.0, where=np.isnan(values))
    return np.rint(values * OUTPUT_MAX).astype(np.uint8)
