"""python manage.py ensure_admin: make sure an administrator account exists.

With DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD set, that account is created
(or its password left alone if it exists). Without them, and with no superuser yet, an
``admin`` account is created with a generated password printed once, here and never again.
"""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the administrator account if there is none."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip()
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        if username and password:
            if User.objects.filter(username=username).exists():
                self.stdout.write(f"Administrator {username!r} already exists.")
                return
            User.objects.create_superuser(
                username, os.environ.get("DJANGO_SUPERUSER_EMAIL", ""), password
            )
            self.stdout.write(f"Created administrator {username!r} from the environment.")
            return
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", "", password)
        self.stdout.write(
            self.style.WARNING(
                f"Created administrator 'admin' with password: {password}\n"
                "(shown once; set DJANGO_SUPERUSER_USERNAME/PASSWORD to choose your own)"
            )
        )
