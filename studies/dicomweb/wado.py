"""WADO-RS: stored instances, frames and metadata (PS3.18 10.4).

Instances (study, series, instance resources)
    ``multipart/related; type="application/dicom"``, one stored Part 10 file per part,
    streamed from disk. We do not transcode: a file goes out in the transfer syntax it was
    stored in, named in each part's Content-Type. Without a ``transfer-syntax`` parameter,
    or with ``*``, that is what the caller gets (PS3.18 8.7.3.5.2 asks for Explicit VR Little
    Endian by default; we say so in the part header instead). Asking for a specific
    syntax that an instance is not stored in is 406.

Frames
    ``multipart/related`` of one part per requested frame, in the requested order.
    ``application/octet-stream`` gives little-endian samples (native frames as stored,
    compressed ones decoded); ``transfer-syntax=*`` with it, ``*/*``, or the compressed
    media type itself (``image/jpeg``, ``image/jls``, ``image/jp2``, ``image/jpx``,
    ``image/jphc``, ``image/dicom-rle``) gives a compressed frame's bitstream as stored. No
    other transcoding: anything else is 406 with what we can send.

Metadata
    ``application/dicom+json``: each instance's stored header, plus Pixel Data (7FE0,0010)
    as a BulkDataURI to the instance's frames resource listing every frame. Other bulk data
    (overlays, ICC profiles, private blobs over 1 KB) is not in the stored header, and so
    not in the answer.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

from django.http import HttpRequest, HttpResponse
from pydicom.uid import UID, ExplicitVRLittleEndian

from studies.dicomweb import pixeldata, resources
from studies.dicomweb.accept import ANY, MediaRange, describe, media_ranges
from studies.dicomweb.caching import IMMUTABLE, REVALIDATE, etag, if_none_match, not_modified
from studies.dicomweb.frame_list import InvalidFrameList, parse_frame_list
from studies.dicomweb.http import (
    accepts_dicom_json,
    dicom_json_response,
    not_acceptable,
    problem,
    warning,
)
from studies.dicomweb.links import Links
from studies.dicomweb.related import Part, file_chunks, multipart_response, once
from studies.imaging.errors import ImagingError
from studies.models import Instance
from studies.rendering import get_renderer, instance_path

log = logging.getLogger(__name__)

DICOM = "application/dicom"
_RETRIEVE_FIELDS = ("series", "sop_instance_uid", "transfer_syntax_uid", "file_path", "sha256")
_METADATA_FIELDS = (
    "series",
    "sop_instance_uid",
    "transfer_syntax_uid",
    "rows",
    "number_of_frames",
    "dicom_json",
)


# --- instances -----------------------------------------------------------------------------------


def retrieve_study(request: HttpRequest, study: str) -> HttpResponse:
    return _retrieve(request, study)


def retrieve_series(request: HttpRequest, study: str, series: str) -> HttpResponse:
    return _retrieve(request, study, series)


def retrieve_instance(request: HttpRequest, study: str, series: str, instance: str) -> HttpResponse:
    return _retrieve(request, study, series, instance)


def _retrieve(
    request: HttpRequest, study: str, series: str = "", instance: str = ""
) -> HttpResponse:
    ranges = [r for r in media_ranges(request) if r.matches(DICOM)]
    if not ranges:
        return problem(
            406,
            f'Instances are sent as multipart/related; type="{DICOM}"; the request accepts '
            f"{describe(media_ranges(request))}.",
        )
    try:
        found = resources.instances(study, series, instance, fields=_RETRIEVE_FIELDS)
    except resources.NotFound as exc:
        return problem(404, str(exc))
    refused = sorted(
        {
            item.transfer_syntax_uid
            for item in found
            if not any(r.allows_syntax(item.transfer_syntax_uid) for r in ranges)
        }
    )
    if refused:
        names = ", ".join(f"{UID(uid).name} ({uid})" for uid in refused)
        return problem(
            406,
            f"Stored instances are sent in the transfer syntax they were stored in; "
            f"this server does not transcode, and some are stored as {names}. "
            f"Ask with transfer-syntax=* to receive them as stored.",
        )
    tag = etag(found[0].sha256, "instance") if instance else ""
    if tag and tag in if_none_match(request):
        return not_modified(tag, IMMUTABLE)
    links = Links(request)
    parts, missing = [], 0
    for item in found:
        path = instance_path(item)
        if not path.is_file():
            log.error("stored file of instance %s is missing: %s", item.sop_instance_uid, path)
            missing += 1
            continue
        parts.append(
            Part(
                f"{DICOM}; transfer-syntax={item.transfer_syntax_uid}",
                file_chunks(path),
                links.instance(study, item.series.series_instance_uid, item.sop_instance_uid),
            )
        )
    if not parts:
        return problem(404, "The stored files of these instances are missing.")
    response = multipart_response(request, DICOM, parts)
    if instance:
        response["ETag"] = tag
        response["Cache-Control"] = IMMUTABLE
    else:
        response["Cache-Control"] = REVALIDATE
    if missing:
        response["Warning"] = warning(request, f"{missing} stored file(s) could not be read")
    return response


# --- metadata ------------------------------------------------------------------------------------


def study_metadata(request: HttpRequest, study: str) -> HttpResponse:
    return _metadata(request, study)


def series_metadata(request: HttpRequest, study: str, series: str) -> HttpResponse:
    return _metadata(request, study, series)


def instance_metadata(request: HttpRequest, study: str, series: str, instance: str) -> HttpResponse:
    return _metadata(request, study, series, instance)


def _metadata(
    request: HttpRequest, study: str, series: str = "", instance: str = ""
) -> HttpResponse:
    if not accepts_dicom_json(request):
        return not_acceptable()
    try:
        found = resources.instances(study, series, instance, fields=_METADATA_FIELDS)
    except resources.NotFound as exc:
        return problem(404, str(exc))
    links = Links(request)
    payload = [_with_pixel_data_uri(item, links, study) for item in found]
    response = dicom_json_response(payload)
    response["Cache-Control"] = REVALIDATE
    return response


def _with_pixel_data_uri(item: Instance, links: Links, study: str) -> dict[str, Any]:
    """The stored header, plus Pixel Data as a BulkDataURI (PS3.18 F.2.6) to its frames."""
    header = dict(item.dicom_json or {})
    if item.rows is None:
        return header
    # A small image's pixels may be inline in the stored header (under 1 KB); the frames
    # resource is the one way to them, whatever the size.
    url = links.instance(study, item.series.series_instance_uid, item.sop_instance_uid)
    frames = ",".join(str(n) for n in range(1, (item.number_of_frames or 1) + 1))
    bits = (header.get("00280100", {}).get("Value") or [16])[0]
    encapsulated = UID(item.transfer_syntax_uid).is_encapsulated
    # PS3.5 8.2: encapsulated and 8-bit pixel data are OB, wider native data OW.
    vr = "OB" if encapsulated or (isinstance(bits, int) and bits <= 8) else "OW"
    header["7FE00010"] = {"vr": vr, "BulkDataURI": f"{url}/frames/{frames}"}
    return dict(sorted(header.items()))


# --- frames --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Form:
    decoded: bool  # decode to little-endian samples, or send as stored
    media_type: str
    syntax: UID


def retrieve_frames(
    request: HttpRequest, study: str, series: str, instance: str, frames: str
) -> HttpResponse:
    try:
        numbers = parse_frame_list(frames)
        found = resources.one_instance(study, series, instance)
    except InvalidFrameList as exc:
        return problem(400, f"{exc}.")
    except resources.NotFound as exc:
        return problem(404, str(exc))
    beyond = [n for n in numbers if n > found.number_of_frames]
    if beyond:
        return problem(
            404,
            f"Frame {beyond[0]} does not exist: "
            f"the instance has {found.number_of_frames} frame(s).",
        )
    path = instance_path(found)
    limits = get_renderer().limits
    try:
        layout = pixeldata.locate(path)
        pixeldata.check_size(layout, limits)
        form = _choose_form(media_ranges(request), layout)
        if form is None:
            return problem(406, _not_acceptable_frames(request, layout))
        tag = etag(found.sha256, frames, repr(form))
        if tag in if_none_match(request):
            return not_modified(tag, IMMUTABLE)
        if form.decoded:
            decoded = pixeldata.Decoded(path, limits)
            read = decoded.frame
        else:
            read = functools.partial(pixeldata.stored_frame, path, layout)
        # The first frame is read now, so a broken file is a status, not a cut-off body.
        first = read(numbers[0] - 1)
    except ImagingError as exc:
        return problem(exc.http_status, f"The frames cannot be sent: {exc.message}")
    except Exception:
        # A reader or decoder fault nobody foresaw: a sentence for the caller, the
        # traceback for the log, and the server goes on.
        log.exception("frames of instance %s failed", found.sop_instance_uid)
        return problem(500, "The frames cannot be sent: the reader failed unexpectedly.")
    content_type = f"{form.media_type}; transfer-syntax={form.syntax}"
    parts = _frame_parts(content_type, first, numbers[1:], read)
    response = multipart_response(request, form.media_type, parts)
    response["ETag"] = tag
    response["Cache-Control"] = IMMUTABLE
    return response


def _frame_parts(
    content_type: str, first: bytes, rest: list[int], read: Callable[[int], bytes]
) -> Iterable[Part]:
    def later() -> Iterator[Part]:
        for number in rest:
            try:
                data = read(number - 1)
            except ImagingError:
                # The status is already sent; cutting the body short tells the client.
                log.exception("frame %d could not be read mid-answer", number)
                raise
            yield Part(content_type, once(data))

    return chain([Part(content_type, once(first))], later())


def _choose_form(ranges: list[MediaRange], layout: pixeldata.PixelLayout) -> _Form | None:
    """The first acceptable way, in the caller's order of preference, to send the frames."""
    stored_type = layout.stored_media_type
    stored = _Form(False, stored_type, layout.stored_syntax) if stored_type is not None else None
    octet = pixeldata.OCTET_STREAM
    for item in ranges:
        if item.media_type == ANY:
            return stored or _Form(True, octet, ExplicitVRLittleEndian)
        if item.matches(octet):
            if stored is not None and item.allows_syntax(str(stored.syntax)):
                if stored.media_type == octet or item.transfer_syntax is not None:
                    return _Form(False, octet, stored.syntax)
            if item.transfer_syntax in (None, ExplicitVRLittleEndian):
                return _Form(True, octet, ExplicitVRLittleEndian)
            continue
        if stored is not None and item.matches(stored.media_type):
            if item.allows_syntax(str(stored.syntax)):
                return stored
    return None


def _not_acceptable_frames(request: HttpRequest, layout: pixeldata.PixelLayout) -> str:
    offers = [f'multipart/related; type="{pixeldata.OCTET_STREAM}" (decoded samples)']
    if layout.stored_media_type and layout.stored_media_type != pixeldata.OCTET_STREAM:
        offers.append(
            f'multipart/related; type="{layout.stored_media_type}"; '
            f"transfer-syntax={layout.stored_syntax} (as stored)"
        )
    return (
        f"The frames are stored as {layout.transfer_syntax.name} and this server does not "
        f"transcode between compressions. It can send: {', or '.join(offers)}. "
        f"The request accepts {describe(media_ranges(request))}."
    )
