"""Searching a PACS with C-FIND at each level, against a real Orthanc, and the checks on
search terms before anything goes on the wire."""

from __future__ import annotations

import pytest

from studies.ingest import ingest_bytes
from studies.models import Instance, PacsNode
from studies.pacs import query, scu
from studies.queries import InvalidQuery
from tests.dicom_files import make_ct, to_bytes
from tests.peers.ports import free_port

Terms = query.SearchTerms


# --- terms: checked before they reach a PACS ----------------------------------------------


def test_terms_are_trimmed_and_modality_upper_cased():
    terms = Terms.from_mapping({"patient_name": "  Doe*  ", "modality": "ct"})
    assert (terms.patient_name, terms.modality) == ("Doe*", "CT")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("20240102", "20240102"),
        ("20240101-20240131", "20240101-20240131"),
        ("-20240131", "-20240131"),
        ("20240101-", "20240101-"),
        ("2024-01-01", "20240101"),
        ("2024-01-01-2024-01-31", "20240101-20240131"),
    ],
)
def test_study_dates_become_dicom_date_ranges(given, expected):
    assert Terms.from_mapping({"study_date": given}).study_date == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"patient_name": "Doe\\Smith"},  # a backslash would make two values
        {"patient_id": "x" * 65},
        {"accession_number": "A\x00"},
        {"modality": "C-T"},
        {"study_date": "2024-13-45"},
        {"study_date": "20240201-20240101"},
        {"study_date": "-"},
        {"study_instance_uid": "1.2.abc"},
    ],
)
def test_bad_terms_are_refused_with_a_reason(bad):
    with pytest.raises(InvalidQuery):
        Terms.from_mapping(bad)


def test_series_search_needs_the_study():
    with pytest.raises(InvalidQuery, match="study instance UID"):
        query.identifier("SERIES", Terms())


def test_unknown_level_is_refused():
    with pytest.raises(InvalidQuery, match="level"):
        query.identifier("FRAME", Terms(patient_id="1"))


def test_identifier_asks_for_return_keys_and_sets_matching_keys():
    ds = query.identifier("STUDY", Terms(patient_id="P1", study_date="20240101-"))
    assert ds.QueryRetrieveLevel == "STUDY"
    assert ds.PatientID == "P1" and ds.StudyDate == "20240101-"
    assert ds.StudyInstanceUID == "" and ds.ModalitiesInStudy == ""


# --- C-FIND against Orthanc -----------------------------------------------------------------


@pytest.fixture
def archive(pacs):
    """Two patients in Orthanc: a CT study of Doe and an MR study of Roe."""
    ct_study, ct_series, ct_sops = pacs.load_study(
        series=2, per_series=2, patient_id="PID-DOE", patient_name="Doe^Jane"
    )
    mr_study, _, _ = pacs.load_study(
        per_series=1,
        patient_id="PID-ROE",
        patient_name="Roe^Richard",
        Modality="MR",
        StudyDate="20230505",
        AccessionNumber="ACC-MR",
    )
    return {"ct": (ct_study, ct_series, ct_sops), "mr": mr_study}


@pytest.mark.orthanc
def test_find_at_patient_level_with_a_name_wildcard(pacs, archive):
    result = query.search(pacs.node, "PATIENT", Terms(patient_name="Doe*"))
    assert [(r["patient_id"], r["patient_name"]) for r in result.rows] == [("PID-DOE", "Doe^Jane")]
    assert result.rows[0]["remote"] is True and result.rows[0]["node"] == "orthanc"


@pytest.mark.orthanc
@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ({"patient_id": "PID-ROE"}, "mr"),
        ({"accession_number": "ACC-MR"}, "mr"),
        ({"study_date": "20230101-20231231"}, "mr"),
        ({"modality": "CT"}, "ct"),
        ({"patient_name": "*oe^J*"}, "ct"),
    ],
)
def test_find_at_study_level_matches_each_kind_of_term(pacs, archive, terms, expected):
    result = query.search(pacs.node, "STUDY", Terms.from_mapping(terms))
    wanted = archive["ct"][0] if expected == "ct" else archive["mr"]
    assert [r["study_instance_uid"] for r in result.rows] == [wanted]


@pytest.mark.orthanc
def test_find_at_study_level_returns_the_study_attributes(pacs, archive):
    (row,) = query.search(pacs.node, "STUDY", Terms(patient_id="PID-ROE")).rows
    assert row["study_date"] == "2023-05-05"
    assert row["modalities"] == ["MR"]
    assert row["accession_number"] == "ACC-MR"
    assert row["number_of_instances"] == 1
    assert row["local_instances"] is None  # not in our archive


@pytest.mark.orthanc
def test_find_at_series_and_image_level(pacs, archive):
    study, series, sops = archive["ct"]
    series_rows = query.search(pacs.node, "SERIES", Terms(study_instance_uid=study)).rows
    assert sorted(r["series_instance_uid"] for r in series_rows) == sorted(series)
    assert {r["number_of_instances"] for r in series_rows} == {2}

    image_rows = query.search(
        pacs.node, "IMAGE", Terms(study_instance_uid=study, series_instance_uid=series[0])
    ).rows
    assert sorted(r["sop_instance_uid"] for r in image_rows) == sorted(sops[:2])


@pytest.mark.orthanc
def test_remote_rows_say_what_is_already_here(pacs, archive):
    study, _, sops = archive["ct"]
    local = make_ct(study_uid=study, sop_uid=sops[0], patient_id="PID-DOE")
    ingest_bytes(to_bytes(local), Instance.Source.IMPORT)
    (row,) = query.search(pacs.node, "STUDY", Terms(study_instance_uid=study)).rows
    assert row["local_instances"] == 1
    images = query.search(pacs.node, "IMAGE", Terms(study_instance_uid=study)).rows
    assert {r["sop_instance_uid"]: r["local"] for r in images}[sops[0]] is True


@pytest.mark.orthanc
def test_find_stops_at_the_limit_and_says_so(pacs, archive):
    result = query.search(pacs.node, "PATIENT", Terms(patient_name="*"), limit=1)
    assert len(result.rows) == 1
    assert result.truncated is True


@pytest.mark.orthanc
def test_priors_list_local_and_remote_studies_of_the_patient(pacs, archive):
    study, _, _ = archive["ct"]
    other = make_ct(patient_id="PID-DOE", StudyDate="20200101")
    ingest_bytes(to_bytes(other), Instance.Source.IMPORT)
    down = PacsNode.objects.create(name="down", ae_title="DOWN", host="127.0.0.1", port=free_port())

    answer = query.prior_studies("PID-DOE")
    by_uid = {s["study_instance_uid"]: s for s in answer["studies"]}
    assert by_uid[study]["remote"] is True
    assert by_uid[other.StudyInstanceUID]["remote"] is False
    assert [s["study_date"] for s in answer["studies"]] == ["2024-01-02", "2020-01-01"]
    assert "cannot connect" in answer["errors"][down.name]


def test_find_on_a_node_that_is_down_raises_a_clear_error(transactional_db, settings):
    settings.DICOM_CONNECT_TIMEOUT = 5
    node = PacsNode.objects.create(name="down", ae_title="DOWN", host="127.0.0.1", port=free_port())
    with pytest.raises(scu.PacsError, match="cannot connect to PACS 'down'.*refused"):
        query.search(node, "STUDY", Terms(patient_id="x"))


@pytest.mark.orthanc
def test_node_that_does_not_know_our_ae_title_is_reported_as_such(orthanc_factory, db):
    peer = orthanc_factory()  # no modalities: Orthanc refuses C-FIND from strangers
    node = PacsNode.objects.create(
        name="strict", ae_title=peer.aet, host="127.0.0.1", port=peer.dicom_port
    )
    with pytest.raises(scu.PacsError, match="knows our AE title 'DICOMVIEWER'"):
        query.search(node, "STUDY", Terms(patient_id="x"))


@pytest.mark.orthanc
def test_echo_reports_success_and_failure(pacs, settings):
    assert scu.echo(pacs.node).ok
    pacs.node.port = free_port()
    settings.DICOM_CONNECT_TIMEOUT = 5
    result = scu.echo(pacs.node)
    assert not result.ok and "cannot connect" in result.message
