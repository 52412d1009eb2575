"""The ``study`` message from the index: a fixed number of queries, stack order by geometry."""

import pytest
from pydicom.uid import generate_uid

from studies.streaming.study_outline import load_study_outline, stack_order
from tests.dicom_files import make_ct
from tests.streaming.conftest import store


def instance(uid, number, z=None, orientation=(1, 0, 0, 0, 1, 0)):
    return {
        "uid": uid,
        "number": number,
        "position": None if z is None else [0.0, 0.0, z],
        "orientation": list(orientation) if z is not None else None,
    }


def test_stack_follows_the_slice_normal_in_the_direction_instance_numbers_rise():
    # Numbers 1..3 go down in z (head first): keep that direction, fix the shuffled one.
    stack = [instance("a", 1, 10.0), instance("c", 3, -10.0), instance("b", 7, 0.0)]
    assert [i["uid"] for i in stack_order(stack)] == ["a", "b", "c"]
    # Numbers rising with z: feet first.
    stack = [instance("a", 1, -10.0), instance("b", 2, 0.0), instance("c", 3, 10.0)]
    assert [i["uid"] for i in stack_order(stack)] == ["a", "b", "c"]


def test_stack_without_full_geometry_is_ordered_by_instance_number():
    stack = [instance("b", 2, 5.0), instance("a", 1), instance("n", None), instance("c", 3, 1.0)]
    assert [i["uid"] for i in stack_order(stack)] == ["a", "b", "c", "n"]


def test_stack_with_mixed_orientations_is_ordered_by_instance_number():
    stack = [
        instance("b", 2, 5.0),
        instance("a", 1, 9.0, orientation=(0, 1, 0, 0, 0, -1)),
    ]
    assert [i["uid"] for i in stack_order(stack)] == ["a", "b"]


@pytest.mark.django_db
def test_outline_takes_three_queries_whatever_the_number_of_series_and_instances(
    clinician, django_assert_num_queries
):
    study = generate_uid()
    for series_number in (3, 1, 2):
        series = generate_uid()
        for number in range(1, 5):
            store(
                make_ct(
                    study_uid=study,
                    series_uid=series,
                    instance_number=number,
                    SeriesNumber=series_number,
                    ImagePositionPatient=[0, 0, -number * 2.5],
                    ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
                    PixelSpacing=[0.5, 0.5],
                )
            )
    # 1 study with patient (access check inside), 2 series, 3 instances.
    with django_assert_num_queries(3):
        outline = load_study_outline(clinician, study)
    assert [s["number"] for s in outline["series"]] == [1, 2, 3]
    assert all(len(s["instances"]) == 4 for s in outline["series"])
    numbers = [i["number"] for i in outline["series"][0]["instances"]]
    assert numbers == [1, 2, 3, 4]


@pytest.mark.django_db
def test_outline_is_none_for_an_unknown_study_or_an_anonymous_user(clinician):
    from django.contrib.auth.models import AnonymousUser

    stored = store(make_ct())
    assert load_study_outline(clinician, "1.2.3.404") is None
    assert load_study_outline(AnonymousUser(), stored.study) is None
    assert load_study_outline(clinician, stored.study)["study"] == stored.study


def _store_slices(study, series, numbers):
    return [
        store(
            make_ct(
                study_uid=study,
                series_uid=series,
                instance_number=number,
                ImagePositionPatient=[0, 0, -number * 2.5],
                ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
            )
        )
        for number in numbers
    ]


def _uids(outline):
    return [i["uid"] for i in outline["series"][0]["instances"]]


@pytest.mark.django_db
def test_an_unchanged_study_is_outlined_again_without_reading_its_instances(
    clinician, django_assert_num_queries
):
    from studies.streaming.study_outline import outlines

    study = generate_uid()
    _store_slices(study, generate_uid(), [1, 2, 3])
    first = load_study_outline(clinician, study)
    read = outlines.rows_read
    # 1 study with patient (access check inside), 2 series with their instance counts.
    with django_assert_num_queries(2):
        again = load_study_outline(clinician, study)
    assert again == first and outlines.rows_read == read


@pytest.mark.django_db
def test_an_instance_stored_since_is_read_alone_and_takes_its_place_in_the_stack(clinician):
    from studies.streaming.study_outline import outlines

    study, series = generate_uid(), generate_uid()
    slices = _store_slices(study, series, [1, 2, 4])
    load_study_outline(clinician, study)
    read = outlines.rows_read
    (third,) = _store_slices(study, series, [3])
    outline = load_study_outline(clinician, study)
    assert outlines.rows_read == read + 1
    assert _uids(outline) == [s.instance for s in (slices[0], slices[1], third, slices[2])]


@pytest.mark.django_db
def test_an_instance_removed_leaves_the_outline_even_when_another_arrived(clinician):
    from studies.counts import recount_studies
    from studies.models import Instance

    study, series = generate_uid(), generate_uid()
    slices = _store_slices(study, series, [1, 2, 3])
    load_study_outline(clinician, study)
    removed = Instance.objects.get(sop_instance_uid=slices[1].instance)
    study_id = removed.series.study_id
    removed.delete()
    recount_studies([study_id])
    (fourth,) = _store_slices(study, series, [4])  # as many instances as before
    outline = load_study_outline(clinician, study)
    assert _uids(outline) == [slices[0].instance, slices[2].instance, fourth.instance]


@pytest.mark.django_db
def test_the_outline_text_is_the_outline_with_its_request(clinician):
    import json

    from studies.streaming.study_outline import load_study_text

    study = generate_uid()
    for series_number in (2, 1):
        series = generate_uid()
        for number in (1, 2):
            store(
                make_ct(
                    study_uid=study,
                    series_uid=series,
                    instance_number=number,
                    SeriesNumber=series_number,
                    PatientName='O"Brien^Jo',
                    ImagePositionPatient=[0, 0, -number * 2.5],
                    ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
                )
            )
    for _ in range(2):  # serialised, then from what was kept
        text, targets, firsts, patient = load_study_text(clinician, study, 7)
        outline = load_study_outline(clinician, study)
        assert json.loads(text) == {**outline, "request": 7}
        assert list(firsts) == [s["uid"] for s in outline["series"]]
        assert list(firsts.values()) == [s["instances"][0]["uid"] for s in outline["series"]]
        assert patient["name"] == outline["patient"]["name"]
        assert len(targets) == 4
    assert json.loads(load_study_text(clinician, study, None)[0]) == outline
