"""Who works when: latest wins per viewport, and a bounded share of the render threads.

``Viewports`` keeps at most one task per viewport: a new ``view`` cancels the task of the
older one before it starts, so a window drag or a fast scroll never queues up work. Every
start gets a new *generation* number that tags the messages the task produces, which is how
the outbox recognises stale ones.

``RenderSlots`` runs blocking work (decode, resample, encode) in a shared thread pool, at
most ``limit`` jobs per socket at a time. A slot is held until the thread has really finished,
even when the task that waited for it was cancelled: a thread cannot be interrupted, and
releasing early would let a fast-dragging client pile up work in the pool that every other
socket then waits behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def render_pool(workers: int) -> ThreadPoolExecutor:
    """The process-wide pool of streaming render threads (numpy and codecs release the GIL)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="streaming")
        return _pool


class RenderSlots:
    def __init__(self, executor: ThreadPoolExecutor, limit: int) -> None:
        self._executor = executor
        self._semaphore = asyncio.Semaphore(limit)
        self.running = 0  # threads working for this socket right now (tests, logs)

    async def run(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        await self._semaphore.acquire()
        loop = asyncio.get_running_loop()
        try:
            future = self._executor.submit(functools.partial(function, *args, **kwargs))
        except BaseException:
            self._semaphore.release()
            raise
        self.running += 1

        def finished(_: Future[T]) -> None:
            # Runs in the worker thread (or here, if the job was cancelled before it began).
            with contextlib.suppress(RuntimeError):  # the loop closed with the socket
                loop.call_soon_threadsafe(self._release)

        future.add_done_callback(finished)
        # Cancelling the awaiting task cancels a job that has not started yet.
        return await asyncio.wrap_future(future)

    def _release(self) -> None:
        self.running -= 1
        self._semaphore.release()


class Viewports:
    """One task per viewport; starting one cancels the viewport's previous task."""

    def __init__(self, on_supersede: Callable[[int, int], None]) -> None:
        self._on_supersede = on_supersede
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._generation: dict[int, int] = {}

    def start(self, viewport: int, work: Callable[[int], Coroutine[Any, Any, None]]) -> int:
        """Run ``work(generation)`` as the viewport's task; returns the generation."""
        generation = self._supersede(viewport)
        task = asyncio.get_running_loop().create_task(work(generation))
        self._tasks[viewport] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._tasks.get(viewport) is done:
                del self._tasks[viewport]

        task.add_done_callback(forget)
        return generation

    def cancel(self, viewport: int) -> None:
        self._supersede(viewport)

    def is_current(self, viewport: int, generation: int) -> bool:
        return self._generation.get(viewport, 0) == generation

    def active(self) -> int:
        return len(self._tasks)

    async def wait_idle(self, viewport: int) -> None:
        """Until the viewport has no view in progress (low-priority work waits for this)."""
        while (task := self._tasks.get(viewport)) is not None and not task.done():
            await asyncio.wait({task})

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _supersede(self, viewport: int) -> int:
        generation = self._generation.get(viewport, 0) + 1
        self._generation[viewport] = generation
        # Outbox first: nothing of the old request may leave, even what is already queued.
        self._on_supersede(viewport, generation)
        old = self._tasks.pop(viewport, None)
        if old is not None:
            old.cancel()
        return generation
