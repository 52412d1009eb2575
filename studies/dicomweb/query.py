"""Reading QIDO-RS query parameters (PS3.18 8.3.4) into a checked ``Query``.

Matching keys may be named by keyword or tag (``PatientName=Doe*``, ``00100010=Doe*``).
A key that is not a DICOM attribute, or one this archive cannot match at the requested level,
is refused with 400 and a sentence naming it: quietly ignoring a filter would answer a
different question than the one asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.http import QueryDict

from studies.dicomweb import dicom_json as dj
from studies.queries import InvalidQuery

STUDY, SERIES, INSTANCE = "study", "series", "instance"

# The attributes each level can match on, from the index (PS3.18 Table 10.6.1-5 and the
# study-list criteria). PatientBirthDate and PatientSex are matchable too; the remaining
# return attributes are answered but not matched.
MATCHING_KEYS: dict[str, tuple[str, ...]] = {
    STUDY: (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "StudyDescription",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
    ),
    SERIES: (
        "Modality",
        "SeriesDescription",
        "SeriesInstanceUID",
        "SeriesNumber",
        "BodyPartExamined",
    ),
    INSTANCE: ("SOPClassUID", "SOPInstanceUID", "InstanceNumber"),
}
UID_KEYS = {"StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID"}
PERSON_NAME_KEYS = {"PatientName", "ReferringPhysicianName"}

_CONTROL = {"limit", "offset", "includefield", "fuzzymatching", "accept", "charset"}
_UNSUPPORTED_FLAGS = {
    # PS3.18 8.3.4.5 and 8.3.4.6: ignored with a Warning when asked for.
    "emptyvaluematching": "The emptyvaluematching parameter is not supported. "
    "Empty Value Matching has not been performed.",
    "multiplevaluematching": "The multiplevaluematching parameter is not supported. "
    "Multiple Value Matching has not been performed.",
}
# Wildcard patterns become regular expressions; bounding them keeps a hostile pattern
# (``*a*a*a*a*...``) from costing the database super-linear backtracking.
MAX_PATTERN_LENGTH = 128
MAX_WILDCARDS = 4


@dataclass
class Query:
    matches: dict[str, str] = field(default_factory=dict)  # keyword → value as sent
    include_tags: set[str] = field(default_factory=set)
    include_all: bool = False
    limit: int = 0
    offset: int = 0
    fuzzy: bool = False
    warnings: list[str] = field(default_factory=list)

    def value(self, keyword: str) -> str:
        return self.matches.get(keyword, "")


def parse_query(
    params: QueryDict,
    levels: tuple[str, ...],
    max_limit: int,
    scope_keys: tuple[str, ...] = (),
) -> Query:
    """Check and collect the parameters; raise InvalidQuery with a sentence for people.

    ``levels`` are the levels whose keys this resource matches (``/series`` takes study and
    series keys); ``scope_keys`` are the unique keys of the levels fixed by the URL, which
    are accepted (and simply narrow the search) for clients that repeat them.
    """
    allowed = {key for level in levels for key in MATCHING_KEYS[level]} | set(scope_keys)
    query = Query(limit=max_limit)
    for name in params:
        values = params.getlist(name)
        if name in _CONTROL:
            _control(query, name, values, max_limit)
        elif name in _UNSUPPORTED_FLAGS:
            if _boolean(name, _single(name, values)):
                query.warnings.append(_UNSUPPORTED_FLAGS[name])
        else:
            keyword = _matching_keyword(name, allowed)
            if keyword in query.matches:
                raise InvalidQuery(f"{keyword} is given more than once")
            query.matches[keyword] = _checked_value(keyword, _single(name, values))
    return query


def _control(query: Query, name: str, values: list[str], max_limit: int) -> None:
    if name == "includefield":
        for value in values:
            for item in filter(None, (v.strip() for v in value.split(","))):
                if item.lower() == "all":
                    query.include_all = True
                else:
                    query.include_tags.add(_tag(item))
    elif name == "limit":
        # PS3.18 8.3.4.4: never more than the server's maximum; 0 asks for that maximum.
        limit = _natural(name, _single(name, values))
        query.limit = min(limit, max_limit) if limit else max_limit
    elif name == "offset":
        query.offset = _natural(name, _single(name, values))
    elif name == "fuzzymatching":
        query.fuzzy = _boolean(name, _single(name, values))
    # accept and charset are negotiated by the view (PS3.18 8.3.3.1).


def _matching_keyword(name: str, allowed: set[str]) -> str:
    if "." in name:
        raise InvalidQuery(f"{name}: matching on attributes inside sequences is not supported")
    try:
        tag = dj.tag_of(name)
    except dj.UnknownAttribute:
        raise InvalidQuery(f"{name!r} is not a query parameter, DICOM keyword or tag")
    keyword = dj.keyword_of(tag)
    if keyword not in allowed:
        raise InvalidQuery(
            f"{keyword or name} cannot be used as a matching key here; "
            f"this resource matches on {', '.join(sorted(allowed))}"
        )
    return keyword


def _checked_value(keyword: str, value: str) -> str:
    value = value.strip()
    if keyword in UID_KEYS:
        return value  # UID lists are checked by uid_list_q
    value = re.sub(r"\*+", "*", value)
    if len(value) > MAX_PATTERN_LENGTH:
        raise InvalidQuery(f"{keyword}: a value is at most {MAX_PATTERN_LENGTH} characters")
    if value.count("*") > MAX_WILDCARDS:
        raise InvalidQuery(f"{keyword}: at most {MAX_WILDCARDS} '*' wildcards per value")
    return value


def _tag(name: str) -> str:
    try:
        return dj.tag_of(name)
    except dj.UnknownAttribute as exc:
        raise InvalidQuery(f"includefield: {exc}")


def _single(name: str, values: list[str]) -> str:
    if len(values) != 1:
        raise InvalidQuery(f"{name} is given more than once")
    return values[0]


def _natural(name: str, value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", value.strip()):
        raise InvalidQuery(f"{name} must be a whole number from 0 to 999999999, not {value!r}")
    return int(value)


def _boolean(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise InvalidQuery(f"{name} must be true or false, not {value!r}")
    return lowered == "true"
