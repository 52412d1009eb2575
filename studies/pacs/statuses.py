"""DIMSE status codes for what ingest made of an instance (PS3.4 B.2.3, PS3.7 C)."""

from __future__ import annotations

from studies.ingest import IngestResult

SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
# PS3.4 B.2.3 Storage Service statuses.
OUT_OF_RESOURCES = 0xA700
DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
CANNOT_UNDERSTAND = 0xC000
# PS3.4 C.4.2.1.5 / C.4.3.1.4: sub-operations complete with failures (C-MOVE, C-GET).
SUBOPERATIONS_WITH_FAILURES = 0xB000

# Refused for lack of room (ours or the configured caps): the sender may retry later.
_OUT_OF_RESOURCES = {"storage_error", "too_large", "image_too_large", "inflated_too_large"}
# Parsed, but not a conformant instance of its SOP class.
_DOES_NOT_MATCH = {"missing_attribute", "pixel_data_length", "not_an_instance", "not_as_announced"}


def store_status(result: IngestResult) -> int:
    """Success only for an instance that is durable and indexed (stored now or before)."""
    if result.ok:
        return SUCCESS
    if result.reason_code in _OUT_OF_RESOURCES:
        return OUT_OF_RESOURCES
    if result.reason_code in _DOES_NOT_MATCH:
        return DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    # not_dicom, bad_file_meta, invalid_uid, unsupported_transfer_syntax, malformed,
    # conflicting_uids and anything new: the data set cannot be processed as sent.
    return CANNOT_UNDERSTAND


def category(status: int) -> str:
    """PS3.7 C.1: the class of a status value."""
    if status == SUCCESS:
        return "success"
    if status in (PENDING, 0xFF01):
        return "pending"
    if status == CANCEL:
        return "cancel"
    if status in (0x0001, 0x0107, 0x0116) or 0xB000 <= status <= 0xBFFF:
        return "warning"
    return "failure"
