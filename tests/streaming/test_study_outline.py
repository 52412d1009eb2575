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
