"""The key images of a study, from its newest Key Object Selection document (PS3.3 A.59)."""

from __future__ import annotations

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from studies.models import Instance
from studies.rendering import instance_path
from studies.reports import reading

KOS = "1.2.840.10008.5.1.4.1.1.88.59"


def key_image_series(study_uid: str) -> str:
    """The series of the first key image of the newest KOS of the study, or ""."""
    kos = (
        Instance.objects.filter(series__study__study_instance_uid=study_uid, sop_class_uid=KOS)
        .order_by("-received_at")
        .first()
    )
    if kos is None:
        return ""
    try:
        tree = reading.content_tree(dcmread(instance_path(kos)))
    except (InvalidDicomError, OSError, ValueError):
        return ""
    uids = [r.sop_instance_uid for r in reading.referenced_images(tree)]
    first = (
        Instance.objects.filter(
            sop_instance_uid__in=uids, series__study__study_instance_uid=study_uid
        )
        .select_related("series")
        .first()
    )
    return first.series.series_instance_uid if first else ""
