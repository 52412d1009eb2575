"""Run the DICOM listener: C-ECHO and C-STORE SCP on DICOM_BIND:DICOM_PORT."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from studies.pacs.listener import Listener


class Command(BaseCommand):
    help = (
        "Run the DICOM listener (Verification and Storage SCP) until SIGTERM or Ctrl-C. "
        "Only known senders (admin: Known senders, PACS nodes) may store."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default=None, help="address (default DICOM_BIND)")
        parser.add_argument("--port", type=int, default=None, help="port (default DICOM_PORT)")
        parser.add_argument("--aet", default=None, help="AE title (default DICOM_AE_TITLE)")

    def handle(self, *args, bind=None, port=None, aet=None, **options) -> None:
        try:
            listener = Listener(host=bind, port=port, ae_title=aet)
        except OSError as exc:
            where = f"{bind or settings.DICOM_BIND}:{port or settings.DICOM_PORT}"
            raise CommandError(f"cannot listen on {where}: {exc.strerror or exc}")
        except ValueError as exc:
            raise CommandError(str(exc))
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        listener.start()
        self.stdout.write(
            f"DICOM listener {listener.ae_title} on {listener.host}:{listener.port}",
        )
        self.stdout.flush()
        stop.wait()
        self.stdout.write("stopping: no new associations, finishing running ones")
        listener.stop()
