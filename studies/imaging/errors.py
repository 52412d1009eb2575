"""Typed failures of the imaging pipeline.

Each carries a stable ``code`` for machines and a sentence for people (``str(error)``), plus
``http_status``: the status a web layer should answer with. Nothing here knows about HTTP
frameworks; the number is only a hint so every caller maps the same failure the same way.
"""

from __future__ import annotations


class ImagingError(Exception):
    """Base class: the image cannot be rendered or measured as asked."""

    code = "imaging_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoPixelData(ImagingError):
    """The instance has no pixel data (an SR, a presentation state, a DICOMDIR...)."""

    code = "no_pixel_data"
    http_status = 406


class InvalidImage(ImagingError):
    """Image attributes are missing, unreadable or contradict each other."""

    code = "invalid_image"
    http_status = 422


class UnsupportedImage(ImagingError):
    """A valid image this library cannot render (no decoder, retired colour model...)."""

    code = "unsupported_image"
    http_status = 415


class DecodeError(ImagingError):
    """The pixel data of a frame cannot be decoded (corrupt or truncated data)."""

    code = "decode_failed"
    http_status = 422


class ImageTooLarge(ImagingError):
    """The decoded size passes the configured cap; refused before any decoding."""

    code = "image_too_large"
    http_status = 413


class InvalidRequest(ImagingError, ValueError):
    """The request does not fit the image: frame out of range, empty region, bad window."""

    code = "invalid_request"
    http_status = 400


class NotMeasurable(InvalidRequest):
    """A measurement asked of data that cannot give it (colour pixels, empty ROI)."""

    code = "not_measurable"
