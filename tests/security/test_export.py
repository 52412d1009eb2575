"""Whole-study export: a ZIP with a DICOMDIR; de-identified by the PS3.15 Basic Profile."""

from __future__ import annotations

import io
import zipfile

import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from studies.export.profile_table import rows
from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import make_ct, to_bytes

pytestmark = pytest.mark.django_db
MARK = "SECRET"
KEEP_FOR_INGEST = {0x00080016, 0x00080018, 0x0020000D, 0x0020000E}  # set by make_ct
MARKERS = {
    "DA": "20010203",
    "TM": "040506",
    "DT": "20010203040506",
    "IS": "7",
    "DS": "7.5",
    "AS": "042Y",
    "UR": "http://secret.example",
}


def fill_every_profile_attribute(ds: Dataset) -> dict[int, object]:
    """Give every Table E.1-1 attribute the dictionary knows a recognisable value."""
    filled: dict[int, object] = {}
    for n, tag in enumerate(sorted(rows())):
        if tag >> 16 in (0x0000, 0x0002, 0xFFFA, 0xFFFC) or tag in KEEP_FOR_INGEST:
            continue
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue
        if vr == "SQ":
            item = Dataset()
            item.CodeValue = f"{MARK}SQ"
            value: object = Sequence([item])
        elif vr == "UI":
            value = f"1.2.3.999.{n}"
        elif vr in ("OB", "OW", "UN", "OB or OW"):
            vr, value = "OB", f"{MARK}00".encode()
        elif vr in MARKERS:
            value = MARKERS[vr]
        elif vr in ("PN", "LO", "SH", "LT", "ST", "UT", "UC", "CS", "AE"):
            value = f"{MARK}{n}"
        else:
            continue  # binary numbers (US, FL, ...) carry no identity
        ds.add_new(tag, vr, value)
        filled[tag] = ds[tag].value
    return filled


def stored_study(**attributes) -> tuple[str, dict[int, object], Dataset]:
    ds = make_ct(**attributes)
    filled = fill_every_profile_attribute(ds)
    result = ingest_bytes(to_bytes(ds), Instance.Source.IMPORT)
    assert result.status == "stored", result.reason
    return result.study_instance_uid, filled, ds


def export(client, uid: str, query: str = ""):
    response = client.get(f"/export/studies/{uid}.zip{query}")
    assert response.status_code == 200, response.content[:200]
    body = b"".join(response.streaming_content)
    return response, zipfile.ZipFile(io.BytesIO(body))


def instances_in(archive: zipfile.ZipFile) -> list[Dataset]:
    return [
        pydicom.dcmread(io.BytesIO(archive.read(name)))
        for name in archive.namelist()
        if name != "DICOMDIR"
    ]


def test_study_zip_has_a_dicomdir_indexing_every_instance(clinician_client):
    ds = make_ct()
    second = make_ct(study_uid=str(ds.StudyInstanceUID), series_uid=str(ds.SeriesInstanceUID))
    for each in (ds, second):
        assert ingest_bytes(to_bytes(each), Instance.Source.IMPORT).status == "stored"
    response, archive = export(clinician_client, str(ds.StudyInstanceUID))
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "DICOMDIR" in archive.namelist()
    dicomdir = pydicom.dcmread(io.BytesIO(archive.read("DICOMDIR")))
    images = [r for r in dicomdir.DirectoryRecordSequence if r.DirectoryRecordType == "IMAGE"]
    assert {str(r.ReferencedSOPInstanceUIDInFile) for r in images} == {
        str(ds.SOPInstanceUID),
        str(second.SOPInstanceUID),
    }
    assert {str(x.SOPInstanceUID) for x in instances_in(archive)} == {
        str(ds.SOPInstanceUID),
        str(second.SOPInstanceUID),
    }


def test_deidentified_export_keeps_no_attribute_of_table_e1_1(clinician_client):
    uid, filled, original = stored_study(patient_name="Doe^Secret", patient_id="SECRET-ID")
    assert len(filled) > 250  # the test really covers the table
    _, archive = export(clinician_client, uid, "?deidentify=1")
    (exported,) = instances_in(archive)
    survivors = [
        f"{tag:08X}"
        for tag, value in filled.items()
        if tag in exported and exported[tag].value == value and value not in ("", None)
    ]
    assert survivors == []
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        assert exported.get(keyword) != original.get(keyword)
    assert exported.PatientIdentityRemoved == "YES"
    assert exported.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    # Nothing recognisable anywhere in the bytes: not in the instance, not in the DICOMDIR.
    for name in archive.namelist():
        data = archive.read(name)
        assert b"Doe^Secret" not in data and b"SECRET-ID" not in data, name
        assert MARK.encode() not in data, name


def test_retain_longitudinal_full_dates_option_keeps_dates_only(clinician_client):
    uid, filled, _ = stored_study()
    _, plain = export(clinician_client, uid, "?deidentify=1")
    _, retained = export(clinician_client, uid, "?deidentify=1&retain_dates=1")
    (without,), (with_dates,) = instances_in(plain), instances_in(retained)
    assert without.StudyDate != filled[0x00080020]  # emptied (the DICOMDIR copy: a dummy)
    assert with_dates.StudyDate == filled[0x00080020]
    assert with_dates.AcquisitionDate == filled[0x00080022]
    codes = [c.CodeValue for c in with_dates.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113106"]
    assert with_dates.PatientName in ("", None)  # identity still removed


def test_export_requires_login_and_the_export_role(client, clinician, settings):
    ds = make_ct()
    ingest_bytes(to_bytes(ds), Instance.Source.IMPORT)
    url = f"/export/studies/{ds.StudyInstanceUID}.zip"
    assert client.get(url).status_code == 401
    settings.CLINICIAN_GROUP = "radiology"  # the clinician is not in it
    client.force_login(clinician)
    assert client.get(url).status_code == 403


def test_unknown_study_is_404(clinician_client):
    assert clinician_client.get("/export/studies/1.2.3.4.zip").status_code == 404
