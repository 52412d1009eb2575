"""Run the DICOM listener: C-ECHO and C-STORE SCP on DICOM_BIND:DICOM_PORT, and, when a
TLS certificate is configured (DICOM_TLS_*), the same over TLS on DICOM_TLS_PORT."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from studies import ingest_pool
from studies.pacs.listener import Listener
from studies.pacs.tls import context_from_settings


class Command(BaseCommand):
    help = (
        "Run the DICOM listener (Verification and Storage SCP) until SIGTERM or Ctrl-C. "
        "Only known senders (admin: Known senders, PACS nodes) may store."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default=None, help="address (default DICOM_BIND)")
        parser.add_argument("--port", type=int, default=None, help="port (default DICOM_PORT)")
        parser.add_argument("--aet", default=None, help="AE title (default DICOM_AE_TITLE)")
        parser.add_argument(
            "--tls-port", type=int, default=None, help="TLS port (default DICOM_TLS_PORT)"
        )

    def handle(self, *args, bind=None, port=None, aet=None, tls_port=None, **options) -> None:
        # Before any socket or thread exists (studies.ingest_pool).
        ingest_pool.start(settings.INGEST_PROCESSES)
        listeners = [self._listener(bind, port, aet, None)]
        try:
            tls = context_from_settings()
        except (OSError, ValueError, ImproperlyConfigured) as exc:
            raise CommandError(f"DICOM TLS is misconfigured: {exc}")
        if tls is not None:
            listeners.append(self._listener(bind, tls_port or settings.DICOM_TLS_PORT, aet, tls))
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        for listener, secured in zip(listeners, (False, True), strict=False):
            listener.start()
            kind = " (TLS, client certificates required)" if secured else ""
            self.stdout.write(
                f"DICOM listener {listener.ae_title} on {listener.host}:{listener.port}{kind}"
            )
        self.stdout.flush()
        stop.wait()
        self.stdout.write("stopping: no new associations, finishing running ones")
        for listener in listeners:
            listener.stop()
        ingest_pool.stop()

    @staticmethod
    def _listener(bind, port, aet, ssl_context) -> Listener:
        try:
            return Listener(host=bind, port=port, ae_title=aet, ssl_context=ssl_context)
        except OSError as exc:
            where = f"{bind or settings.DICOM_BIND}:{port or settings.DICOM_PORT}"
            raise CommandError(f"cannot listen on {where}: {exc.strerror or exc}")
        except ValueError as exc:
            raise CommandError(str(exc))
