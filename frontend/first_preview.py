"""The viewer page's own first picture: the whole-frame preview of the study's first image,
carried inside the HTML (a ``data:`` URL) so it is on screen as soon as the page is parsed.

Without it the first pixels waited for the page's modules, the websocket handshake and the
socket's first message, each a round trip (several on a slow line) after the HTML. The page
shows this picture until the viewer's canvas has drawn its own (viewer/boot.js ``dispose``).

Only what the socket already keeps is used: the first instance of each series as the last
outline built in this process found it (``studies.streaming.previews.first_instances``) and
its preview from the preview store (memory, else disk). Nothing is rendered for the page: a
study not yet opened in this process gets no picture here and its first pixels come over the
socket as before. The caller has checked that the user may open the study; the instance
comes from that study's own outline.

Only square pixels: the ``<img>`` is fitted by the preview's own shape, while the viewer
draws non-square pixels at their true shape (viewport.js ``aspectOf``, PS3.3 10.7.1.3), so
an ultrasound or a scanned film with unequal Pixel Spacing would first appear stretched.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

from studies.models import Instance
from studies.streaming.previews import first_instances, preview_store

PIXEL_SPACING = "00280030"  # Pixel Spacing: row spacing, column spacing (PS3.3 10.7.1.3)

# The preview store holds JPEGs of at most 256 px a side (PROTOCOL.md): tens of KB at most.
# A bigger picture would delay the page more than the socket would.
MAX_INLINE_BYTES = 96 * 1024


@dataclass(frozen=True)
class FirstPreview:
    instance: str  # SOP Instance UID shown
    src: str  # data: URL of the JPEG
    width: int  # the image's columns and rows (the preview is scaled to them on screen)
    height: int


def first_preview(study_uid: str, series_uid: str = "") -> FirstPreview | None:
    """The preview of the first image of ``series_uid`` (else of the study's first series),
    if this process has it; None otherwise."""
    firsts = first_instances.get(study_uid)
    if not firsts:
        return None
    target = firsts.get(series_uid) if series_uid else None
    target = target or next(iter(firsts.values()))
    if not target.rows or not target.columns or not target.frames:
        return None
    bitmap = preview_store().get(target.path, 0)
    if bitmap is None or not bitmap.data or len(bitmap.data) > MAX_INLINE_BYTES:
        return None
    if not bitmap.data.startswith(b"\xff\xd8"):
        return None  # previews are JPEG (ISO/IEC 10918-1 SOI marker); anything else is not ours
    if not _square_pixels(target.sop_instance_uid):
        return None
    encoded = base64.b64encode(bitmap.data).decode("ascii")
    return FirstPreview(
        instance=target.sop_instance_uid,
        src=f"data:image/jpeg;base64,{encoded}",
        width=target.columns,
        height=target.rows,
    )


def _square_pixels(sop_instance_uid: str) -> bool:
    """Whether the viewer draws this image's pixels square: the same rule as viewport.js
    ``aspectOf`` (no usable Pixel Spacing, or rows and columns within 0.1 % of each other)."""
    header = (
        Instance.objects.filter(sop_instance_uid=sop_instance_uid)
        .values_list("dicom_json", flat=True)
        .first()
    )
    element = header.get(PIXEL_SPACING) if isinstance(header, dict) else None
    values = element.get("Value") if isinstance(element, dict) else None
    if not isinstance(values, list) or len(values) != 2:
        return True
    try:
        row, column = (float(value) for value in values)
    except (TypeError, ValueError):
        return True
    if not (math.isfinite(row) and math.isfinite(column) and row > 0 and column > 0):
        return True
    aspect = row / column
    return not (abs(aspect - 1) > 1e-3 and 0.1 < aspect < 10)
