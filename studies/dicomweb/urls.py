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

WADO-RS is not routed here yet; ``route(GET=...)`` on the study, series and instance
paths is where its views belong.
"""

from django.urls import path, register_converter

from studies.dicomweb import qido, stow
from studies.dicomweb.http import route


class UIDConverter:
    """A DICOM UID in a path (PS3.5 9.1): digits and dots, at most 64 characters."""

    regex = r"[0-9][0-9.]{0,63}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UIDConverter, "uid")

app_name = "dicomweb"
urlpatterns = [
    path(
        "studies",
        route(GET=qido.search_for_studies, POST=stow.store),
        name="studies",
    ),
    path("studies/<uid:study>", route(POST=stow.store), name="study"),
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
    path("series", route(GET=qido.search_for_series), name="series"),
    path("instances", route(GET=qido.search_for_instances), name="instances"),
]
