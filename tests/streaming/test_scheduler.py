"""Latest wins per viewport, and render threads shared out in bounded slots."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from studies.streaming.scheduler import RenderSlots, Viewports


async def test_starting_a_viewport_cancels_its_previous_task_and_not_the_others():
    superseded = []
    viewports = Viewports(lambda viewport, generation: superseded.append((viewport, generation)))
    started = []
    finished = []

    async def work(name, generation):
        started.append(name)
        await asyncio.sleep(10)
        finished.append(name)

    assert viewports.start(0, lambda g: work("a", g)) == 1
    viewports.start(1, lambda g: work("b", g))
    await asyncio.sleep(0)
    assert viewports.start(0, lambda g: work("c", g)) == 2
    await asyncio.sleep(0)
    assert started == ["a", "b", "c"]
    assert superseded == [(0, 1), (1, 1), (0, 2)]
    assert viewports.is_current(0, 2) and not viewports.is_current(0, 1)
    assert viewports.active() == 2  # "a" was cancelled
    viewports.cancel(1)
    await asyncio.sleep(0)
    assert viewports.active() == 1
    await viewports.close()
    assert finished == []


async def test_a_socket_never_holds_more_threads_than_its_slots_even_when_it_cancels():
    executor = ThreadPoolExecutor(max_workers=8)
    slots = RenderSlots(executor, limit=2)
    release = threading.Event()
    peak = 0
    running = 0
    lock = threading.Lock()

    def job():
        nonlocal peak, running
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(5)
        with lock:
            running -= 1
        return "done"

    # A fast window drag: every job is cancelled by the next one.
    for _ in range(10):
        task = asyncio.create_task(slots.run(job))
        await asyncio.sleep(0.01)
        task.cancel()
    assert peak == 2 and slots.running == 2  # cancelled awaiters, threads still busy
    release.set()
    async with asyncio.timeout(5):
        while slots.running:
            await asyncio.sleep(0.01)
    assert await slots.run(lambda: 42) == 42
    executor.shutdown()


async def test_jobs_run_off_the_event_loop():
    executor = ThreadPoolExecutor(max_workers=2)
    slots = RenderSlots(executor, limit=2)
    loop_thread = threading.get_ident()
    assert await slots.run(threading.get_ident) != loop_thread
    executor.shutdown()


async def test_waiting_for_an_idle_viewport_outlasts_views_that_replace_each_other():
    viewports = Viewports(lambda viewport, generation: None)
    release = asyncio.Event()

    async def work(generation):
        await release.wait()

    viewports.start(0, work)
    idle = asyncio.get_running_loop().create_task(viewports.wait_idle(0))
    await asyncio.sleep(0)
    viewports.start(0, work)  # a newer view: still busy
    await asyncio.sleep(0)
    assert not idle.done()
    await viewports.wait_idle(1)  # another viewport is idle at once
    release.set()
    await asyncio.wait_for(idle, 5)
