"""Logins and failed logins are audit events (PS3.15 A.5.3.7 User Authentication).

Connected when ``studies.audit.admin`` is imported (by ``studies.admin``). A failed login
records the name tried, never the password (Django has already cleansed the credentials).
"""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from studies import audit


@receiver(user_logged_in, dispatch_uid="audit-login")
def _logged_in(sender, request, user, **kwargs) -> None:
    audit.record(audit.Kind.LOGIN, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    audit.record(
        audit.Kind.LOGIN_FAILED,
        request=request,
        who=str(credentials.get("username", ""))[:150],
        outcome=audit.Outcome.MINOR_FAILURE,
    )
