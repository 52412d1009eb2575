from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "studies"
    verbose_name = "DICOM archive"

    def ready(self) -> None:
        from studies import signals  # noqa: F401  (connects file clean-up on delete)
