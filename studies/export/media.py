"""A study as a ZIP of a DICOM File-set: the instances plus a DICOMDIR (PS3.10 8, PS3.3
F.2) so media viewers and PACS importers find them without scanning every file.

pydicom's FileSet writes the DICOMDIR and names the files (PS3.10 8.2: uppercase
8-character components), so no file name comes from DICOM text. The archive is built in a
temporary directory and spooled; the caller streams it.
"""

from __future__ import annotations

import secrets
import tempfile
import zipfile
from pathlib import Path
from typing import IO

import pydicom
from pydicom.fileset import FileSet

from studies.export.deidentify import Options, deidentify
from studies.models import Instance, Study
from studies.storage import dicom_store


def study_zip(study: Study, *, anonymise: bool = False, retain_full_dates: bool = False) -> IO:
    """A temporary file (positioned at 0) holding the ZIP; close it when sent."""
    options = Options(retain_full_dates=retain_full_dates, secret=secrets.token_bytes(32))
    store = dicom_store()
    instances = (
        Instance.objects.filter(series__study=study)
        .order_by("series__series_number", "instance_number", "pk")
        .values_list("file_path", flat=True)
    )
    fileset = FileSet()
    # PS3.10 F.2: a File-set ID is a CS of at most 16 characters; no patient data in it.
    fileset.ID = "DEIDENTIFIED" if anonymise else "STUDY"
    with tempfile.TemporaryDirectory(prefix="export-") as work:
        for relative in instances:
            ds = pydicom.dcmread(store.absolute_path(relative))
            if anonymise:
                deidentify(ds, options)
            _complete_record_keys(ds)
            fileset.add(ds)
        root = Path(work) / "media"
        fileset.write(root)
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (returned to the caller)
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root).as_posix())
    spool.seek(0)
    return spool


# PS3.3 F.5: the PATIENT, STUDY, SERIES and IMAGE records need these keys, which an instance
# may lack or (after de-identification) hold empty; the exported copy gets placeholders.
_RECORD_KEYS = {
    "PatientID": "UNKNOWN",
    "StudyDate": "19000101",
    "StudyTime": "000000",
    "StudyID": "0",
    "SeriesNumber": "0",
    "InstanceNumber": "0",
}


def _complete_record_keys(ds: pydicom.Dataset) -> None:
    for keyword, placeholder in _RECORD_KEYS.items():
        if ds.get(keyword) in (None, ""):
            setattr(ds, keyword, placeholder)
