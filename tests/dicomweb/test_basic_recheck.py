"""The per-request re-check of a remembered HTTP Basic login reads the user row afresh on a
plain cursor; the user it builds is the one the ORM would give."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory
from django.utils import timezone

from studies.dicomweb import auth


@pytest.mark.django_db
def test_the_user_read_on_a_cursor_equals_the_orm_user_field_by_field():
    user = User.objects.create_user("reader", password="reader-pass-123", first_name="Ann")
    User.objects.filter(pk=user.pk).update(last_login=timezone.now() - timedelta(days=1))
    expected = User.objects.get(pk=user.pk)

    loaded = auth._load_user(user.pk)

    assert isinstance(loaded, User) and loaded.pk == user.pk
    for field in User._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert timezone.is_aware(loaded.last_login) and timezone.is_aware(loaded.date_joined)
    assert loaded.is_active is True and loaded._state.adding is False


@pytest.mark.django_db
def test_a_deleted_user_reads_as_none():
    user = User.objects.create_user("gone", password="gone-pass-123")
    pk = user.pk
    user.delete()

    assert auth._load_user(pk) is None


@pytest.mark.django_db
def test_the_re_check_refuses_a_deactivated_user_and_a_changed_password():
    user = User.objects.create_user("reader", password="reader-pass-123")
    stamp = auth._password_stamp(user)
    assert auth._still_valid(user.pk, stamp) == user

    User.objects.filter(pk=user.pk).update(is_active=False)
    assert auth._still_valid(user.pk, stamp) is None

    User.objects.filter(pk=user.pk).update(is_active=True)
    user.set_password("another-pass-456")
    user.save()
    assert auth._still_valid(user.pk, stamp) is None


def _request():
    return RequestFactory().get("/dicomweb/studies")  # axes wants the caller's address


def _credentials(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def built_users(monkeypatch):
    """How many times the re-check turned a row into a user (converters and from_db)."""
    built = []
    original = auth._user_of

    def counting(row):
        built.append(row)
        return original(row)

    monkeypatch.setattr(auth, "_user_of", counting)
    return built


@pytest.mark.django_db
def test_an_unchanged_user_row_is_still_read_per_request_but_not_rebuilt(
    built_users, django_assert_num_queries
):
    user = User.objects.create_user("reader", password="reader-pass-123", first_name="Ann")
    credentials = _credentials("reader", "reader-pass-123")
    first = auth.basic_user(_request(), credentials)  # the password check
    second = auth.basic_user(_request(), credentials)  # the shared cache's stamp: row rebuilt
    assert len(built_users) == 1

    with django_assert_num_queries(1):  # the user row, read afresh
        third = auth.basic_user(_request(), credentials)

    assert len(built_users) == 1
    assert first == second == third == user
    assert third is not second and third.first_name == "Ann" and third.is_active


@pytest.mark.django_db
def test_a_remembered_login_ends_when_its_row_changes_without_a_signal(built_users):
    user = User.objects.create_user("reader", password="reader-pass-123", first_name="Ann")
    credentials = _credentials("reader", "reader-pass-123")
    for _ in range(3):
        assert auth.basic_user(_request(), credentials) == user

    User.objects.filter(pk=user.pk).update(first_name="Bea")
    renamed = auth.basic_user(_request(), credentials)
    User.objects.filter(pk=user.pk).update(is_active=False)
    deactivated = auth.basic_user(_request(), credentials)

    assert renamed is not None and renamed.first_name == "Bea"
    assert deactivated is None


@pytest.mark.django_db
def test_a_remembered_login_ends_with_a_new_password():
    user = User.objects.create_user("reader", password="reader-pass-123")
    credentials = _credentials("reader", "reader-pass-123")
    for _ in range(3):
        assert auth.basic_user(_request(), credentials) == user

    user.set_password("another-pass-456")
    User.objects.filter(pk=user.pk).update(password=user.password)

    assert auth.basic_user(_request(), credentials) is None
    assert auth.basic_user(_request(), _credentials("reader", "another-pass-456")) == user
