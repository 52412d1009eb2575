"""The viewer page's own first picture: the whole-frame preview of the image the viewer will
show first, carried inside the HTML (a ``data:`` URL) so it is on screen as soon as the page
is parsed.

Without it the first pixels waited for the page's modules, the websocket handshake and the
socket's first message, each a round trip (several on a slow line) after the HTML. The page
shows this picture until the viewer's canvas has drawn its own (viewer/boot.js ``dispose``).

Which image: the first instance (frame 0) of the series the address names, else of the first
series with instances, in the study outline's own order (``studies.streaming.study_outline``,
the ``study`` message the viewer lays its stacks out from), read now. A hint kept from an
earlier opening would show an outdated first slice of a study still receiving images.

Where its preview comes from: the preview store (memory, else disk: another process of the
host may have rendered it), else it is rendered now, in the streaming render pool (off the
event loop, as the socket renders it, and bounded: ``PAGE_RENDERS``). The page waits for it
at most ``PAGE_WAIT_SECONDS`` from the start; a 512² CT slice or a 3036² radiograph is
ready within that, a 4096×5120 image or a JPEG 2000 frame may not be (and is not waited for
when its size says so: ``expected_seconds``). Then the page goes without it, and the render
carries on into the store, where the socket's first picture finds it
(``studies.streaming.progressive.whole_preview``), together with the first instances
remembered here (``first_instances``: the socket sends that picture before reading the
outline).

The caller has checked that the user may open the study: nothing is read or rendered before.

Only square pixels: the ``<img>`` is fitted by the preview's own shape, while the viewer
draws non-square pixels at their true shape (viewport.js ``aspectOf``, PS3.3 10.7.1.3), so
an ultrasound or a scanned film with unequal Pixel Spacing would first appear stretched.
"""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from pydicom.uid import UID

from studies.imaging.encode import encode
from studies.imaging.errors import ImagingError
from studies.models import Instance
from studies.rendering import get_renderer
from studies.streaming.lookup import Target
from studies.streaming.plan import preview
from studies.streaming.previews import Bitmap, first_instances, preview_store
from studies.streaming.progressive import JPEG_QUALITY
from studies.streaming.scheduler import render_pool
from studies.streaming.study_outline import load_study

log = logging.getLogger(__name__)

# The preview store holds JPEGs of at most 256 px a side (PROTOCOL.md): tens of KB at most.
# A bigger picture would delay the page more than the socket would.
MAX_INLINE_BYTES = 96 * 1024
# How long the page may wait for a preview being rendered, from the moment the render was
# asked for. Nothing of the image decoded yet, on a loaded 2-core machine (load 5-10), the
# preview of a 512² CT slice took 35-55 ms and of a 3036² 16-bit radiograph 150-330 ms
# (most of it building the pyramid levels the preview is read from), a 4096×5120 one
# 450-1000 ms.
PAGE_WAIT_SECONDS = 0.3
# What a preview is expected to cost per million pixels of the frame, to skip waiting for
# one that cannot be ready in time (the render is started all the same, for the socket):
# stored as is (measured as above, ~20 ms; then as this process's page renders of such
# images took, ``pace``: a loaded machine renders several times slower) or compressed (a
# JPEG 2000 decode takes several times longer, in the decode processes).
NATIVE_SECONDS_PER_MEGAPIXEL = 0.02
COMPRESSED_FACTOR = 5.0
# Renders started by pages and not finished yet, per process: beyond, a page goes without
# (each holds a thread of the render pool the sockets share).
PAGE_RENDERS = 2


@dataclass(frozen=True)
class FirstPreview:
    instance: str  # SOP Instance UID shown
    src: str  # data: URL of the JPEG
    width: int  # the image's columns and rows (the preview is scaled to them on screen)
    height: int


class PendingPreview:
    """A first picture that is ready, or being rendered until ``deadline`` (monotonic)."""

    def __init__(
        self, target: Target, deadline: float, bitmap: Bitmap | None, job: Future | None
    ) -> None:
        self.target = target
        self.deadline = deadline
        self._bitmap = bitmap
        self._job = job

    def result(self) -> FirstPreview | None:
        """The picture, waiting for its render at most until the deadline; None if it is not
        ready by then or cannot be carried."""
        bitmap = self._bitmap
        if bitmap is None and self._job is not None:
            try:
                bitmap = self._job.result(timeout=max(0.0, self.deadline - time.monotonic()))
            except FutureTimeout:
                return None  # the render goes on into the store, for the socket
            except ImagingError as error:  # the viewer's own view of it reports it
                log.info("no first picture for %s: %s", self.target.sop_instance_uid, error)
                return None
            except Exception:  # a picture never breaks the page
                log.warning(
                    "first picture of %s failed", self.target.sop_instance_uid, exc_info=True
                )
                return None
        return _inline(self.target, bitmap)


def start_first_preview(user: Any, study_uid: str, series_uid: str = "") -> PendingPreview | None:
    """The first picture of the study (of ``series_uid`` when it has images) for a user whose
    access to it the caller has just checked: ready, or its render started. None when there
    is no such image or its pixels are not square."""
    loaded = load_study(user, study_uid, access_checked=True)
    if loaded is None:
        return None
    outline, targets = loaded
    firsts = _first_instances(outline, targets)
    if not firsts:
        return None
    # The socket's next open_study of the study sends this picture before reading its outline.
    first_instances.remember(study_uid, {uid: target for uid, (target, _) in firsts.items()})
    target, entry = firsts.get(series_uid) or next(iter(firsts.values()))
    if not target.rows or not target.columns or not target.frames:
        return None
    if not _square(entry.get("pixel_spacing")):
        return None
    started = time.monotonic()
    # From memory, else from disk (this page runs in a thread of its own, not on the loop).
    bitmap = preview_store().get(target.path, 0)
    if bitmap is not None:
        return PendingPreview(target, started, bitmap, None)
    syntax = _transfer_syntax(target.sop_instance_uid)
    job = _renders.start(target, measured=bool(syntax) and not UID(syntax).is_compressed)
    if job is None:
        return None
    expected = expected_seconds(target, syntax)
    wait = PAGE_WAIT_SECONDS if expected <= PAGE_WAIT_SECONDS else 0.0
    return PendingPreview(target, started + wait, None, job)


def expected_seconds(target: Target, transfer_syntax: str) -> float:
    """About how long frame 0's preview takes to render with nothing of it decoded yet."""
    megapixels = target.rows * target.columns / 1e6
    compressed = not transfer_syntax or UID(transfer_syntax).is_compressed
    return megapixels * pace.seconds_per_megapixel() * (COMPRESSED_FACTOR if compressed else 1.0)


class Pace:
    """Seconds per megapixel that this process's page renders of images stored as is took,
    queueing included (a moving average; ``NATIVE_SECONDS_PER_MEGAPIXEL`` before any)."""

    # Below, fixed costs dominate (a 512² slice took 35-55 ms: 0.15 s per megapixel, seven
    # times a radiograph's rate): only big images say what a big image costs.
    MIN_MEGAPIXELS = 2.0
    WEIGHT = 0.3  # of the newest observation

    def __init__(self) -> None:
        self._value: float | None = None
        self._lock = threading.Lock()

    def seconds_per_megapixel(self) -> float:
        with self._lock:
            return NATIVE_SECONDS_PER_MEGAPIXEL if self._value is None else self._value

    def observe(self, seconds: float, megapixels: float) -> None:
        if megapixels < self.MIN_MEGAPIXELS:
            return
        rate = seconds / megapixels
        with self._lock:
            old = self._value
            self._value = rate if old is None else old + self.WEIGHT * (rate - old)

    def reset(self) -> None:
        with self._lock:
            self._value = None


pace = Pace()


def render_first_preview(target: Target) -> Bitmap:
    """Frame 0's whole-frame preview with the file's own rendering, as the socket stores it
    (progressive.whole_preview: the size of plan.preview, JPEG at the tiles' quality): from the
    store, else rendered and stored. Blocking: runs in a render thread."""
    store = preview_store()
    bitmap = store.get(target.path, 0)
    if bitmap is not None:
        return bitmap
    size, _ = preview(target.rows, target.columns)
    pixels = get_renderer().render_pixels(
        target.path,
        0,
        region=(0.0, 0.0, float(target.columns), float(target.rows)),
        output_size=size,
    )
    bitmap = Bitmap(encode(pixels, "jpeg", JPEG_QUALITY), pixels.shape[1], pixels.shape[0])
    store.put(target.path, 0, bitmap)
    return bitmap


class _Renders:
    """Page renders in flight: one per image (a second page of it waits for the same one),
    at most ``PAGE_RENDERS`` at a time."""

    def __init__(self) -> None:
        self._jobs: dict[str, Future] = {}
        self._lock = threading.Lock()

    def start(self, target: Target, measured: bool = False) -> Future | None:
        """``measured``: the image is stored as is, its render time goes into ``pace``."""
        key = str(target.path)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                return job
            if len(self._jobs) >= PAGE_RENDERS:
                return None
            asked = time.monotonic()
            job = render_pool(settings.IMAGING_WORKERS).submit(render_first_preview, target)
            self._jobs[key] = job

        def done(finished: Future) -> None:
            self._forget(key, finished)
            if measured and not finished.cancelled() and finished.exception() is None:
                pace.observe(time.monotonic() - asked, target.rows * target.columns / 1e6)

        job.add_done_callback(done)
        return job

    def in_flight(self) -> int:
        with self._lock:
            return len(self._jobs)

    def _forget(self, key: str, job: Future) -> None:
        with self._lock:
            if self._jobs.get(key) is job:
                del self._jobs[key]


_renders = _Renders()


def _transfer_syntax(sop_instance_uid: str) -> str:
    found = (
        Instance.objects.filter(sop_instance_uid=sop_instance_uid)
        .values_list("transfer_syntax_uid", flat=True)
        .first()
    )
    return found or ""


def _first_instances(
    outline: dict[str, Any], targets: list[Target]
) -> dict[str, tuple[Target, dict[str, Any]]]:
    """Per series with instances, in the outline's order, its first instance (as
    study_outline.load_study_text gives the socket) and its entry in the outline."""
    by_uid = {target.sop_instance_uid: target for target in targets}
    firsts = {}
    for series in outline["series"]:
        if series["instances"]:
            entry = series["instances"][0]
            target = by_uid.get(entry["uid"])
            if target is not None:
                firsts[series["uid"]] = (target, entry)
    return firsts


def _inline(target: Target, bitmap: Bitmap | None) -> FirstPreview | None:
    if bitmap is None or not bitmap.data or len(bitmap.data) > MAX_INLINE_BYTES:
        return None
    if not bitmap.data.startswith(b"\xff\xd8"):
        return None  # previews are JPEG (ISO/IEC 10918-1 SOI marker); anything else is not ours
    encoded = base64.b64encode(bitmap.data).decode("ascii")
    return FirstPreview(
        instance=target.sop_instance_uid,
        src=f"data:image/jpeg;base64,{encoded}",
        width=target.columns,
        height=target.rows,
    )


def _square(spacing: Any) -> bool:
    """Whether the viewer draws pixels of this Pixel Spacing (the outline's ``pixel_spacing``:
    row, column spacing, PS3.3 10.7.1.3) square: the same rule as viewport.js ``aspectOf``
    (no usable spacing, or rows and columns within 0.1 % of each other)."""
    if not isinstance(spacing, list) or len(spacing) != 2:
        return True
    row, column = spacing
    if not all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in spacing):
        return True
    aspect = row / column
    return not (abs(aspect - 1) > 1e-3 and 0.1 < aspect < 10)
