"""Django's side of the imaging library: one Renderer per process, configured from settings,
and the way from an Instance row to the file the renderer reads.

``studies.imaging`` stays free of Django; everything that knows about settings, models and
the file store lives here, shared by WADO-RS and the streaming consumer.
"""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings

from studies import imaging
from studies.imaging.render import Renderer
from studies.imaging.source import Limits
from studies.models import Instance
from studies.storage import dicom_store

_lock = threading.Lock()
_renderer: Renderer | None = None


def get_renderer() -> Renderer:
    """The process-wide renderer (its cache is shared by every request and socket)."""
    global _renderer
    if _renderer is None:
        with _lock:
            if _renderer is None:
                # The library's shared renderer, so module-level imaging calls use it too.
                _renderer = imaging.configure(
                    cache_bytes=settings.IMAGING_CACHE_BYTES,
                    limits=Limits(
                        max_frame_bytes=settings.IMAGING_MAX_FRAME_BYTES,
                        max_inflated_bytes=settings.INGEST_MAX_INFLATED_BYTES,
                        max_output_pixels=settings.IMAGING_MAX_OUTPUT_PIXELS,
                    ),
                    tile_size=settings.IMAGING_TILE_SIZE,
                    workers=settings.IMAGING_WORKERS,
                    decode_processes=settings.IMAGING_DECODE_PROCESSES,
                )
    return _renderer


def reset_renderer() -> None:
    """Forget the renderer (tests that change the imaging settings)."""
    global _renderer
    with _lock:
        _renderer = None


def instance_path(instance: Instance) -> Path:
    """The stored file of an instance; the renderer caches by path, mtime and size.

    ``local``, not ``absolute_path``: callers take paths early and keep them (a study outline
    takes every instance's; a viewer socket and the image facts remember them), and the S3
    store's local copy is fetched only when read, and again after its cache evicted it.
    """
    return dicom_store().local(instance.file_path)
