"""Archive events published on the channel layer, one group per study.

Open viewers of a study join ``study_group(uid)`` and learn about new instances live.
Publishing is best effort: an unreachable channel layer is logged, never fails an ingest
(the instance is already durable and indexed when we publish).
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

INSTANCE_STORED = "instance.stored"


def study_group(study_instance_uid: str) -> str:
    # UIDs are digits and dots (validated at ingest), which channel group names allow.
    return f"study.{study_instance_uid}"


def publish_instance_stored(
    study_uid: str, series_uid: str, sop_instance_uid: str, instance_id: int
) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {
        "type": INSTANCE_STORED,
        "study_uid": study_uid,
        "series_uid": series_uid,
        "sop_instance_uid": sop_instance_uid,
        "instance_id": instance_id,
    }
    try:
        async_to_sync(layer.group_send)(study_group(study_uid), message)
    except Exception:
        log.warning("could not publish %s for instance %s", INSTANCE_STORED, instance_id)
