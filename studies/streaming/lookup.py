"""From a SOP Instance UID in a request to the file the renderer reads, access included.

Synchronous Django code, run on the socket's read pool (``reads``) by ``access_cache``,
which keeps the answers per socket. An instance the user may not see is reported exactly
like one that does not exist, so the socket cannot be used to probe for studies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import Exists, F, OuterRef

from studies.access import visible_studies
from studies.models import Instance
from studies.rendering import instance_path


@dataclass(frozen=True)
class Target:
    sop_instance_uid: str
    path: Path
    rows: int
    columns: int
    frames: int
    study: str = ""  # Study Instance UID: whose access decides whether it may be read


TARGET_FIELDS = ("sop_instance_uid", "file_path", "rows", "columns", "number_of_frames")


def _visible_instances(user: Any):  # -> QuerySet[Instance]
    # A correlated EXISTS on the instance's own study (found by primary key), rather than
    # "study IN (every visible study)", which makes the database list every study first.
    visible = visible_studies(user).filter(pk=OuterRef("series__study_id"))
    return (
        Instance.objects.filter(Exists(visible))
        .annotate(study_uid=F("series__study__study_instance_uid"))
        .only(*TARGET_FIELDS)
    )


def target_of(instance: Instance, study_uid: str) -> Target:
    return Target(
        sop_instance_uid=instance.sop_instance_uid,
        path=instance_path(instance),
        rows=instance.rows or 0,
        columns=instance.columns or 0,
        frames=instance.number_of_frames,
        study=study_uid,
    )


def find_target(user: Any, sop_instance_uid: str) -> Target | None:
    return find_targets(user, [sop_instance_uid]).get(sop_instance_uid)


def find_targets(user: Any, sop_instance_uids: Iterable[str]) -> dict[str, Target]:
    """Several instances in one query (prefetch lists); the missing ones are left out."""
    uids = set(sop_instance_uids)
    if not uids:
        return {}
    found = _visible_instances(user).filter(sop_instance_uid__in=uids)
    return {item.sop_instance_uid: target_of(item, item.study_uid) for item in found}


def visible_study_uids(user: Any, study_uids: Iterable[str]) -> set[str]:
    """Which of ``study_uids`` the user may see now (one query, by the unique UID index)."""
    uids = set(study_uids)
    if not uids:
        return set()
    rows = visible_studies(user).filter(study_instance_uid__in=uids)
    return set(rows.values_list("study_instance_uid", flat=True))
