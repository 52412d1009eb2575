"""The socket's access cache: instance facts from memory, rights re-checked every few seconds.

Real database rows and real threads (the read pool); only the clock is the test's, so the
recheck period passes without sleeping.
"""

import pytest
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async

from studies.streaming.access_cache import AccessCache
from studies.streaming.consumer import ViewerConsumer
from tests.streaming.client import Viewer, view

pytestmark = pytest.mark.django_db(transaction=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def deactivate(user) -> None:
    # Another process deactivates the account; this socket still holds the old object.
    await database_sync_to_async(type(user).objects.filter(pk=user.pk).update)(is_active=False)


async def test_known_instances_are_served_from_memory_until_the_recheck_is_due(
    clinician, phantom_slices
):
    clock = Clock()
    cache = AccessCache(clinician, recheck_seconds=5, clock=clock)
    uids = [stored.instance for stored in phantom_slices]

    found = await cache.targets(uids)
    assert set(found) == set(uids) and cache.queries == 1  # one query for the whole list
    assert found[uids[0]].path == phantom_slices[0].path
    assert found[uids[0]].study == phantom_slices[0].study

    clock.now += 4.9
    assert set(await cache.targets(uids)) == set(uids)
    assert cache.queries == 1  # nothing asked: facts and the study's right from memory

    clock.now += 0.2  # the right is 5.1 s old: checked again, once for the study
    assert set(await cache.targets(uids)) == set(uids)
    assert cache.queries == 2


async def test_a_right_withdrawn_while_open_stops_reads_at_the_next_recheck(
    clinician, phantom_slices
):
    clock = Clock()
    cache = AccessCache(clinician, recheck_seconds=5, clock=clock)
    uid = phantom_slices[0].instance
    assert await cache.target(uid) is not None

    await deactivate(clinician)
    clock.now += 2
    # The documented trade-off: within the period the socket still reads what it read.
    assert await cache.target(uid) is not None
    clock.now += 4
    assert await cache.target(uid) is None
    # Refusals are not remembered: the next request asks again (and is refused again).
    queries = cache.queries
    assert await cache.target(uid) is None
    assert cache.queries == queries + 1


async def test_unknown_and_invisible_instances_are_left_out_and_never_cached(
    clinician, phantom_slices
):
    cache = AccessCache(clinician, recheck_seconds=5, clock=Clock())
    found = await cache.targets([phantom_slices[0].instance, "1.2.3.404"])
    assert list(found) == [phantom_slices[0].instance]
    assert await cache.target("1.2.3.404") is None
    assert cache.queries == 2  # the unknown UID was asked about again


async def test_a_refused_study_makes_every_study_be_checked_again(clinician, phantom_slices):
    clock = Clock()
    cache = AccessCache(clinician, recheck_seconds=5, clock=clock)
    assert await cache.target(phantom_slices[0].instance) is not None
    assert not await cache.check_study("1.2.3.404")  # a refusal is news
    await deactivate(clinician)
    assert await cache.target(phantom_slices[0].instance) is None  # no 5 s grace after it


async def test_after_open_study_views_need_no_lookup_and_a_refusal_still_ends_them(
    clinician, phantom_slices
):
    viewer = await Viewer.open(clinician, app=AuthMiddlewareStack(Recording.as_asgi()))
    await viewer.send(type="open_study", study=phantom_slices[0].study)
    assert (await viewer.receive_json())["type"] == "study"
    consumer_queries = Recording.last.access.queries

    for request, stored in enumerate(phantom_slices, start=1):
        await viewer.send(**view(request, stored.instance))
        assert (await viewer.until_done(request))[-1].type == "done"
    # The outline held every instance of the study: no view asked the database.
    assert Recording.last.access.queries == consumer_queries

    await deactivate(clinician)
    await viewer.send(type="open_study", study=phantom_slices[0].study)
    assert (await viewer.receive_json())["code"] == "not_found"
    await viewer.send(**view(9, phantom_slices[0].instance))
    assert (await viewer.receive_json())["code"] == "not_found"
    await viewer.close()


class Recording(ViewerConsumer):
    """The production consumer, keeping a hand on its last instance for the test."""

    last: ViewerConsumer

    async def connect(self) -> None:
        type(self).last = self
        await super().connect()
