"""Retrieve URLs (0008,1190) for studies, series and instances (PS3.18 10.4 resources).

Built from the request's own origin and the mounted prefix, so they are right behind any
proxy that sets Host correctly; UIDs are digits and dots (checked before they get here).
"""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse


class Links:
    def __init__(self, request: HttpRequest) -> None:
        self.studies = request.build_absolute_uri(reverse("dicomweb:studies"))

    def study(self, study_uid: str) -> str:
        return f"{self.studies}/{study_uid}"

    def series(self, study_uid: str, series_uid: str) -> str:
        return f"{self.studies}/{study_uid}/series/{series_uid}"

    def instance(self, study_uid: str, series_uid: str, sop_instance_uid: str) -> str:
        return f"{self.studies}/{study_uid}/series/{series_uid}/instances/{sop_instance_uid}"
