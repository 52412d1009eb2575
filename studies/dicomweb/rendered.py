"""WADO-RS rendered and thumbnail resources (PS3.18 10.4.1.1.3 and 10.4.1.1.4).

Thin views: parse the query (``render_query``), find the instance (``image_facts``, which
remembers what rendering needs of it), render through the process-wide renderer
(``studies.rendering``), answer. These sync views run with their whole request in one worker
thread (``urls.in_one_thread``, ``viewerproject.http_handler``), so rendering never holds
the event loop.

- Instance level renders its first frame; frame level one frame (a list of several is 400:
  one image cannot hold them). Study and series level render a representative image, the
  middle image of the (first) series, as a single image, which is what dicomweb-client's
  ``retrieve_series_rendered`` reads.
- ``Accept``: ``image/jpeg`` (the default, also for ``*/*`` and ``image/*``) or
  ``image/png``; anything else is 406.
- Failures of the image are the imaging library's typed errors, answered with their status
  and sentence: 400 bad request (frame, region, window), 406 no pixel data, 413 over the
  decoded-size cap (refused before decoding), 415 no decoder, 422 undecodable or invalid.
- Caching: the ETag covers the instance's content hash, the frame and every parameter, so
  a repeated request is a 304 without rendering. Instance and frame images keep an hour
  (``private``: only the caller's browser); study and series ones are revalidated each time
  because a new series can change the representative.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.http import HttpRequest, HttpResponse

from studies.dicomweb import render_query, resources
from studies.dicomweb.accept import describe, media_ranges
from studies.dicomweb.caching import IMMUTABLE, REVALIDATE, etag, if_none_match
from studies.dicomweb.frame_list import InvalidFrameList, parse_frame_list
from studies.dicomweb.http import problem, warning
from studies.dicomweb.image_facts import ImageFacts, image_facts
from studies.imaging.encode import encode
from studies.imaging.errors import ImagingError
from studies.rendering import get_renderer

log = logging.getLogger(__name__)

JPEG, PNG = "image/jpeg", "image/png"
_FORMATS = {JPEG: "jpeg", PNG: "png"}


@dataclass(frozen=True)
class _Target:
    instance: ImageFacts
    frame: int  # 0-based
    cache_control: str


# --- views -------------------------------------------------------------------------------------


def study_rendered(request: HttpRequest, study: str) -> HttpResponse:
    return _answer(request, lambda: _representative(study), thumbnail=False)


def series_rendered(request: HttpRequest, study: str, series: str) -> HttpResponse:
    return _answer(request, lambda: _representative(study, series), thumbnail=False)


def instance_rendered(request: HttpRequest, study: str, series: str, instance: str) -> HttpResponse:
    return _answer(request, lambda: _instance(study, series, instance), thumbnail=False)


def frame_rendered(
    request: HttpRequest, study: str, series: str, instance: str, frames: str
) -> HttpResponse:
    return _answer(request, lambda: _frame(study, series, instance, frames), thumbnail=False)


def study_thumbnail(request: HttpRequest, study: str) -> HttpResponse:
    return _answer(request, lambda: _representative(study), thumbnail=True)


def series_thumbnail(request: HttpRequest, study: str, series: str) -> HttpResponse:
    return _answer(request, lambda: _representative(study, series), thumbnail=True)


def instance_thumbnail(
    request: HttpRequest, study: str, series: str, instance: str
) -> HttpResponse:
    return _answer(request, lambda: _instance(study, series, instance), thumbnail=True)


def frame_thumbnail(
    request: HttpRequest, study: str, series: str, instance: str, frames: str
) -> HttpResponse:
    return _answer(request, lambda: _frame(study, series, instance, frames), thumbnail=True)


# --- targets -----------------------------------------------------------------------------------


def _representative(study: str, series: str = "") -> _Target:
    # Not remembered: a new series can change which image stands for the study.
    found = resources.representative(study, series)
    facts = ImageFacts.of(found, study, found.series.series_instance_uid)
    return _Target(facts, 0, REVALIDATE)


def _instance(study: str, series: str, instance: str) -> _Target:
    return _Target(image_facts(study, series, instance), 0, IMMUTABLE)


def _frame(study: str, series: str, instance: str, frames: str) -> _Target:
    numbers = parse_frame_list(frames)
    if len(numbers) != 1:
        raise InvalidFrameList("a rendered image shows one frame: ask for one frame number")
    found = image_facts(study, series, instance)
    if numbers[0] > found.number_of_frames:
        raise resources.NotFound(
            f"Frame {numbers[0]} does not exist: the instance has "
            f"{found.number_of_frames} frame(s)."
        )
    return _Target(found, numbers[0] - 1, IMMUTABLE)


# --- the answer --------------------------------------------------------------------------------


def _answer(request: HttpRequest, find: Callable[[], _Target], *, thumbnail: bool) -> HttpResponse:
    media_type = _negotiate(request)
    if media_type is None:
        return problem(
            406,
            f"Rendered images are {JPEG} or {PNG}; the request accepts "
            f"{describe(media_ranges(request))}.",
        )
    try:
        query = render_query.parse(request.GET, thumbnail=thumbnail)
        target = find()
    except (render_query.InvalidRenderQuery, InvalidFrameList) as exc:
        return problem(400, f"{exc}.")
    except resources.NotFound as exc:
        return problem(404, str(exc))
    except resources.NothingToRender as exc:
        return problem(406, f"{exc}.")

    tag = _etag(target, query, media_type, thumbnail)
    if tag in if_none_match(request):
        response = HttpResponse(status=304)
    else:
        try:
            body = _render(target, query, media_type)
        except ImagingError as exc:
            return problem(exc.http_status, f"The image cannot be shown: {exc.message}")
        except Exception:
            # A decoder fault the imaging library did not foresee: one request fails with a
            # sentence, the server goes on, and the log keeps the traceback.
            log.exception("rendering instance %s failed", target.instance.sop_instance_uid)
            return problem(500, "The image cannot be shown: the renderer failed unexpectedly.")
        response = HttpResponse(body, content_type=media_type)
    response["ETag"] = tag
    response["Cache-Control"] = target.cache_control
    response["Vary"] = "Accept"
    if query.ignored:
        names = ", ".join(query.ignored)
        response["Warning"] = warning(request, f"ignored unsupported parameters: {names}")
    return response


def _negotiate(request: HttpRequest) -> str | None:
    for item in media_ranges(request):
        if item.multipart:
            continue
        for media_type in (JPEG, PNG):
            if item.matches(media_type):
                return media_type
    return None


def _render(target: _Target, query: render_query.RenderQuery, media_type: str) -> bytes:
    instance = target.instance
    viewport = query.viewport
    region = output_size = None
    if viewport is not None:
        output_size = (viewport.width, viewport.height)
        if viewport.has_region:
            # The index knows the size; a file without it gets a region the renderer clips.
            columns = instance.columns or 1 << 30
            rows = instance.rows or 1 << 30
            region = viewport.region(columns, rows)
    flip_horizontal = viewport is not None and viewport.flip_horizontal
    flip_vertical = viewport is not None and viewport.flip_vertical
    options = {
        "window": query.window,
        "function": query.function,
        "region": region,
        "output_size": output_size,
    }
    if not (flip_horizontal or flip_vertical):
        # The renderer encodes: a large JPEG's halves on two cores at once.
        format = _FORMATS[media_type]
        return get_renderer().render(
            instance.path, target.frame, format=format, quality=query.quality, **options
        )
    pixels = get_renderer().render_pixels(instance.path, target.frame, **options)
    if flip_horizontal:
        pixels = pixels[:, ::-1]
    if flip_vertical:
        pixels = pixels[::-1]
    return encode(np.ascontiguousarray(pixels), _FORMATS[media_type], query.quality)


def _etag(
    target: _Target, query: render_query.RenderQuery, media_type: str, thumbnail: bool
) -> str:
    kind = "thumbnail" if thumbnail else "rendered"
    return etag(target.instance.sha256, str(target.frame), query.canonical(), media_type, kind)
