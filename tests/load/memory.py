"""Memory of the deployment's processes, read from /proc.

Each service runs in its own process group (tests/services/processes.py), so a service's
memory is the sum over its group: a Daphne process and its decode workers, PostgreSQL's
postmaster and backends. PSS (proportional set size) splits shared pages between the
processes that share them, so PostgreSQL's shared buffers are not counted once per backend.
"""

from __future__ import annotations

import os
from pathlib import Path


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may contain spaces) start after ") ".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:  # field 5 of stat: process group
            members.append(int(entry))
    return members


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    try:  # no smaps_rollup (old kernel, no permission): resident set instead
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def group_mib(pgid: int | None) -> float:
    """Memory of a process group in MiB (0 if it is gone)."""
    if pgid is None:
        return 0.0
    return sum(_pss_kib(pid) for pid in _group_members(pgid)) / 1024


def snapshot(services: dict[str, int | None]) -> dict[str, float]:
    """``{name: MiB}`` for ``{name: process group id}``."""
    return {name: round(group_mib(pgid), 1) for name, pgid in services.items()}
