"""Run ``manage.py retrieve_worker`` in its own process against the test database.

The kill-and-resume test needs a worker it can SIGKILL. The test passes the test database
path and the archive directories in the environment; settings are otherwise the test
settings, so the worker talks to the same file database as the test process.

    python -m tests.pacs.worker_process [retrieve_worker options]
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

    call_command("retrieve_worker", *argv)


if __name__ == "__main__":
    main(sys.argv[1:])
