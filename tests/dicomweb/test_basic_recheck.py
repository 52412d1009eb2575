"""The per-request re-check of a remembered HTTP Basic login reads the user row afresh on a
plain cursor; the user it builds is the one the ORM would give."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
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
