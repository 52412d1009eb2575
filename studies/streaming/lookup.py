"""From a SOP Instance UID in a request to the file the renderer reads, access included.

Synchronous Django code: the consumer calls these through ``database_sync_to_async``. Every
request goes through here, so access is checked per request, in the same single query that
finds the instance. An instance the user may not see is reported exactly like one that does
not exist, so the socket cannot be used to probe for studies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _visible_instances(user: Any):  # -> QuerySet[Instance]
    return Instance.objects.filter(series__study__in=visible_studies(user)).only(
        "sop_instance_uid", "file_path", "rows", "columns", "number_of_frames"
    )


def _target(instance: Instance) -> Target:
    return Target(
        sop_instance_uid=instance.sop_instance_uid,
        path=instance_path(instance),
        rows=instance.rows or 0,
        columns=instance.columns or 0,
        frames=instance.number_of_frames,
    )


def find_target(user: Any, sop_instance_uid: str) -> Target | None:
    instance = _visible_instances(user).filter(sop_instance_uid=sop_instance_uid).first()
    return None if instance is None else _target(instance)


def find_targets(user: Any, sop_instance_uids: list[str]) -> dict[str, Target]:
    """Several instances in one query (prefetch lists); the missing ones are left out."""
    if not sop_instance_uids:
        return {}
    found = _visible_instances(user).filter(sop_instance_uid__in=set(sop_instance_uids))
    return {instance.sop_instance_uid: _target(instance) for instance in found}
