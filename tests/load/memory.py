"""Memory and CPU time of the deployment's processes, read from /proc.

Each service runs in its own process group (tests/services/processes.py), so a service's
memory is the sum over its group: a uvicorn process and its decode workers, PostgreSQL's
postmaster and backends. PSS (proportional set size) splits shared pages between the
processes that share them, so PostgreSQL's shared buffers are not counted once per backend.
"""

from __future__ import annotations

import os
from pathlib import Path


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may contain spaces and parentheses).
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), int(fields[2]))  # stat fields 4, 5
    return table


def _group_members(pgid: int, table: dict[int, tuple[int, int]] | None = None) -> list[int]:
    """The service's process group plus every descendant of its leader: PostgreSQL's
    backends call setsid() and so leave the group, but stay the postmaster's children.
    ``table``: a scan of /proc (``_processes``) shared by several groups."""
    table = _processes() if table is None else table
    members = {pid for pid, (_, group) in table.items() if group == pgid}
    if pgid in table:
        members.add(pgid)
    grown = True
    while grown:
        grown = False
        for pid, (parent, _) in table.items():
            if parent in members and pid not in members:
                members.add(pid)
                grown = True
    return sorted(members)


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


def group_mib(pgid: int | None, table: dict[int, tuple[int, int]] | None = None) -> float:
    """Memory of a process group in MiB (0 if it is gone)."""
    if pgid is None:
        return 0.0
    return sum(_pss_kib(pid) for pid in _group_members(pgid, table)) / 1024


def group_cpu_seconds(pgid: int | None, table: dict[int, tuple[int, int]] | None = None) -> float:
    """User + system CPU time used so far by the live members of a process group."""
    if pgid is None:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _group_members(pgid, table):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # stat fields 14, 15: utime, stime
    return total / ticks


# One scan of /proc per call for all services: the sampler runs through the load phase on
# the cores the servers use, and a scan per service (every process of a shared machine)
# was a fifth of the load generator's CPU.


def cpu(services: dict[str, int | None]) -> dict[str, float]:
    table = _processes()
    return {name: group_cpu_seconds(pgid, table) for name, pgid in services.items()}


def snapshot(services: dict[str, int | None]) -> dict[str, float]:
    """``{name: MiB}`` for ``{name: process group id}``."""
    table = _processes()
    return {name: round(group_mib(pgid, table), 1) for name, pgid in services.items()}
