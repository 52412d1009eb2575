"""Print a signed IHE Invoke Image Display link, as an EMR would make it (for testing).

python manage.py make_launch_url --emr ris --study 1.2.3.4
python manage.py make_launch_url --emr ris --accession A123,A124
python manage.py make_launch_url --emr ris --patient '12345^^^HOSP' --modalities CT,MR
"""

from __future__ import annotations

import secrets
import time

from django.core.management.base import BaseCommand, CommandError

from studies.launch.signing import signed_query
from studies.models import EmrIntegration


class Command(BaseCommand):
    help = "Print a signed /IHEInvokeImageDisplay link for an EMR integration (for testing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--emr", required=True, help="the EMR integration's name")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--study", default="", help="studyUID, comma-separated")
        parser.add_argument("--accession", default="", help="accessionNumber, comma-separated")
        parser.add_argument("--patient", default="", help="patientID in CX form, 12345^^^HOSP")
        parser.add_argument("--lower", default="", help="lowerDateTime, 2024-01-31T00:00:00")
        parser.add_argument("--upper", default="", help="upperDateTime")
        parser.add_argument("--most-recent", default="", help="mostRecentResults")
        parser.add_argument("--modalities", default="", help="modalitiesInStudy, CT,MR")
        parser.add_argument("--user", default="", help="the EMR user (audit only)")
        parser.add_argument(
            "--lifetime", type=int, default=None, help="seconds; default the integration's"
        )
        parser.add_argument("--diagnostic-quality", action="store_true")
        parser.add_argument("--key-images-only", action="store_true")

    def handle(self, *args, **options) -> None:
        integration = EmrIntegration.objects.filter(name=options["emr"]).first()
        if integration is None:
            raise CommandError(
                f"no EMR integration named {options['emr']!r} (add one in the admin)"
            )
        if bool(options["patient"]) == bool(options["study"] or options["accession"]):
            raise CommandError("give --patient, or --study and/or --accession")
        lifetime = options["lifetime"] or integration.link_lifetime_seconds
        pairs = [
            ("emr", integration.name),
            ("expires", str(int(time.time()) + lifetime)),
            ("nonce", secrets.token_urlsafe(16)),
            ("viewerType", "IHE_BIR"),
        ]
        if options["patient"]:
            pairs.append(("requestType", "PATIENT"))
            for flag, name in (
                ("patient", "patientID"),
                ("lower", "lowerDateTime"),
                ("upper", "upperDateTime"),
                ("most_recent", "mostRecentResults"),
                ("modalities", "modalitiesInStudy"),
            ):
                if options[flag]:
                    pairs.append((name, options[flag]))
        else:
            pairs.append(("requestType", "STUDY"))
            if options["study"]:
                pairs.append(("studyUID", options["study"]))
            if options["accession"]:
                pairs.append(("accessionNumber", options["accession"]))
        if options["user"]:
            pairs.append(("user", options["user"]))
        if options["diagnostic_quality"]:
            pairs.append(("diagnosticQuality", "true"))
        if options["key_images_only"]:
            pairs.append(("keyImagesOnly", "true"))
        base = options["base_url"].rstrip("/")
        self.stdout.write(
            f"{base}/IHEInvokeImageDisplay?{signed_query(integration.shared_secret, pairs)}"
        )
