"""Ingest without pydicom's value checks (studies.validation.skip_pydicom_value_checks), as the
listener and the retrieve worker run it: the same verdicts and the same header as with them."""

from __future__ import annotations

import pydicom.config
import pytest

from studies.pacs.listener import application_entity
from studies.pacs.worker import RetrieveWorker
from studies.validation import Rejected, check_file
from tests.dicom_files import make_ct, to_bytes

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
MODES = {"checked": pydicom.config.WARN, "unchecked": pydicom.config.IGNORE}


@pytest.fixture
def restore_mode():
    before = pydicom.config.settings.reading_validation_mode
    yield
    pydicom.config.settings.reading_validation_mode = before


def check_in(mode: str, data: bytes):
    pydicom.config.settings.reading_validation_mode = MODES[mode]
    try:
        return check_file(data, _limits())
    except Rejected as rejection:
        return rejection.code


def _limits():
    from studies.ingest import limits_from_settings

    return limits_from_settings()


def odd_values() -> bytes:
    """A CT whose values pydicom's checks would warn about, but ingest takes."""
    ds = make_ct()
    ds.SeriesNumber = "1.5"  # IS
    ds.PatientSex = "NOT A CODE STRING"  # CS: lower case would do too, and too long
    ds.StudyID = "X" * 40  # SH: over 16
    ds.add_new(0x00081155, "UI", "1.2.abc")  # Referenced SOP Instance UID, not a UID
    return to_bytes(ds)


def test_odd_values_give_the_same_header_with_and_without_pydicom_checks(restore_mode):
    data = odd_values()
    checked, unchecked = check_in("checked", data), check_in("unchecked", data)
    assert not isinstance(checked, str), checked
    assert unchecked.header == checked.header
    assert unchecked.header["00200011"] == checked.header["00200011"]
    assert (unchecked.sop_instance_uid, unchecked.rows, unchecked.number_of_frames) == (
        checked.sop_instance_uid,
        checked.rows,
        checked.number_of_frames,
    )


@pytest.mark.parametrize("mode", sorted(MODES))
def test_an_invalid_sop_instance_uid_is_refused_either_way(restore_mode, mode):
    ds = make_ct()
    ds.SOPInstanceUID = "1.2.3.abc"
    assert check_in(mode, to_bytes(ds)) == "invalid_uid"


def test_the_listener_and_the_retrieve_worker_turn_the_checks_off(restore_mode):
    pydicom.config.settings.reading_validation_mode = pydicom.config.WARN
    application_entity("OURS")
    assert pydicom.config.settings.reading_validation_mode == pydicom.config.IGNORE
    pydicom.config.settings.reading_validation_mode = pydicom.config.WARN
    RetrieveWorker(threads=1, poll_seconds=1, name="test")
    assert pydicom.config.settings.reading_validation_mode == pydicom.config.IGNORE
