"""The project's own app config: wiring of the security pieces that need a signal."""

from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "viewerproject"
    label = "viewerproject_security"
    verbose_name = "Security"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from viewerproject.session_idle import on_login

        user_logged_in.connect(on_login, dispatch_uid="viewerproject.session_idle.on_login")
