"""Turning hostile DICOM values into safe index values.

Everything here is defensive: values may be missing, of the wrong type, too long for the
column, contain NUL characters (which PostgreSQL refuses), or be invalid dates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

# Binary elements above this size are left out of the stored JSON header (pixel data,
# overlays, icons, waveforms); WADO-RS serves them from the file.
BULK_DATA_THRESHOLD = 1024


def clean_text(value: Any, max_length: int) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = text.replace("\x00", "").strip()
    return text[:max_length]


def text(dataset: Dataset, keyword: str, max_length: int) -> str:
    try:
        return clean_text(dataset.get(keyword), max_length)
    except Exception:  # a value that fails to decode is shown as missing, not a crash
        return ""


def integer(dataset: Dataset, keyword: str) -> int | None:
    try:
        value = dataset.get(keyword)
        if value is None or value == "":
            return None
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    # Keep within a signed 32-bit column on every database.
    return number if -(2**31) <= number < 2**31 else None


def date(dataset: Dataset, keyword: str) -> dt.date | None:
    raw = text(dataset, keyword, 32).replace(".", "")  # ACR-NEMA style YYYY.MM.DD
    if len(raw) != 8 or not raw.isdigit():
        return None
    try:
        return dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        return None


def time(dataset: Dataset, keyword: str) -> dt.time | None:
    raw = text(dataset, keyword, 32).replace(":", "")
    whole, _, fraction = raw.partition(".")
    if not whole.isdigit() or len(whole) not in (2, 4, 6):
        return None
    hour, minute, second = int(whole[:2]), int(whole[2:4] or 0), int(whole[4:6] or 0)
    micro = int((fraction + "000000")[:6]) if fraction.isdigit() else 0
    try:
        return dt.time(hour, minute, min(second, 59), micro)
    except ValueError:
        return None


def header_json(dataset: Dataset) -> dict[str, Any]:
    """The data set as DICOM JSON (PS3.18 F.2) without bulk data, safe for any JSON column."""
    header = dataset.to_json_dict(
        bulk_data_threshold=BULK_DATA_THRESHOLD,
        bulk_data_element_handler=lambda element: "",
    )
    return _without_bulk_and_nul(header)


def _without_bulk_and_nul(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("BulkDataURI") == "":
            return None
        cleaned = {}
        for key, value in node.items():
            child = _without_bulk_and_nul(value)
            if child is not None:
                cleaned[key] = child
        return cleaned
    if isinstance(node, list):
        return [_without_bulk_and_nul(item) for item in node]
    if isinstance(node, str):
        return node.replace("\x00", "")
    return node
