"""The stored header (DICOM JSON, PS3.18 F.2, without bulk data) of a data set just read.

``studies.dicom_text.header_json`` asks pydicom to decode every element and then to turn each
into JSON: about 50 µs an element, most of ingest's CPU for a typical image. Most elements of
an image header are short strings and numbers whose decoding is simple, so they are decoded
here straight from pydicom's raw elements, by the same rules pydicom applies (PS3.5 6.2: the
padding stripped, values split at backslashes; numbers as pydicom's value classes would give
them). Anything less plain (person names, sequences, other character sets, ambiguous or
unknown VRs, a value that does not parse cleanly) is decoded by pydicom as before, element by
element, so the header is the same either way (``tests/test_ingest_header.py`` compares the
two over pydicom's sample files).
"""

from __future__ import annotations

import base64
import re
import struct
from typing import Any

from pydicom import config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import BYTES_VR

from studies import dicom_text

# pydicom's JSON leaves binary values longer than this out (as bulk data) (dataelem.to_json_dict).
_INLINE_LIMIT = (dicom_text.BULK_DATA_THRESHOLD // 4) * 3
_DEFAULT_ENCODING = "iso8859"  # pydicom.charset.default_encoding
# Decoded with the default repertoire, multi-valued (pydicom.values.convert_string).
_PLAIN = frozenset({"CS", "AS", "DA", "TM", "DT"})
_DATES = frozenset({"DA", "TM", "DT"})
# Decoded with the Specific Character Set (pydicom.values.convert_text).
_TEXT = frozenset({"SH", "LO"})
_NUMBERS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}
_SIZES = {"H": 2, "h": 2, "L": 4, "l": 4, "f": 4, "d": 8}
_IS = re.compile(r" *[-+]?[0-9]+ *")
_DS = re.compile(r" *[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)? *")
_ESC = 0x1B


class _Slow(Exception):
    """This element is left to pydicom."""


def header(dataset: Dataset) -> tuple[dict[str, Any], Exception | None]:
    """(DICOM JSON of ``dataset``, the first JSON error or None).

    Decoding an element may raise (pydicom's errors on broken input, as when the whole data
    set is decoded); turning a decoded element into JSON does not raise but reports its
    error, so the caller can rank it after its other checks, as before.
    """
    encodings = dataset.original_character_set or dataset._character_set
    if isinstance(encodings, str):
        encodings = [encodings]
    text_encoding = encodings[0] if len(encodings) == 1 else None
    plain_dates = not config.datetime_conversion
    plain_numbers = not (config.use_DS_numpy or config.use_IS_numpy or config.use_DS_decimal)
    result: dict[str, Any] = {}
    json_error: Exception | None = None
    for tag, raw in list(dataset._dict.items()):
        if isinstance(raw, RawDataElement) and raw.value is not None:
            vr = raw.VR
            if vr is None:
                vr = _implicit_vr(tag)
            try:
                node = _fast(raw, vr, text_encoding, plain_dates, plain_numbers)
            except _Slow:
                pass
            else:
                if node is not None:
                    result[f"{tag:08X}"] = node
                continue
        element = dataset[tag]  # pydicom decodes it (and may raise, as before)
        try:
            node = _element_json(element)
        except Exception as exc:
            json_error = json_error or exc
            continue
        if node is not None:
            result[f"{tag:08X}"] = node
    return result, json_error


def _element_json(element) -> dict[str, Any] | None:
    """pydicom's JSON for one decoded element, cleaned as ``dicom_text.header_json`` cleans
    a whole data set (None: bulk data, left out)."""
    node = element.to_json_dict(
        bulk_data_element_handler=lambda _element: "",
        bulk_data_threshold=dicom_text.BULK_DATA_THRESHOLD,
    )
    return dicom_text._without_bulk_and_nul(node)


def _implicit_vr(tag: int) -> str | None:
    if tag >> 16 & 1 or tag & 0xFFFF == 0:
        return None  # private or a group length: pydicom's rules for these
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return None
    return vr if len(vr) == 2 else None  # "OB or OW", "US or SS": pydicom resolves


def _fast(
    raw: RawDataElement,
    vr: str | None,
    text_encoding: str | None,
    plain_dates: bool,
    plain_numbers: bool,
) -> dict[str, Any] | None:
    """The element's JSON, None to leave it out (bulk data), or _Slow."""
    tag, value = raw.tag, raw.value
    if vr == "UI":
        items = value.decode(_DEFAULT_ENCODING).rstrip("\0 ").rstrip(" \0").split("\\")
        return _strings(vr, [item.strip() for item in items])
    if vr in _PLAIN:
        if vr in _DATES and not plain_dates:
            raise _Slow
        return _strings(vr, value.decode(_DEFAULT_ENCODING).rstrip(" \0").split("\\"))
    if vr in _TEXT:
        if text_encoding is None or _ESC in value:
            raise _Slow
        try:
            decoded = value.decode(text_encoding)
        except (UnicodeError, LookupError):
            raise _Slow from None
        return _strings(vr, [item.rstrip("\0 ") for item in decoded.split("\\")])
    if vr in _NUMBERS:
        if tag >> 16 == 0x0028 and tag & 0xFFFF >= 0x1100:
            raise _Slow  # LUT descriptors: pydicom corrects their first value
        code = _NUMBERS[vr]
        size = _SIZES[code]
        if len(value) % size:
            raise _Slow
        order = "<" if raw.is_little_endian else ">"
        numbers = struct.unpack(f"{order}{len(value) // size}{code}", value)
        if not numbers:
            return {"vr": vr}
        kind = float if vr in ("FL", "FD") else int
        return {"vr": vr, "Value": [kind(n) for n in numbers]}
    if vr == "IS" or vr == "DS":
        if not plain_numbers:
            raise _Slow
        text = value.decode(_DEFAULT_ENCODING)
        if vr == "DS":
            text = text.strip()
        items = text.rstrip(" \0").split("\\")
        if items == [""]:
            return {"vr": vr}
        pattern, kind = (_IS, int) if vr == "IS" else (_DS, float)
        if not all(pattern.fullmatch(item) for item in items):
            raise _Slow
        return {"vr": vr, "Value": [kind(item) for item in items]}
    if vr in BYTES_VR and vr != "UN":
        if not value:
            return {"vr": vr}
        if len(value) > _INLINE_LIMIT:
            return None  # bulk data: served from the file
        return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}
    raise _Slow


def _strings(vr: str, items: list[str]) -> dict[str, Any]:
    if items == [""]:
        return {"vr": vr}  # empty: no Value (PS3.18 F.2.5)
    return {"vr": vr, "Value": [item.replace("\x00", "") for item in items]}
