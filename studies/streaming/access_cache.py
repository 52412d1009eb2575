"""Access per request without a database round trip per request: one socket's memory.

Every ``view``, prefetch item, ``frame_info`` and ``measure`` names an instance, and each
must be one the user may see *now*. Asking the database every time cost 6-15 ms per view in
Channels' single database thread, shared by every socket of the process, so twenty readers
scrolling queued behind each other. This cache splits the question in two:

- **Immutable facts**, kept for the life of the socket: which study an instance belongs to,
  its file, its size and frame count. The archive never moves an instance to another study
  or rewrites its file (``studies.ingest`` stores a SOP Instance UID once; a duplicate is
  refused), so a fact read once stays true.
- **Mutable rights**, re-checked: whether the user may see that study (account still
  active, launch grant not expired and still naming it: ``studies.access``). A study checked
  less than ``recheck_seconds`` ago is served from memory; an older one is checked again,
  all stale studies of a request in one query, before any pixel of it is sent.

The trade-off: a right withdrawn while a socket is open (account deactivated, launch grant
expired or revoked) stops that socket's reads within ``recheck_seconds`` (a few seconds)
instead of on the very next request. Refusals are never cached, and a refusal anywhere
(an ``open_study`` of a study no longer visible) drops every remembered check of the
socket, so the next request of any study asks the database again. The session itself is
watched by ``viewerproject.websocket_session``, which closes the socket when it ends.
An instance deleted from the index keeps being served to a socket that already read it
(its study still visible) until the socket closes; deleting is an administrator's repair,
not an access control.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from . import lookup
from .lookup import Target
from .reads import read_async

# Instances remembered per socket (16 open studies of a few thousand images each fit);
# beyond it the facts are forgotten and read again, never wrong, only slower.
MAX_REMEMBERED = 50_000

FindTargets = Callable[[list[str]], Awaitable[dict[str, Target]]]
VisibleStudies = Callable[[set[str]], Awaitable[set[str]]]


class AccessCache:
    def __init__(
        self,
        user: Any,
        *,
        recheck_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._find: FindTargets = read_async(lambda uids: lookup.find_targets(user, uids))
        self._visible: VisibleStudies = read_async(
            lambda uids: lookup.visible_study_uids(user, uids)
        )
        self._targets: dict[str, Target] = {}
        self._checked: dict[str, float] = {}  # study UID → when access was last confirmed
        self._lock = asyncio.Lock()
        self.queries = 0  # database round trips made (tests, logs)

    async def target(self, uid: str) -> Target | None:
        return (await self.targets([uid])).get(uid)

    async def targets(self, uids: Iterable[str]) -> dict[str, Target]:
        """The instances of ``uids`` the user may see now; the others are left out."""
        wanted = list(dict.fromkeys(uids))
        async with self._lock:
            allowed: set[str] = set()
            unknown = [uid for uid in wanted if uid not in self._targets]
            if unknown:
                started = self._clock()
                self.queries += 1
                found = await self._find(unknown)  # finding them checks access too
                self._remember(found.values(), started)
                allowed.update(target.study for target in found.values())
            studies = {self._targets[uid].study for uid in wanted if uid in self._targets}
            allowed.update(study for study in studies if self._fresh(study))
            stale = studies - allowed
            if stale:
                allowed.update(await self._check(stale))
        return {
            uid: target
            for uid in wanted
            if (target := self._targets.get(uid)) is not None and target.study in allowed
        }

    async def check_study(self, study_uid: str) -> bool:
        """Whether the user may see the study, asked now (``open_study``: rare, and the
        moment a reader expects a refusal to show)."""
        async with self._lock:
            return study_uid in await self._check({study_uid})

    def remember(self, targets: Iterable[Target], checked_at: float) -> None:
        """Facts read elsewhere (the study outline), with when their access was confirmed."""
        self._remember(targets, checked_at)

    def now(self) -> float:
        return self._clock()

    def forget_checks(self) -> None:
        """Something was refused: every study is asked about again on its next request."""
        self._checked.clear()

    # ----------------------------------------------------------------- internals

    def _fresh(self, study: str) -> bool:
        checked = self._checked.get(study)
        return checked is not None and self._clock() - checked < self.recheck_seconds

    async def _check(self, studies: set[str]) -> set[str]:
        started = self._clock()
        self.queries += 1
        visible = await self._visible(studies)
        for study in studies:
            if study in visible:
                self._checked[study] = started
            else:
                self._checked.pop(study, None)
        if studies - visible:
            self.forget_checks()
            for study in visible:
                self._checked[study] = started
        return visible

    def _remember(self, targets: Iterable[Target], checked_at: float) -> None:
        for target in targets:
            if len(self._targets) >= MAX_REMEMBERED:
                self._targets.clear()
            self._targets[target.sop_instance_uid] = target
            previous = self._checked.get(target.study)
            self._checked[target.study] = (
                checked_at if previous is None else max(previous, checked_at)
            )
