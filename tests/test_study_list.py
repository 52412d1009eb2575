"""The clinician study list at /: search, sort, pagination, escaping, query count."""

from __future__ import annotations

import pytest
from django.urls import reverse

from frontend.listing import COLUMNS
from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import make_ct, to_bytes

URL = reverse("frontend:study-list")


def add_study(**attributes) -> str:
    """Ingest one CT instance (a new study unless study_uid is given); return the study UID."""
    result = ingest_bytes(to_bytes(make_ct(**attributes)), Instance.Source.IMPORT)
    assert result.status == "stored", result.reason
    return result.study_instance_uid


def listed(response) -> list[str]:
    """Study Instance UIDs on the page, in display order."""
    page = response.context["page"]
    return [] if page is None else [study.study_instance_uid for study in page.object_list]


@pytest.fixture
def three_studies(db) -> dict[str, str]:
    return {
        "doe": add_study(
            patient_name="Doe^Jane",
            patient_id="PAT-1",
            AccessionNumber="ACC-100",
            StudyDate="20240102",
            StudyDescription="CT CHEST",
        ),
        "smith": add_study(
            patient_name="Smith^John",
            patient_id="PAT-2",
            AccessionNumber="ACC-200",
            StudyDate="20240315",
            StudyDescription="MR BRAIN",
            Modality="MR",
        ),
        "dole": add_study(
            patient_name="Dole^Bob",
            patient_id="XYZ-9",
            AccessionNumber="B-300",
            StudyDate="20231120",
            StudyDescription="CT ABDOMEN",
        ),
    }


def test_anonymous_user_is_redirected_to_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert f"next={URL}" in response["Location"]


def test_lists_every_study_newest_first_by_default(clinician_client, three_studies):
    response = clinician_client.get(URL)
    assert response.status_code == 200
    assert listed(response) == [three_studies["smith"], three_studies["doe"], three_studies["dole"]]
    content = response.content.decode()
    assert "DOE, Jane".lower() in content.lower()
    assert "2024-03-15" in content
    assert "Studies 1–3 of 3" in content


def test_each_row_links_to_its_study_detail_page(clinician_client, three_studies):
    content = clinician_client.get(URL).content.decode()
    for uid in three_studies.values():
        assert f'href="{reverse("frontend:study-detail", args=[uid])}"' in content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"patient_name": "Do*"}, {"doe", "dole"}),
        ({"patient_name": "D?e^*"}, {"doe"}),
        # Typed without wildcards, a name is a case-insensitive prefix.
        ({"patient_name": "smith"}, {"smith"}),
        ({"patient_name": "*^Bob"}, {"dole"}),
        ({"patient_id": "PAT-2"}, {"smith"}),
        ({"patient_id": "PAT-*"}, {"doe", "smith"}),
        ({"accession_number": "ACC-100"}, {"doe"}),
        ({"accession_number": "ACC*"}, {"doe", "smith"}),
        ({"date_from": "2024-01-01"}, {"doe", "smith"}),
        ({"date_to": "2024-01-02"}, {"doe", "dole"}),
        ({"date_from": "2024-01-02", "date_to": "2024-01-02"}, {"doe"}),
        ({"date_from": "20231101", "date_to": "20231130"}, {"dole"}),
        ({"modality": "MR"}, {"smith"}),
        ({"modality": "CT"}, {"doe", "dole"}),
        ({"patient_name": "Do*", "date_from": "2024-01-01"}, {"doe"}),
        ({"patient_name": "nobody"}, set()),
    ],
)
def test_search_criteria_narrow_the_list(clinician_client, three_studies, query, expected):
    response = clinician_client.get(URL, query)
    assert response.status_code == 200
    assert set(listed(response)) == {three_studies[key] for key in expected}


def test_empty_result_says_so(clinician_client, three_studies):
    response = clinician_client.get(URL, {"patient_id": "NOPE"})
    assert "No studies match this search." in response.content.decode()


def test_modality_select_offers_only_modalities_in_the_archive(clinician_client, three_studies):
    response = clinician_client.get(URL)
    choices = [value for value, _ in response.context["form"].fields["modality"].choices]
    assert choices == ["", "CT", "MR"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date_from": "2024-13-45"}, "Enter a valid date."),
        ({"date_to": "yesterday"}, "Enter a valid date."),
        ({"date_from": "2024-03-01", "date_to": "2024-01-01"}, "before the start date"),
        ({"modality": "XX"}, "Select a valid choice."),
        ({"accession_number": "A" * 17}, "at most 16 characters"),
    ],
)
def test_bad_search_input_is_explained_not_a_crash(clinician_client, three_studies, query, message):
    response = clinician_client.get(URL, query)
    assert response.status_code == 200
    content = response.content.decode()
    assert message in content
    assert 'role="alert"' in content
    # No list that silently ignores part of the search.
    assert listed(response) == []


def test_unknown_sort_key_falls_back_to_newest_first_with_a_notice(clinician_client, three_studies):
    response = clinician_client.get(URL, {"sort": "patient__password"})
    assert response.status_code == 200
    assert listed(response) == [three_studies["smith"], three_studies["doe"], three_studies["dole"]]
    assert "Unknown sort order" in response.content.decode()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("date", ["dole", "doe", "smith"]),
        ("-date", ["smith", "doe", "dole"]),
        ("patient_name", ["doe", "dole", "smith"]),
        ("-patient_name", ["smith", "dole", "doe"]),
        ("patient_id", ["doe", "smith", "dole"]),
        ("accession", ["doe", "smith", "dole"]),
        ("-accession", ["dole", "smith", "doe"]),
        ("description", ["dole", "doe", "smith"]),
        ("modalities", ["doe", "dole", "smith"]),
    ],
)
def test_columns_sort_in_both_directions(clinician_client, three_studies, sort, expected):
    response = clinician_client.get(URL, {"sort": sort})
    assert listed(response) == [three_studies[key] for key in expected]


def test_count_columns_sort_by_number_of_series_and_images(clinician_client, three_studies):
    # A second series (two images) for Smith's study.
    series = "1.2.826.0.1.3680043.8.498.77"
    for number in (1, 2):
        add_study(study_uid=three_studies["smith"], series_uid=series, instance_number=number)
    by_series = listed(clinician_client.get(URL, {"sort": "-series"}))
    by_images = listed(clinician_client.get(URL, {"sort": "-instances"}))
    assert by_series[0] == three_studies["smith"]
    assert by_images[0] == three_studies["smith"]
    assert listed(clinician_client.get(URL, {"sort": "instances"}))[-1] == three_studies["smith"]


def test_every_column_header_is_a_sort_link_that_keeps_the_search(clinician_client, three_studies):
    response = clinician_client.get(URL, {"patient_name": "Do*", "sort": "-date", "page": "1"})
    content = response.content.decode()
    for column in COLUMNS:
        if column.key != "date":
            first = f"{'-' if column.first_descending else ''}{column.key}"
            assert f'href="?patient_name=Do%2A&amp;sort={first}"' in content
    # The active column's link flips the direction; search is kept, page is dropped.
    assert 'href="?patient_name=Do%2A&amp;sort=date"' in content
    assert 'aria-sort="descending"' in content


def test_pages_through_a_long_list(clinician_client, settings, db):
    settings.STUDY_LIST_PAGE_SIZE = 2
    uids = [add_study(StudyDate=f"202401{day:02d}") for day in range(1, 6)]
    newest_first = list(reversed(uids))

    first = clinician_client.get(URL)
    assert listed(first) == newest_first[:2]
    assert "Page 1 of 3" in first.content.decode()
    assert listed(clinician_client.get(URL, {"page": "2"})) == newest_first[2:4]
    assert listed(clinician_client.get(URL, {"page": "3"})) == newest_first[4:]


@pytest.mark.parametrize(("page", "expected_number"), [("abc", 1), ("0", 3), ("999", 3), ("", 1)])
def test_bad_page_numbers_land_on_a_real_page(
    clinician_client, settings, db, page, expected_number
):
    settings.STUDY_LIST_PAGE_SIZE = 2
    for day in range(1, 6):
        add_study(StudyDate=f"202401{day:02d}")
    response = clinician_client.get(URL, {"page": page})
    assert response.status_code == 200
    assert response.context["page"].number == expected_number


def test_studies_sharing_a_date_page_without_repeats(clinician_client, settings, db):
    settings.STUDY_LIST_PAGE_SIZE = 2
    uids = {add_study(StudyDate="20240101") for _ in range(5)}
    seen = []
    for page in ("1", "2", "3"):
        seen += listed(clinician_client.get(URL, {"page": page}))
    assert sorted(seen) == sorted(uids)


@pytest.mark.parametrize("study_count", [1, 12])
def test_list_query_count_does_not_grow_with_studies(
    clinician_client, django_assert_num_queries, settings, study_count
):
    settings.STUDY_LIST_PAGE_SIZE = 10
    for index in range(study_count):
        add_study(patient_id=f"P{index}", patient_name=f"Patient^{index}")
    with django_assert_num_queries(5):
        # 1. the session row
        # 2. the signed-in user
        # 3. distinct modalities for the search form's select
        # 4. COUNT(*) for the paginator
        # 5. one page of studies JOIN patient (select_related: no query per row)
        response = clinician_client.get(URL, {"sort": "patient_name"})
    assert len(listed(response)) == min(study_count, 10)


def test_hostile_dicom_text_is_rendered_inert(clinician_client, db):
    add_study(
        patient_name="<script>alert(1)</script>^Eve",
        StudyDescription='<img src=x onerror="alert(2)">',
        AccessionNumber="<b>A</b>",
    )
    response = clinician_client.get(URL)
    content = response.content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "<img src=x" not in content
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in content
    assert "&lt;b&gt;A&lt;/b&gt;" in content


def test_search_value_echoed_in_the_form_is_escaped(clinician_client, db):
    response = clinician_client.get(URL, {"patient_id": '"><script>x</script>'})
    content = response.content.decode()
    assert "<script>x</script>" not in content
    assert "&quot;&gt;&lt;script&gt;x&lt;/script&gt;" in content
