"""Last stage: 8-bit display pixels → JPEG (interaction) or PNG (lossless).

JPEG goes through libjpeg-turbo (simplejpeg), the fastest encoder reachable from Python; PNG
through Pillow with light compression, since a viewer waits on it and the pixels are already
8-bit.
"""

from __future__ import annotations

import io

import numpy as np
import simplejpeg
from PIL import Image

from .errors import InvalidRequest

FORMATS = {"jpeg": "image/jpeg", "png": "image/png"}
_ALIASES = {"jpg": "jpeg", "image/jpeg": "jpeg", "image/png": "png"}
PNG_COMPRESS_LEVEL = 1


def normalise_format(format: str) -> str:
    name = _ALIASES.get(format.lower(), format.lower())
    if name not in FORMATS:
        raise InvalidRequest(f"format {format!r} is not one of {', '.join(FORMATS)}")
    return name


def media_type(format: str) -> str:
    return FORMATS[normalise_format(format)]


def encode(pixels: np.ndarray, format: str = "jpeg", quality: int = 90) -> bytes:
    """Encode a uint8 (rows, columns) gray or (rows, columns, 3) RGB image."""
    name = normalise_format(format)
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise InvalidRequest("only 8-bit gray or RGB pixels can be encoded")
    if name == "jpeg":
        if not 1 <= int(quality) <= 100:
            raise InvalidRequest(f"JPEG quality {quality} is not between 1 and 100")
        gray = pixels.ndim == 2
        image = pixels[:, :, np.newaxis] if gray else pixels
        return simplejpeg.encode_jpeg(
            np.ascontiguousarray(image),
            quality=int(quality),
            colorspace="GRAY" if gray else "RGB",
            # Full chroma resolution: colour ultrasound and overlays keep sharp edges.
            colorsubsampling="Gray" if gray else "444",
        )
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(
        buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL
    )
    return buffer.getvalue()
