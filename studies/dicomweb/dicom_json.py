"""Building DICOM JSON (PS3.18 Annex F) from index values, and naming attributes.

Every value is emitted as JSON data with its VR; nothing here produces markup. Tags are
eight upper-case hex digits, the form PS3.18 F.2.1.1 uses and pydicom writes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

Element = dict[str, Any]
DataSet = dict[str, Element]

_TAG = re.compile(r"[0-9A-Fa-f]{8}")
# PS3.5 6.2: components of a PN value are separated by "^", component groups by "=".
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


class UnknownAttribute(ValueError):
    """Neither a keyword of the DICOM dictionary nor an 8-digit hex tag."""


def tag_of(name: str) -> str:
    """``PatientName`` or ``00100010`` → ``"00100010"``."""
    if _TAG.fullmatch(name):
        return name.upper()
    tag = tag_for_keyword(name)
    if tag is None:
        raise UnknownAttribute(f"{name!r} is not a DICOM keyword or an 8-digit hex tag")
    return f"{tag:08X}"


def keyword_of(tag: str) -> str:
    """The dictionary keyword of a tag, or "" (private and unknown tags have none)."""
    return keyword_for_tag(int(tag, 16)) or ""


def vr_of(tag: str) -> str:
    try:
        return dictionary_VR(int(tag, 16))
    except KeyError:
        return "UN"


def element(vr: str, values: list[Any] | tuple[Any, ...] = ()) -> Element:
    """An element; with no values, an empty (zero-length) one as PS3.18 F.2.5 writes it."""
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def text(vr: str, value: str) -> Element:
    return element(vr, [value] if value else [])


def multi_text(vr: str, value: str) -> Element:
    """A backslash-separated multi-valued string as stored in the index (e.g. CT\\PT)."""
    return element(vr, [v for v in value.split("\\") if v])


def person_name(value: str) -> Element:
    """PS3.18 F.2.2: a PN value is an object with one key per component group."""
    if not value:
        return element("PN")
    groups = {
        key: group for key, group in zip(_PN_GROUPS, value.split("=", 2), strict=False) if group
    }
    return element("PN", [groups] if groups else [])


def date(value: dt.date | None) -> Element:
    return element("DA", [value.strftime("%Y%m%d")] if value else [])


def time(value: dt.time | None) -> Element:
    if value is None:
        return element("TM")
    text_value = value.strftime("%H%M%S")
    if value.microsecond:
        text_value += f".{value.microsecond:06d}"
    return element("TM", [text_value])


def number(vr: str, value: int | None) -> Element:
    """IS and US values; PS3.18 F.2.3.1 encodes IS, DS and binary numbers as JSON numbers."""
    return element(vr, [value] if value is not None else [])


def sorted_by_tag(dataset: DataSet) -> DataSet:
    return dict(sorted(dataset.items()))
