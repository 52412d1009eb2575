"""QIDO-RS (PS3.18 10.6): dicomweb-client searching the live archive, plus query counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import pydicom
import pytest
import requests
from pydicom.uid import MRImageStorage

from studies.ingest import ingest_bytes
from studies.models import Instance
from tests import dicomweb_server
from tests.dicom_files import make_ct, sample_path, to_bytes
from tests.dicomweb_server import (
    decoded,
    value,
)

# Fixtures shared with the other DICOMweb tests: a live server's user and its clients.
dicomweb = dicomweb_server.dicomweb
peer_session = dicomweb_server.peer_session
peer_user = dicomweb_server.peer_user

STUDY_A = "1.2.826.0.1.3680043.9.7433.2.1"
STUDY_B = "1.2.826.0.1.3680043.9.7433.2.2"
STUDY_C = "1.2.826.0.1.3680043.9.7433.2.3"
SERIES_A_CT = "1.2.826.0.1.3680043.9.7433.3.1"
SERIES_A_PT = "1.2.826.0.1.3680043.9.7433.3.2"
CT_SMALL = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
MR_SMALL = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"


@dataclass
class Archive:
    a_ct: list[pydicom.Dataset]
    a_pt: pydicom.Dataset


def fill_archive() -> Archive:
    """Five studies: three generated (two Does and a Roe) and two real pydicom files."""
    jane = {
        "patient_name": "Doe^Jane",
        "patient_id": "P-JANE",
        "AccessionNumber": "ACC-A",
        "InstitutionName": "General Hospital",
    }
    a_ct = [
        make_ct(study_uid=STUDY_A, series_uid=SERIES_A_CT, instance_number=n, **jane)
        for n in (2, 1)
    ]
    a_pt = make_ct(
        study_uid=STUDY_A,
        series_uid=SERIES_A_PT,
        Modality="PT",
        SeriesNumber=2,
        SeriesDescription="PET WB",
        **jane,
    )
    others = [
        make_ct(
            study_uid=STUDY_B,
            patient_name="Doe^John",
            patient_id="P-JOHN",
            StudyDate="20240215",
            StudyTime="143000",
            AccessionNumber="ACC-B",
            Modality="MR",
        ),
        make_ct(
            study_uid=STUDY_C,
            patient_name="Roe^Richard",
            patient_id="P-RICH",
            StudyDate="20231231",
            ReferringPhysicianName="House^Gregory",
        ),
    ]
    files = [to_bytes(ds) for ds in [*a_ct, a_pt, *others]]
    files += [sample_path(name).read_bytes() for name in ("CT_small.dcm", "MR_small.dcm")]
    for data in files:
        assert ingest_bytes(data, Instance.Source.IMPORT).ok
    return Archive(a_ct=a_ct, a_pt=a_pt)


@pytest.fixture
def archive(transactional_db) -> Archive:
    return fill_archive()


def study_uids(results: list[dict]) -> list[str]:
    return [value(r, "0020000D") for r in results]


def qido(session: requests.Session, live_server, path: str, **params) -> requests.Response:
    return session.get(f"{live_server.url}/dicomweb/{path}", params=params, timeout=30)


# --- study level ---------------------------------------------------------------------------


def test_wildcard_patient_name_search_is_case_insensitive(dicomweb, archive):
    found = dicomweb.search_for_studies(search_filters={"PatientName": "doe*"})

    assert set(study_uids(found)) == {STUDY_A, STUDY_B}
    jane = next(r for r in found if value(r, "0020000D") == STUDY_A)
    assert value(jane, "00100010") == {"Alphabetic": "Doe^Jane"}
    assert value(jane, "00201206") == 2  # NumberOfStudyRelatedSeries
    assert value(jane, "00201208") == 3  # NumberOfStudyRelatedInstances
    assert jane["00080061"]["Value"] == ["CT", "PT"]  # ModalitiesInStudy
    assert urlsplit(value(jane, "00081190")).path == f"/dicomweb/studies/{STUDY_A}"


def test_study_answer_has_the_default_attributes_of_ps3_18(dicomweb, archive):
    [study] = dicomweb.search_for_studies(search_filters={"StudyInstanceUID": STUDY_C})

    assert set(study) >= {
        "00080020",  # StudyDate
        "00080030",  # StudyTime
        "00080050",  # AccessionNumber
        "00080056",  # InstanceAvailability
        "00080061",  # ModalitiesInStudy
        "00080090",  # ReferringPhysicianName
        "00081190",  # RetrieveURL
        "00100010",  # PatientName
        "00100020",  # PatientID
        "00100030",  # PatientBirthDate
        "00100040",  # PatientSex
        "0020000D",  # StudyInstanceUID
        "00200010",  # StudyID
        "00201206",  # NumberOfStudyRelatedSeries
        "00201208",  # NumberOfStudyRelatedInstances
    }
    assert value(study, "00080090") == {"Alphabetic": "House^Gregory"}
    assert study["00080020"] == {"vr": "DA", "Value": ["20231231"]}
    # pydicom reads the answer back as a data set.
    assert pydicom.Dataset.from_json(study).PatientID == "P-RICH"


def test_matching_keys_can_be_named_by_tag(dicomweb, archive):
    found = dicomweb.search_for_studies(search_filters={"00100010": "Doe^J?ne"})

    assert study_uids(found) == [STUDY_A]


def test_date_ranges_match_inclusively_and_open_ended(dicomweb, archive):
    def search(date_range: str) -> set[str]:
        return set(
            study_uids(dicomweb.search_for_studies(search_filters={"StudyDate": date_range}))
        )

    assert search("20240101-20240131") == {STUDY_A}
    assert search("20240102-") == {STUDY_A, STUDY_B}
    assert search("-20231231") == {STUDY_C, CT_SMALL, MR_SMALL}
    assert search("20240215") == {STUDY_B}


def test_study_time_range_matches(dicomweb, archive):
    found = dicomweb.search_for_studies(
        search_filters={"StudyTime": "14-15", "StudyDate": "20240101-"}
    )

    assert study_uids(found) == [STUDY_B]


def test_uid_list_matching_takes_commas_and_backslashes(dicomweb, archive):
    by_comma = dicomweb.search_for_studies(
        search_filters={"StudyInstanceUID": f"{STUDY_A},{STUDY_C}"}
    )
    by_backslash = dicomweb.search_for_studies(
        search_filters={"StudyInstanceUID": f"{STUDY_C}\\{CT_SMALL}"}
    )

    assert set(study_uids(by_comma)) == {STUDY_A, STUDY_C}
    assert set(study_uids(by_backslash)) == {STUDY_C, CT_SMALL}


def test_modalities_in_study_matches_any_listed_modality(dicomweb, archive):
    found = dicomweb.search_for_studies(search_filters={"ModalitiesInStudy": "PT"})
    mr = dicomweb.search_for_studies(search_filters={"ModalitiesInStudy": "MR"})

    assert study_uids(found) == [STUDY_A]
    assert set(study_uids(mr)) == {STUDY_B, MR_SMALL}


def test_limit_and_offset_page_through_every_study_once(
    dicomweb, peer_session, live_server, archive
):
    pages = [dicomweb.search_for_studies(limit=2, offset=offset) for offset in (0, 2, 4, 6)]

    assert [len(page) for page in pages] == [2, 2, 1, 0]
    paged = [uid for page in pages for uid in study_uids(page)]
    assert sorted(paged) == sorted({STUDY_A, STUDY_B, STUDY_C, CT_SMALL, MR_SMALL})
    # Newest study first (PS3.18 leaves the order to the server; ours is stable).
    assert paged[:2] == [STUDY_B, STUDY_A]
    assert len(dicomweb.search_for_studies(limit=2, get_remaining=True)) == 5
    # A page with more behind it says so (PS3.18 8.3.4.4); the last page does not.
    more = qido(peer_session, live_server, "studies", limit=2)
    last = qido(peer_session, live_server, "studies", limit=2, offset=4)
    assert "additional results" in more.headers["Warning"]
    assert "Warning" not in last.headers


def test_limit_is_capped_by_the_server_maximum(dicomweb, archive, settings):
    settings.QIDO_MAX_LIMIT = 3

    assert len(dicomweb.search_for_studies(limit=100)) == 3
    assert len(dicomweb.search_for_studies()) == 3


def test_includefield_answers_from_the_stored_header(dicomweb, archive):
    by_keyword = dicomweb.search_for_studies(
        fields=["InstitutionName"], search_filters={"StudyInstanceUID": STUDY_A}
    )
    by_tag = dicomweb.search_for_studies(
        fields=["00080080"], search_filters={"StudyInstanceUID": STUDY_A}
    )
    everything = dicomweb.search_for_studies(
        fields=["all"], search_filters={"StudyInstanceUID": STUDY_A}
    )
    plain = dicomweb.search_for_studies(search_filters={"StudyInstanceUID": STUDY_A})

    assert value(by_keyword[0], "00080080") == "General Hospital"
    assert value(by_tag[0], "00080080") == "General Hospital"
    assert value(everything[0], "00080080") == "General Hospital"
    assert "00080080" not in plain[0]
    # "all" at study level leaves out what names one instance, and never carries pixels.
    assert "00080018" not in everything[0]
    assert "7FE00010" not in everything[0]


def test_fuzzy_matching_finds_a_name_by_any_component(dicomweb, archive):
    literal = dicomweb.search_for_studies(search_filters={"PatientName": "jane"})
    fuzzy = dicomweb.search_for_studies(fuzzymatching=True, search_filters={"PatientName": "jan"})

    assert literal == []
    assert study_uids(fuzzy) == [STUDY_A]


def test_no_match_is_an_empty_json_list(dicomweb, peer_session, live_server, archive):
    response = qido(peer_session, live_server, "studies", PatientID="nobody")

    assert response.status_code == 200
    assert decoded(response) == []
    assert dicomweb.search_for_studies(search_filters={"PatientID": "nobody"}) == []


def test_hostile_text_comes_back_as_plain_json_data(
    dicomweb, peer_session, live_server, transactional_db
):
    hostile = make_ct(
        patient_name="<script>alert(1)</script>",
        patient_id="../../etc/passwd",
        StudyDescription='"><img src=x onerror=alert(1)>',
    )
    assert ingest_bytes(to_bytes(hostile), Instance.Source.IMPORT).ok

    response = qido(peer_session, live_server, "studies", PatientID="../../etc/passwd")

    assert response.headers["Content-Type"] == "application/dicom+json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    [study] = decoded(response)
    assert value(study, "00100010") == {"Alphabetic": "<script>alert(1)</script>"}
    assert value(study, "00100020") == "../../etc/passwd"
    assert value(study, "00081030") == '"><img src=x onerror=alert(1)>'
    stored = Instance.objects.get(sop_instance_uid=hostile.SOPInstanceUID)
    assert ".." not in stored.file_path


# --- series and instance level -------------------------------------------------------------


def test_series_of_a_study_with_counts_and_filters(dicomweb, archive):
    found = dicomweb.search_for_series(study_instance_uid=STUDY_A)
    only_pt = dicomweb.search_for_series(
        study_instance_uid=STUDY_A, search_filters={"Modality": "pt"}
    )
    by_number = dicomweb.search_for_series(
        study_instance_uid=STUDY_A, search_filters={"SeriesNumber": "1"}
    )

    assert [value(s, "0020000E") for s in found] == [SERIES_A_CT, SERIES_A_PT]
    ct, pt = found
    assert (value(ct, "00080060"), value(ct, "00200011"), value(ct, "00201209")) == ("CT", 1, 2)
    assert (value(pt, "00080060"), value(pt, "0008103E")) == ("PT", "PET WB")
    assert urlsplit(value(ct, "00081190")).path == (
        f"/dicomweb/studies/{STUDY_A}/series/{SERIES_A_CT}"
    )
    assert "00100010" not in ct  # study attributes only when searching across studies
    assert [value(s, "0020000E") for s in only_pt] == [SERIES_A_PT]
    assert [value(s, "0020000E") for s in by_number] == [SERIES_A_CT]


def test_series_across_studies_carry_study_attributes_and_match_study_keys(dicomweb, archive):
    found = dicomweb.search_for_series(search_filters={"PatientName": "Doe*", "Modality": "CT"})

    assert [value(s, "0020000E") for s in found] == [SERIES_A_CT]
    assert value(found[0], "00100010") == {"Alphabetic": "Doe^Jane"}
    assert value(found[0], "00080050") == "ACC-A"


def test_instances_of_a_series_in_instance_number_order(dicomweb, archive):
    found = dicomweb.search_for_instances(
        study_instance_uid=STUDY_A, series_instance_uid=SERIES_A_CT
    )
    second = dicomweb.search_for_instances(
        study_instance_uid=STUDY_A,
        series_instance_uid=SERIES_A_CT,
        search_filters={"InstanceNumber": "2"},
    )

    assert [value(i, "00200013") for i in found] == [1, 2]
    first = found[0]
    expected = next(ds for ds in archive.a_ct if ds.InstanceNumber == 1)
    assert value(first, "00080018") == expected.SOPInstanceUID
    assert value(first, "00080016") == expected.SOPClassUID
    assert (value(first, "00280010"), value(first, "00280011")) == (16, 16)
    assert value(first, "00280100") == 16  # BitsAllocated, from the stored header
    assert value(first, "00280008") == 1
    assert urlsplit(value(first, "00081190")).path == (
        f"/dicomweb/studies/{STUDY_A}/series/{SERIES_A_CT}/instances/{expected.SOPInstanceUID}"
    )
    assert [value(i, "00200013") for i in second] == [2]


def test_instance_level_includefield_reads_the_instance_header(dicomweb, archive):
    [found] = dicomweb.search_for_instances(
        study_instance_uid=STUDY_A,
        series_instance_uid=SERIES_A_PT,
        fields=["RescaleIntercept", "PhotometricInterpretation"],
    )

    assert value(found, "00281052") == -1024
    assert value(found, "00280004") == "MONOCHROME2"


def test_instances_of_a_study_and_of_the_archive(dicomweb, archive):
    in_study = dicomweb.search_for_instances(study_instance_uid=STUDY_A)
    mr_anywhere = dicomweb.search_for_instances(search_filters={"SOPClassUID": MRImageStorage})

    assert len(in_study) == 3
    assert {value(i, "0020000E") for i in in_study} == {SERIES_A_CT, SERIES_A_PT}
    assert all(value(i, "00080060") in ("CT", "PT") for i in in_study)  # series attributes
    [mr] = mr_anywhere
    assert value(mr, "0020000D") == MR_SMALL
    assert value(mr, "00100010") == {"Alphabetic": "CompressedSamples^MR1"}


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("studies", {"Nonsense": "1"}, "'Nonsense' is not a query parameter"),
        ("studies", {"Modality": "CT"}, "Modality cannot be used as a matching key here"),
        ("studies", {"StudyDate": "2024-13-45x"}, "is not a date"),
        ("studies", {"StudyInstanceUID": "1.2.abc"}, "a UID is digits and dots"),
        ("studies", {"limit": "ten"}, "limit must be a whole number"),
        ("studies", {"offset": "-1"}, "offset must be a whole number"),
        ("studies", {"includefield": "NotAKeyword"}, "includefield"),
        ("studies", {"fuzzymatching": "maybe"}, "fuzzymatching must be true or false"),
        ("studies", {"PatientName": "*a*b*c*d*e*f"}, "wildcards"),
        ("studies", {"00081111.00081150": "1.2"}, "inside sequences"),
        (f"studies/{STUDY_A}/series", {"PatientName": "Doe"}, "PatientName cannot be used"),
        ("series", {"SeriesNumber": "one"}, "SeriesNumber must be a whole number"),
    ],
)
def test_invalid_queries_are_400_with_a_reason(
    peer_session, live_server, archive, path, params, message
):
    response = qido(peer_session, live_server, path, **params)

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert message in response.text


def test_dicomweb_client_sees_invalid_query_as_http_error(dicomweb, archive):
    with pytest.raises(requests.HTTPError) as error:
        dicomweb.search_for_studies(search_filters={"NoSuchKeyword": "x"})

    assert error.value.response.status_code == 400


def test_unsupported_matching_flags_are_ignored_with_a_warning(peer_session, live_server, archive):
    response = qido(peer_session, live_server, "studies", emptyvaluematching="true")

    assert response.status_code == 200
    assert "emptyvaluematching parameter is not supported" in response.headers["Warning"]


def test_a_client_that_cannot_take_json_gets_406(peer_session, live_server, archive):
    response = peer_session.get(
        f"{live_server.url}/dicomweb/studies",
        headers={"Accept": 'multipart/related; type="application/dicom+xml"'},
    )

    assert response.status_code == 406


# --- query counts: no N+1 at any level -----------------------------------------------------
# Each request through the session costs two queries before the view runs:
#   1. the session row, 2. the user row.
AUTH_QUERIES = 2


def test_study_search_is_one_query_however_many_studies(
    clinician_client, django_assert_num_queries
):
    fill_archive()
    # The first read of a window is audited (studies.audit.dicomweb); later ones cost nothing.
    clinician_client.get("/dicomweb/studies")
    for with_fields in ("", "InstitutionName"):
        # 3. the page of studies, patients joined, headers for includefield as a subquery
        with django_assert_num_queries(AUTH_QUERIES + 1):
            response = clinician_client.get("/dicomweb/studies", {"includefield": with_fields})
        assert len(json.loads(response.content)) == 5


def test_series_and_instance_searches_are_one_query_each(
    clinician_client, django_assert_num_queries
):
    fill_archive()
    requests_and_sizes = [
        ("/dicomweb/series", {"includefield": "all"}, 6),
        (f"/dicomweb/studies/{STUDY_A}/series", {}, 2),
        ("/dicomweb/instances", {"PatientName": "Doe*"}, 4),
        (f"/dicomweb/studies/{STUDY_A}/series/{SERIES_A_CT}/instances", {}, 2),
    ]
    for url, params, size in requests_and_sizes:
        clinician_client.get(url, params)  # the audited first read (studies.audit.dicomweb)
        # 3. the page of rows with their series, study and patient joined
        with django_assert_num_queries(AUTH_QUERIES + 1):
            response = clinician_client.get(url, params)
        assert len(json.loads(response.content)) == size, url
