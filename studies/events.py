"""Archive events published on the channel layer, one group per study.

Open viewers of a study join ``study_group(uid)`` and learn about new instances live.
Publishing is best effort: an unreachable channel layer is logged, never fails an ingest
(the instance is already durable and indexed when we publish), and waits at most
``PUBLISH_WAIT_SECONDS``.

Events are sent from one event loop per process that lives as long as the process, in its
own thread. ``async_to_sync`` from a plain thread (the listener's associations, the retrieve
worker) started a thread and an event loop for every event, about 1 ms of an instance's ingest,
and a channel layer that keeps a connection per event loop (channels_redis) connected anew.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import TimeoutError as FutureTimeout

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

log = logging.getLogger(__name__)

INSTANCE_STORED = "instance.stored"
PUBLISH_WAIT_SECONDS = 1.0

_loop_lock = threading.Lock()
_loop_owner: tuple[int, asyncio.AbstractEventLoop] | None = None


def _event_loop() -> asyncio.AbstractEventLoop:
    """The process's publishing loop, started on first use (and again in a forked child,
    which inherits the variable but not the thread)."""
    global _loop_owner
    with _loop_lock:
        if _loop_owner is None or _loop_owner[0] != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="channel-layer-events", daemon=True
            )
            thread.start()
            _loop_owner = (os.getpid(), loop)
        return _loop_owner[1]


def send_to_group(group: str, message: dict) -> None:
    """``group_send`` from synchronous code; waits until the layer has the message (so an
    event is never overtaken by a later one) or ``PUBLISH_WAIT_SECONDS``. Raises what the
    layer raised, or TimeoutError."""
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        # Only consumers of this process can be in its groups. In the listener and the retrieve
        # worker (which serve no websockets) there never are any, and a group_send to nobody
        # delivers nothing: skip it, and with it async_to_sync's new thread and event loop
        # (about 1.4 ms of CPU of every instance a C-STORE or a retrieve brought). A consumer
        # that joins meanwhile would miss this event either way.
        if not layer.groups.get(group):
            return
        # Its queues are plain asyncio queues, awaited by consumers on the server's loop and
        # not thread-safe: a put from the publishing loop's thread would not wake them. Called
        # from a view (a sync_to_async thread), async_to_sync sends from the server's own loop.
        async_to_sync(layer.group_send)(group, message)
        return
    future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _event_loop())
    try:
        future.result(timeout=PUBLISH_WAIT_SECONDS)
    except FutureTimeout:
        future.cancel()
        raise TimeoutError(
            f"the channel layer did not take the message within {PUBLISH_WAIT_SECONDS} s"
        )


def study_group(study_instance_uid: str) -> str:
    # UIDs are digits and dots (validated at ingest), which channel group names allow.
    return f"study.{study_instance_uid}"


def publish_instance_stored(
    study_uid: str, series_uid: str, sop_instance_uid: str, instance_id: int
) -> None:
    message = {
        "type": INSTANCE_STORED,
        "study_uid": study_uid,
        "series_uid": series_uid,
        "sop_instance_uid": sop_instance_uid,
        "instance_id": instance_id,
    }
    try:
        send_to_group(study_group(study_uid), message)
    except Exception:
        log.warning("could not publish %s for instance %s", INSTANCE_STORED, instance_id)
