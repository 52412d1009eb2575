"""Password guessing is throttled (django-axes), on the login form and on DICOMweb Basic."""

from __future__ import annotations

import base64

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

WRONG = "not-the-password"


def login(client, password: str):
    return client.post("/accounts/login/", {"username": "clinician", "password": password})


def test_login_form_locks_after_the_failure_limit_even_for_the_right_password(client, clinician):
    codes = [login(client, WRONG).status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    # The form again with an error, until the failure that reaches the limit locks.
    assert codes == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    response = login(client, "clinician-pass-123")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_fewer_failures_than_the_limit_still_let_the_right_password_in(client, clinician):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, WRONG)
    response = login(client, "clinician-pass-123")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(clinician.pk)


def test_dicomweb_basic_guessing_locks_the_account_too(client, clinician):
    def basic(password: str):
        token = base64.b64encode(f"clinician:{password}".encode()).decode()
        return client.get("/dicomweb/studies", headers={"Authorization": f"Basic {token}"})

    assert basic("clinician-pass-123").status_code == 200
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert basic(WRONG).status_code in {401, 429}
    # Locked: the correct password no longer opens the door (the cached success included).
    from django.core.cache import cache

    cache.clear()
    assert basic("clinician-pass-123").status_code in {401, 429}
