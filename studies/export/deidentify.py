"""De-identification by the PS3.15 E.1 Basic Application Level Confidentiality Profile,
optionally with the Retain Longitudinal Temporal Information with Full Dates Option (E.3.6).

Pure pydicom, no Django. Actions per attribute come from Table E.1-1 (``profile_table``).
Where the table leaves a choice (X/Z, X/D, Z/D, X/Z/D) the least destructive one that keeps
a Type 2 attribute present is taken: an empty value (Z) rather than removal, since an IOD
may require the attribute. D on a sequence empties it (no dummy items), and so does X/Z/U*
(Referenced Image, Source Image): their items may carry free text the table does not list.
UIDs (U) are replaced by new UIDs derived from the old ones with a per-export secret, so
references within the export still match each other but cannot be traced back without it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from studies.export.profile_table import rows

PROFILE = rows()
# PS3.16 CID 7050 De-identification Method: the profile and each option applied.
BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
RETAIN_FULL_DATES = ("113106", "Retain Longitudinal Temporal Information Full Dates Option")
# 2.25 root: a UUID-derived UID (PS3.5 B.2), no registered organisation root needed.
UID_ROOT = "2.25."

DUMMY = {
    "PN": "ANONYMOUS",
    "LO": "ANONYMOUS",
    "SH": "ANONYMOUS",
    "CS": "ANONYMOUS",
    "ST": "ANONYMOUS",
    "LT": "ANONYMOUS",
    "UT": "ANONYMOUS",
    "UC": "ANONYMOUS",
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "IS": "0",
    "DS": "0",
    "AS": "000Y",
}


@dataclass
class Options:
    retain_full_dates: bool = False
    secret: bytes = field(default=b"", repr=False)


def new_uid(old: str, secret: bytes) -> str:
    digest = hashlib.sha256(secret + b"\0" + old.encode("ascii", "replace")).digest()
    return UID_ROOT + str(int.from_bytes(digest[:16], "big"))


def deidentify(ds: Dataset, options: Options) -> Dataset:
    """De-identify ``ds`` in place (and its file meta) and return it."""
    _clean(ds, options)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "") or new_uid(
            str(meta.MediaStorageSOPInstanceUID), options.secret
        )
    # PS3.15 E.1.1: record that the identity was removed, and how (PS3.3 C.12.1.1.7).
    ds.PatientIdentityRemoved = "YES"
    methods = [BASIC_PROFILE] + ([RETAIN_FULL_DATES] if options.retain_full_dates else [])
    ds.DeidentificationMethod = "; ".join(meaning for _, meaning in methods)
    codes = []
    for value, meaning in methods:
        code = Dataset()
        code.CodeValue = value
        code.CodingSchemeDesignator = "DCM"
        code.CodeMeaning = meaning
        codes.append(code)
    ds.DeidentificationMethodCodeSequence = Sequence(codes)
    if options.retain_full_dates:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    return ds


def _clean(ds: Dataset, options: Options) -> None:
    for element in list(ds):
        tag = int(element.tag)
        group = tag >> 16
        if group % 2 == 1:  # private attributes: X (no Retain Safe Private option)
            del ds[element.tag]
            continue
        if 0x5000 <= group <= 0x50FF or (
            0x6000 <= group <= 0x60FF and tag & 0xFFFF in (0x3000, 0x4000)
        ):
            del ds[element.tag]  # curves; overlay data and comments (X)
            continue
        entry = PROFILE.get(tag)
        if entry is None:
            if element.VR == "SQ":  # not listed: keep, but clean what it holds
                for item in element.value:
                    _clean(item, options)
            continue
        action, dates_option = entry
        if options.retain_full_dates and dates_option:
            continue  # K under the option
        _apply(ds, element, action, options)


def _apply(ds: Dataset, element, action: str, options: Options) -> None:
    if action == "X":
        del ds[element.tag]
    elif action == "U":
        _replace_uids(element, options)
    elif action in ("Z", "X/Z", "Z/D", "X/Z/D", "X/Z/U*"):
        element.value = Sequence() if element.VR == "SQ" else None
    elif action in ("D", "X/D"):
        if element.VR == "SQ":
            element.value = Sequence()
        elif element.VR == "UI":
            _replace_uids(element, options)
        else:
            element.value = DUMMY.get(element.VR)
    else:  # an action this code does not know: the safe choice is removal
        del ds[element.tag]


def _replace_uids(element, options: Options) -> None:
    value = element.value
    if element.VR != "UI" or value in (None, ""):
        element.value = None if element.VR != "SQ" else Sequence()
        return
    if isinstance(value, list | tuple) or hasattr(value, "__iter__") and not isinstance(value, str):
        element.value = [UID(new_uid(str(v), options.secret)) for v in value]
    else:
        element.value = UID(new_uid(str(value), options.secret))
