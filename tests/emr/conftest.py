from __future__ import annotations

import io
from collections.abc import Iterator

import pydicom
import pytest

from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import make_ct, to_bytes
from tests.emr.links import make_integration

STUDY_A = "1.2.826.0.1.3680043.8.498.6001"
STUDY_B = "1.2.826.0.1.3680043.8.498.6002"
STUDY_C = "1.2.826.0.1.3680043.8.498.6003"


def store(study_uid: str, **attributes) -> str:
    result = ingest_bytes(
        to_bytes(make_ct(study_uid=study_uid, **attributes)), Instance.Source.IMPORT
    )
    assert result.status == "stored", result.reason
    return study_uid


@pytest.fixture
def integration(db):
    return make_integration()


@pytest.fixture
def studies(db) -> dict[str, str]:
    """Two studies of Doe (issuer HOSP) and one of Roe."""
    return {
        "doe_ct": store(
            STUDY_A,
            patient_id="12345",
            IssuerOfPatientID="HOSP",
            AccessionNumber="ACC-A",
            StudyDate="20240102",
        ),
        "doe_mr": store(
            STUDY_B,
            patient_id="12345",
            IssuerOfPatientID="HOSP",
            AccessionNumber="ACC-B",
            Modality="MR",
            StudyDate="20230101",
        ),
        "roe": store(
            STUDY_C, patient_id="999", patient_name="Roe^Richard", AccessionNumber="ACC-C"
        ),
    }


# --- browser tests: one real server for the package --------------------------------------

BROWSER_SLICES, BROWSER_SIZE, BROWSER_SEED = 4, 64, 606
BROWSER_SECRET = "browser-test-secret-0123456789abcdefghij"


@pytest.fixture(scope="package")
def emr_server(tmp_path_factory) -> Iterator:
    """uvicorn (``viewerproject.serve``) on a throw-away archive with a phantom CT study and
    the EMR integration ``ris``, shared by the browser tests of this package (each start costs
    a migration and several manage.py processes). Yields (server, study UID)."""
    from studies.demo.phantom import generate_ct_series, series_uids
    from tests.bench.django_server import DjangoServer, manage
    from tests.browser import require_chromium

    require_chromium()
    pytest.importorskip("playwright.sync_api")
    parent = tmp_path_factory.mktemp("emr-server")
    folder = parent / "study"
    folder.mkdir()
    for index, ds in enumerate(generate_ct_series(BROWSER_SLICES, BROWSER_SIZE, BROWSER_SEED)):
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        (folder / f"{index}.dcm").write_bytes(buffer.getvalue())
    with DjangoServer(parent) as server:
        assert server.var_dir is not None
        manage(
            server.var_dir,
            "shell",
            "-c",
            "import os; from django.core.management import call_command;"
            " from studies.models import EmrIntegration;"
            " call_command('import_dicom', os.environ['FOLDER']);"
            " EmrIntegration.objects.create(name='ris', shared_secret=os.environ['EMR_SECRET'])",
            EMR_SECRET=BROWSER_SECRET,
            FOLDER=str(folder),
        )
        yield server, series_uids(BROWSER_SLICES, BROWSER_SIZE, BROWSER_SEED).study
