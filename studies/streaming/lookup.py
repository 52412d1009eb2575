"""From a SOP Instance UID in a request to the file the renderer reads, access included.

Synchronous Django code, run on the socket's read pool (``reads``) by ``access_cache``,
which keeps the answers per socket. An instance the user may not see is reported exactly
like one that does not exist, so the socket cannot be used to probe for studies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

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
    uids = sorted(set(study_uids))
    if not uids:
        return set()
    prepared = _prepared(user, len(uids))
    if prepared is None:
        rows = visible_studies(user).filter(study_instance_uid__in=uids)
        return set(rows.values_list("study_instance_uid", flat=True))
    connection = connections[prepared.alias]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [
        now if kind == _NOW else uids[value] if kind == _UID else value
        for kind, value in prepared.slots
    ]
    with connection.cursor() as cursor:
        cursor.execute(prepared.sql, params)
        return {row[0] for row in cursor.fetchall()}


# ``studies.access`` builds its query with the ORM: ~5 ms of Python to build and ~3 ms to
# compile, for a statement whose text depends only on the user and the number of UIDs.
# Every request of a socket re-checks access every few seconds and every ``open_study``
# checks it at once, which made this the largest Python cost of a server under make load.
# So the statement is compiled once per user and count (UIDs as markers), and later run
# with the current time and the UIDs in the markers' places. Anything else in its
# parameters is kept as compiled; a statement whose parameters are not the UIDs, one
# moment taken while it was built (the grant expiry checks) and constants is not kept:
# the ORM runs.


@dataclass(frozen=True)
class _Prepared:
    alias: str
    sql: str
    slots: tuple[tuple[str, Any], ...]  # per parameter: (_NOW, None), (_UID, index), (_KEEP, value)


_NOW, _UID, _KEEP = "now", "uid", "keep"
_MAX_PREPARED = 1024
_statements: dict[tuple, _Prepared | None] = {}
_statements_lock = threading.Lock()


def _prepared(user: Any, count: int) -> _Prepared | None:
    authenticated = bool(getattr(user, "is_authenticated", False))
    active = bool(getattr(user, "is_active", False))
    key = (getattr(user, "pk", None), authenticated, active, count)
    with _statements_lock:
        if key in _statements:
            return _statements[key]
    prepared = _prepare(user, count)
    with _statements_lock:
        if len(_statements) >= _MAX_PREPARED:
            _statements.clear()
        _statements[key] = prepared
    return prepared


def _prepare(user: Any, count: int) -> _Prepared | None:
    markers = [f"<study {index}>" for index in range(count)]  # never a UID (digits, dots)
    before = timezone.now()
    rows = visible_studies(user).filter(study_instance_uid__in=markers)
    query = rows.values_list("study_instance_uid", flat=True).query
    after = timezone.now()
    try:
        sql, params = query.sql_with_params()
    except EmptyResultSet:
        return None
    where = {marker: index for index, marker in enumerate(markers)}
    slots = []
    moments = set()
    for param in params:
        if isinstance(param, str) and param in where:
            slots.append((_UID, where.pop(param)))
        elif _moment(param, before, after):
            slots.append((_NOW, None))
            moments.add(param)
        else:
            slots.append((_KEEP, param))
    if where or len(moments) != 1:  # every UID, and one moment (used once or more)
        return None
    return _Prepared(rows.db, sql, tuple(slots))


def _moment(param: Any, before: datetime, after: datetime) -> bool:
    """Whether ``param`` is a time taken while the query was built (as the database
    backend adapted it: an aware datetime, or naive UTC text on SQLite)."""
    if isinstance(param, str):
        try:
            param = datetime.fromisoformat(param)
        except ValueError:
            return False
    if not isinstance(param, datetime):
        return False
    if param.tzinfo is None:
        param = param.replace(tzinfo=UTC)
    return before <= param <= after
