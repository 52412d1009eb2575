"""Access checks of the socket (lookup.visible_study_uids) run a statement compiled once per
user and number of studies: its answers must stay those of studies.access, as rights change."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from studies.access import visible_studies
from studies.models import EmrIntegration, LaunchGrant, LaunchScopeStudy
from studies.streaming import lookup
from tests.dicom_files import make_ct
from tests.streaming.conftest import store

pytestmark = pytest.mark.django_db


def _by_orm(user, uids):
    return set(
        visible_studies(user)
        .filter(study_instance_uid__in=uids)
        .values_list("study_instance_uid", flat=True)
    )


@pytest.fixture
def studies():
    return [store(make_ct()).study for _ in range(3)]


def test_the_compiled_check_is_kept_and_answers_as_the_orm(clinician, studies):
    asked = [studies[0], studies[2], "1.2.3.404"]
    assert lookup.visible_study_uids(clinician, asked) == {studies[0], studies[2]}
    assert lookup._prepared(clinician, 3) is not None  # compiled, not the ORM's fallback
    assert lookup.visible_study_uids(clinician, asked) == _by_orm(clinician, asked)


def test_a_user_deactivated_since_the_statement_was_compiled_sees_nothing(clinician, studies):
    assert lookup.visible_study_uids(clinician, studies[:1]) == {studies[0]}
    get_user_model().objects.filter(pk=clinician.pk).update(is_active=False)
    assert lookup.visible_study_uids(clinician, studies[:1]) == set()


def test_a_launch_grant_sees_its_study_until_it_expires(studies):
    user = get_user_model().objects.create_user("emr-launch-test")
    integration = EmrIntegration.objects.create(name="ris", shared_secret="s" * 32)
    grant = LaunchGrant.objects.create(
        user=user,
        integration=integration,
        request_type=LaunchGrant.RequestType.STUDY,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    LaunchScopeStudy.objects.create(grant=grant, study_instance_uid=studies[1])
    assert lookup.visible_study_uids(user, studies) == {studies[1]}
    # The compiled statement takes the time of each call, not of its compilation.
    LaunchGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now())
    assert lookup.visible_study_uids(user, studies) == set() == _by_orm(user, studies)


def test_an_inactive_or_anonymous_user_is_answered_without_a_statement(studies):
    from django.contrib.auth.models import AnonymousUser

    assert lookup.visible_study_uids(AnonymousUser(), studies) == set()
    assert lookup._prepared(AnonymousUser(), len(studies)) is None
