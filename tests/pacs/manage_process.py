"""Run a management command in its own process against the test database.

Tests that must kill or signal a daemon (``retrieve_worker``, ``dicom_listener``) run it
here. The test passes the test database path and the archive directories in the
environment; settings are otherwise the test settings, so both processes share one file
database.

    python -m tests.pacs.manage_process COMMAND [options]
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "viewerproject.test_settings")
    from django.conf import settings

    # Before django.setup(): no connection exists yet, so the override is the one used.
    settings.DATABASES["default"]["NAME"] = os.environ["PACS_TEST_DATABASE"]
    import django

    django.setup()
    from django.core.management import call_command

    call_command(*argv)


if __name__ == "__main__":
    main(sys.argv[1:])
