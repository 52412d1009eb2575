"""studies.access: the one place that decides who sees which study."""

import pytest
from django.contrib.auth.models import AnonymousUser

from studies.access import can_view_study, visible_studies
from tests.dicom_files import make_ct
from tests.streaming.conftest import store

pytestmark = pytest.mark.django_db


def test_an_active_user_sees_every_study(clinician):
    first, second = store(make_ct()), store(make_ct())
    uids = set(visible_studies(clinician).values_list("study_instance_uid", flat=True))
    assert uids == {first.study, second.study}
    assert can_view_study(clinician, first.study)
    assert not can_view_study(clinician, "1.2.3.404")


def test_anonymous_users_see_nothing():
    stored = store(make_ct())
    assert not visible_studies(AnonymousUser()).exists()
    assert not can_view_study(AnonymousUser(), stored.study)


def test_a_user_deactivated_after_login_loses_access_on_the_next_query(clinician):
    stored = store(make_ct())
    assert can_view_study(clinician, stored.study)
    # Another process deactivates the account; this process still holds the old object.
    type(clinician).objects.filter(pk=clinician.pk).update(is_active=False)
    assert clinician.is_active
    assert not can_view_study(clinician, stored.study)
