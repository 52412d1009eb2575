from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "studies"
    verbose_name = "DICOM archive"

    def ready(self) -> None:
        import logging

        import pydicom  # noqa: F401  (sets its own logger level on import; ours must win)
        from django.conf import settings

        from studies import signals  # noqa: F401  (connects file clean-up on delete)

        # pydicom logs every lenient read of a non-conformant value from a stranger's file;
        # ingest reports what matters as a rejection reason instead.
        logging.getLogger("pydicom").setLevel(settings.PYDICOM_LOG_LEVEL)
