"""Ingest's events on the in-memory channel layer: sent to the consumers of this process that
joined the study's group, and not sent at all when none did (the listener and the retrieve
worker serve no websockets, so nobody in their process ever listens)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from studies import events
from studies.ingest import ingest_bytes
from studies.models import Instance
from tests.dicom_files import make_ct, to_bytes

pytestmark = pytest.mark.django_db


class CountingLayer(InMemoryChannelLayer):
    """The in-memory layer, counting the group sends asked of it."""

    group_sends = 0

    async def group_send(self, group, message):
        type(self).group_sends += 1
        await super().group_send(group, message)


@pytest.fixture
def counting_layer(settings):
    CountingLayer.group_sends = 0
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.CountingLayer"}}
    layer = get_channel_layer()
    assert isinstance(layer, CountingLayer)
    return layer


def test_an_instance_nobody_in_the_process_watches_is_not_sent_to_the_layer(
    counting_layer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = ingest_bytes(to_bytes(make_ct()), Instance.Source.CSTORE)
    assert result.status == "stored"
    assert len(callbacks) == 1  # the event was published, and found no audience
    assert CountingLayer.group_sends == 0


def test_an_instance_watched_by_a_consumer_of_its_study_is_sent_to_it(
    counting_layer, django_capture_on_commit_callbacks
):
    ds = make_ct()
    channel = async_to_sync(counting_layer.new_channel)()
    async_to_sync(counting_layer.group_add)(events.study_group(ds.StudyInstanceUID), channel)
    # A viewer of another study does not make this study's event worth sending.
    other = async_to_sync(counting_layer.new_channel)()
    async_to_sync(counting_layer.group_add)(events.study_group("1.2.3.4"), other)
    with django_capture_on_commit_callbacks(execute=True):
        ingest_bytes(to_bytes(make_ct()), Instance.Source.CSTORE)
        assert CountingLayer.group_sends == 0
        result = ingest_bytes(to_bytes(ds), Instance.Source.CSTORE)
    assert CountingLayer.group_sends == 1
    message = async_to_sync(counting_layer.receive)(channel)
    assert message["sop_instance_uid"] == ds.SOPInstanceUID
    assert message["instance_id"] == result.instance_id


def test_a_group_its_last_consumer_left_is_not_sent_to(counting_layer):
    channel = async_to_sync(counting_layer.new_channel)()
    async_to_sync(counting_layer.group_add)("study.1.2.3", channel)
    async_to_sync(counting_layer.group_discard)("study.1.2.3", channel)
    events.send_to_group("study.1.2.3", {"type": "test.event"})
    assert CountingLayer.group_sends == 0
