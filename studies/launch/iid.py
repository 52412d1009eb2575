"""The parameters of an IHE Invoke Image Display request (IHE RAD TF-2 4.106, RAD-106).

``requestType=STUDY``: ``studyUID`` and/or ``accessionNumber``, each a comma-separated list.
``requestType=PATIENT``: ``patientID`` in HL7 v2 CX form (``12345^^^HOSP``: ID, then the
assigning authority in the fourth component), optionally ``patientName``,
``patientBirthDate``, ``lowerDateTime``/``upperDateTime``, ``mostRecentResults``,
``modalitiesInStudy``. Both: ``viewerType`` (only ``IHE_BIR``), ``diagnosticQuality``,
``keyImagesOnly``. Ours, all signed: ``emr``, ``expires``, ``nonce``, ``user``, ``signature``.

Every value comes from a URL, so each is checked against its DICOM value representation
before it reaches a query or a C-FIND; a bad one is a ``InvalidLaunch`` naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from studies.validation import is_valid_uid

_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_CS = re.compile(r"[A-Z0-9_ ]{1,16}")
# LO/SH text (PS3.5 6.2): no backslash, no control characters.
_FORBIDDEN = re.compile(r"[\\\x00-\x1f\x7f]")
_BOOLEANS = {"true": True, "false": False}
SINGLE_VALUED = (
    "emr",
    "expires",
    "nonce",
    "signature",
    "user",
    "requestType",
    "patientID",
    "patientName",
    "patientBirthDate",
    "lowerDateTime",
    "upperDateTime",
    "mostRecentResults",
    "viewerType",
    "diagnosticQuality",
    "keyImagesOnly",
    "studyUID",
    "accessionNumber",
    "modalitiesInStudy",
)


class InvalidLaunch(ValueError):
    """A launch request whose parameters are missing or malformed (answered 400)."""


@dataclass
class LaunchRequest:
    emr: str
    expires: int
    nonce: str
    signature: str
    request_type: str
    user: str = ""
    study_uids: list[str] = field(default_factory=list)
    accession_numbers: list[str] = field(default_factory=list)
    patient_id: str = ""
    issuer_of_patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: date | None = None
    lower_date_time: datetime | None = None
    upper_date_time: datetime | None = None
    most_recent_results: int | None = None
    modalities: list[str] = field(default_factory=list)
    diagnostic_quality: bool = False
    key_images_only: bool = False

    def summary(self) -> dict:
        """The verified parameters without PHI-free pretence: stored on the grant only."""
        return {
            "requestType": self.request_type,
            "studyUID": self.study_uids,
            "accessionNumber": self.accession_numbers,
            "lowerDateTime": self.lower_date_time.isoformat() if self.lower_date_time else "",
            "upperDateTime": self.upper_date_time.isoformat() if self.upper_date_time else "",
            "mostRecentResults": self.most_recent_results,
            "modalitiesInStudy": self.modalities,
            "diagnosticQuality": self.diagnostic_quality,
            "keyImagesOnly": self.key_images_only,
        }


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _text(name: str, value: str, limit: int) -> str:
    if len(value) > limit or _FORBIDDEN.search(value):
        raise InvalidLaunch(f"{name} must be at most {limit} characters without a backslash")
    return value


def _boolean(name: str, value: str) -> bool:
    try:
        return _BOOLEANS[value.lower()] if value else False
    except KeyError:
        raise InvalidLaunch(f"{name} is true or false") from None


def _date_time(name: str, value: str) -> datetime | None:
    if not value:
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d", "%Y%m%d%H%M%S", "%Y%m%d"):
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    raise InvalidLaunch(f"{name} is a date and time like 2024-01-31T08:00:00")


def parse_patient_id(cx: str) -> tuple[str, str]:
    """HL7 v2 CX: ``ID^check digit^scheme^assigning authority``; the authority's first
    subcomponent (namespace ID, before ``&``) is our Issuer of Patient ID (0010,0021)."""
    components = cx.split("^")
    patient_id = _text("patientID", components[0].strip(), 64)
    if not patient_id:
        raise InvalidLaunch("patientID has no ID before the first ^")
    issuer = components[3].split("&")[0].strip() if len(components) > 3 else ""
    return patient_id, _text("patientID's assigning authority", issuer, 64)


def parse(pairs: list[tuple[str, str]]) -> LaunchRequest:
    """Check and read the parameters (already signature-checked or not: this is syntax)."""
    seen: dict[str, str] = {}
    for name, value in pairs:
        if name in seen and name in SINGLE_VALUED:
            raise InvalidLaunch(f"{name} is given twice; give a comma-separated list once")
        seen[name] = value.strip()
    get = seen.get
    try:
        expires = int(get("expires", ""))
    except ValueError:
        raise InvalidLaunch("expires is the link's expiry in Unix seconds") from None
    if not _NONCE.fullmatch(get("nonce", "")):
        raise InvalidLaunch("nonce is 16 to 64 letters, digits, - or _")
    request_type = get("requestType", "").upper()
    if request_type not in ("STUDY", "PATIENT"):
        raise InvalidLaunch("requestType is STUDY or PATIENT")
    viewer_type = get("viewerType", "")
    if viewer_type and viewer_type != "IHE_BIR":
        raise InvalidLaunch("viewerType IHE_BIR is the only viewer type offered")
    launch = LaunchRequest(
        emr=get("emr", ""),
        expires=expires,
        nonce=get("nonce", ""),
        signature=get("signature", ""),
        request_type=request_type,
        user=_text("user", get("user", ""), 128),
        diagnostic_quality=_boolean("diagnosticQuality", get("diagnosticQuality", "")),
        key_images_only=_boolean("keyImagesOnly", get("keyImagesOnly", "")),
    )
    if request_type == "STUDY":
        launch.study_uids = _list(get("studyUID", ""))
        launch.accession_numbers = [
            _text("accessionNumber", a, 16) for a in _list(get("accessionNumber", ""))
        ]
        bad = [uid for uid in launch.study_uids if not is_valid_uid(uid)]
        if bad:
            raise InvalidLaunch("studyUID holds a value that is not a UID (PS3.5 9.1)")
        if not launch.study_uids and not launch.accession_numbers:
            raise InvalidLaunch("a STUDY request needs studyUID or accessionNumber")
        if len(launch.study_uids) + len(launch.accession_numbers) > 50:
            raise InvalidLaunch("at most 50 studies per launch")
        return launch
    if not get("patientID"):
        raise InvalidLaunch("a PATIENT request needs patientID (CX, e.g. 12345^^^HOSP)")
    launch.patient_id, launch.issuer_of_patient_id = parse_patient_id(get("patientID", ""))
    launch.patient_name = _text("patientName", get("patientName", ""), 324)
    if get("patientBirthDate"):
        try:
            launch.patient_birth_date = datetime.strptime(
                get("patientBirthDate", ""), "%Y%m%d"
            ).date()
        except ValueError:
            raise InvalidLaunch("patientBirthDate is YYYYMMDD") from None
    launch.lower_date_time = _date_time("lowerDateTime", get("lowerDateTime", ""))
    launch.upper_date_time = _date_time("upperDateTime", get("upperDateTime", ""))
    if get("mostRecentResults"):
        try:
            launch.most_recent_results = int(get("mostRecentResults", ""))
        except ValueError:
            raise InvalidLaunch("mostRecentResults is a whole number") from None
        if not 1 <= launch.most_recent_results <= 1000:
            raise InvalidLaunch("mostRecentResults is between 1 and 1000")
    launch.modalities = [m.upper() for m in _list(get("modalitiesInStudy", ""))]
    if any(not _CS.fullmatch(m) for m in launch.modalities):
        raise InvalidLaunch("modalitiesInStudy is a list of codes like CT,MR")
    return launch
