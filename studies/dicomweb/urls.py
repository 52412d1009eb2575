"""DICOMweb endpoints, mounted at ``/dicomweb/`` (PS3.18).

Every route needs a logged-in session or HTTP Basic credentials of an active Django user;
otherwise 401 with ``WWW-Authenticate: Basic realm="DICOMweb"``. A session-authenticated
POST must carry the CSRF token (``X-CSRFToken`` header); a Basic-authenticated one need not.
Answers are ``application/dicom+json``; errors are ``text/plain`` sentences.

STOW-RS (PS3.18 10.5, ``stow.py``)
    POST /dicomweb/studies
    POST /dicomweb/studies/{StudyInstanceUID}   instances of other studies are refused
        Body ``multipart/related; type="application/dicom"; boundary=...``, one Part 10
        file per part, at most STOW_MAX_REQUEST_BYTES in all. Answer: Store Instances
        Response (Annex I) with ReferencedSOPSequence (0008,1199), FailedSOPSequence
        (0008,1198) with FailureReason (0008,1197) — A700 over a size limit, A900 data set
        does not fit its class (missing or invalid UIDs, short pixel data, wrong study),
        C000 cannot be parsed, C122 transfer syntax, 0122 not an instance, 0110 storage
        error — the reason as a sentence in private (0009,1001) and as our code in
        (0009,1002) (creator "DICOMWEB VIEWER"), and the study's RetrieveURL (0008,1190).
        200 all stored (a duplicate counts as stored), 202 some failed, 409 none stored,
        400 malformed multipart, 413 too large, 415 not multipart/related of
        application/dicom. Refused parts are quarantined; the others are stored regardless.

QIDO-RS (PS3.18 10.6, ``qido.py``)
    GET /dicomweb/studies
    GET /dicomweb/studies/{StudyInstanceUID}/series
    GET /dicomweb/studies/{StudyInstanceUID}/series/{SeriesInstanceUID}/instances
    GET /dicomweb/studies/{StudyInstanceUID}/instances
    GET /dicomweb/series
    GET /dicomweb/instances
        Matching keys by keyword or tag (``PatientName=Doe*``, ``00100010=Doe*``):
        study — PatientName, PatientID, PatientBirthDate, PatientSex, StudyDate,
        StudyTime, AccessionNumber, ModalitiesInStudy, ReferringPhysicianName,
        StudyDescription, StudyInstanceUID, StudyID; series — Modality,
        SeriesDescription, SeriesInstanceUID, SeriesNumber, BodyPartExamined;
        instance — SOPClassUID, SOPInstanceUID, InstanceNumber. ``*`` and ``?``
        wildcards, ``D1-D2`` date and time ranges, UID lists (``\\`` or ``,``). Also
        ``limit`` (at most QIDO_MAX_LIMIT; a Warning header says when more exist),
        ``offset``, ``includefield`` (keywords, tags, ``all``; answered from the stored
        header, at study and series level from one instance), ``fuzzymatching=true``
        (person names case-insensitive, matching the start of any name component).
        An unknown key, a key not matchable at that level, or a bad value is 400.
        No match is 200 with ``[]``.

WADO-RS (PS3.18 10.4, ``wado.py``, ``rendered.py``)
    GET /dicomweb/studies/{study}
    GET /dicomweb/studies/{study}/series/{series}
    GET /dicomweb/studies/{study}/series/{series}/instances/{instance}
        ``multipart/related; type="application/dicom"`` of the stored Part 10 files,
        streamed from disk, each in the transfer syntax it was stored in (named in the
        part's Content-Type; we do not transcode, so a request for another syntax is 406).
    GET .../instances/{instance}/frames/{frames}          frames 1-based, e.g. 1,3,5
        ``multipart/related``, one part per frame in the order asked. Accept
        ``application/octet-stream``: little-endian samples (compressed frames decoded);
        with ``transfer-syntax=*``, or ``*/*``, or the compressed media type (image/jpeg,
        image/jls, image/jp2, image/jpx, image/jphc, image/dicom-rle): a compressed frame's
        bitstream as stored. Other compressions are 406. A frame beyond the instance is 404.
    GET /dicomweb/studies/{study}/metadata
    GET .../series/{series}/metadata
    GET .../instances/{instance}/metadata
        ``application/dicom+json``: the stored headers, Pixel Data as a BulkDataURI to the
        frames resource. Other bulk data (over 1 KB) is not included.
    GET /dicomweb/studies/{study}/rendered           and .../thumbnail
    GET .../series/{series}/rendered                 and .../thumbnail
    GET .../instances/{instance}/rendered            and .../thumbnail
    GET .../instances/{instance}/frames/{frame}/rendered   and .../thumbnail
        One image, Accept ``image/jpeg`` (default) or ``image/png``, else 406. Study and
        series: the middle image of the (first) series; instance: its first frame; frame:
        one frame number only. ``window=center,width[,linear|linear-exact|sigmoid]``,
        ``viewport=vw,vh[,sx,sy,sw,sh]`` (fit inside vw×vh keeping the aspect ratio; a
        negative sw or sh flips), ``quality=1..100``; thumbnails take only ``viewport``
        (default 128×128). Other parameters (annotation, iccprofile...) are ignored with a
        Warning header. ETag and ``Cache-Control: private``; If-None-Match gives 304.

    Errors are plain sentences: 400 bad parameter or frame list, 404 unknown UID or frame,
    406 not acceptable or no pixel data, 413 an image whose decoded size passes
    IMAGING_MAX_FRAME_BYTES (refused before decoding), 415 no decoder for the transfer
    syntax, 422 a frame that cannot be decoded or an invalid image header.
"""

from django.urls import path, register_converter

from studies.dicomweb import qido, rendered, stow, wado
from studies.dicomweb.auth import View
from studies.dicomweb.http import route


class UIDConverter:
    """A DICOM UID in a path (PS3.5 9.1): digits and dots, at most 64 characters."""

    regex = r"[0-9][0-9.]{0,63}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UIDConverter, "uid")


def in_one_thread(view: View) -> View:
    """Mark a route whose whole request (middleware included) may run in one worker thread:
    a sync view whose answer is built in memory, not streamed (rendered images, thumbnails,
    metadata). ``viewerproject.http_handler`` reads the attribute and spares these requests
    Django's thread switch per middleware.

    Its GETs are also lean (``lean_request``): served without URL resolving and without the
    CSRF and messages middleware (``http_handler.LEAN_SKIPPED``). That holds because every
    DICOMweb view is behind ``dicomweb_auth``, which exempts it from the CSRF middleware and
    checks CSRF itself for unsafe methods (a GET is not one), and none of them asks for a
    CSRF token or uses messages."""
    view.whole_request_in_thread = True  # type: ignore[attr-defined]
    view.lean_request = True  # type: ignore[attr-defined]
    return view


app_name = "dicomweb"
SERIES = "studies/<uid:study>/series/<uid:series>"
INSTANCE = SERIES + "/instances/<uid:instance>"
urlpatterns = [
    path(
        "studies",
        route(GET=qido.search_for_studies, POST=stow.store),
        name="studies",
    ),
    path("studies/<uid:study>", route(GET=wado.retrieve_study, POST=stow.store), name="study"),
    path(
        "studies/<uid:study>/metadata",
        in_one_thread(route(GET=wado.study_metadata)),
        name="study-metadata",
    ),
    path(
        "studies/<uid:study>/rendered",
        in_one_thread(route(GET=rendered.study_rendered)),
        name="study-rendered",
    ),
    path(
        "studies/<uid:study>/thumbnail",
        in_one_thread(route(GET=rendered.study_thumbnail)),
        name="study-thumbnail",
    ),
    path(
        "studies/<uid:study>/series",
        route(GET=qido.search_for_series),
        name="study-series",
    ),
    path(
        "studies/<uid:study>/series/<uid:series>/instances",
        route(GET=qido.search_for_instances),
        name="series-instances",
    ),
    path(
        "studies/<uid:study>/instances",
        route(GET=qido.search_for_instances),
        name="study-instances",
    ),
    path(SERIES, route(GET=wado.retrieve_series), name="series-resource"),
    path(
        SERIES + "/metadata", in_one_thread(route(GET=wado.series_metadata)), name="series-metadata"
    ),
    path(
        SERIES + "/rendered",
        in_one_thread(route(GET=rendered.series_rendered)),
        name="series-rendered",
    ),
    path(
        SERIES + "/thumbnail",
        in_one_thread(route(GET=rendered.series_thumbnail)),
        name="series-thumbnail",
    ),
    path(INSTANCE, route(GET=wado.retrieve_instance), name="instance"),
    path(
        INSTANCE + "/metadata",
        in_one_thread(route(GET=wado.instance_metadata)),
        name="instance-metadata",
    ),
    path(
        INSTANCE + "/rendered",
        in_one_thread(route(GET=rendered.instance_rendered)),
        name="instance-rendered",
    ),
    path(
        INSTANCE + "/thumbnail",
        in_one_thread(route(GET=rendered.instance_thumbnail)),
        name="instance-thumbnail",
    ),
    path(INSTANCE + "/frames/<str:frames>", route(GET=wado.retrieve_frames), name="frames"),
    path(
        INSTANCE + "/frames/<str:frames>/rendered",
        in_one_thread(route(GET=rendered.frame_rendered)),
        name="frames-rendered",
    ),
    path(
        INSTANCE + "/frames/<str:frames>/thumbnail",
        in_one_thread(route(GET=rendered.frame_thumbnail)),
        name="frames-thumbnail",
    ),
    path("series", route(GET=qido.search_for_series), name="series"),
    path("instances", route(GET=qido.search_for_instances), name="instances"),
]
