"""The viewer socket of a launched session opens only the studies of its link."""

from __future__ import annotations

import pytest
from django.test import Client

from studies.models import AuditEvent, LaunchGrant
from tests.emr.conftest import STUDY_A, STUDY_C
from tests.emr.links import signed_link
from tests.streaming.client import Viewer

pytestmark = pytest.mark.django_db(transaction=True)


def launched_user(uid: str):
    assert Client().get(signed_link(studyUID=uid)).status_code == 302
    return LaunchGrant.objects.get().user


async def test_the_socket_of_a_launched_session_opens_only_its_study(integration, studies):
    from channels.db import database_sync_to_async

    user = await database_sync_to_async(launched_user)(STUDY_A)
    viewer = await Viewer.open(user)
    await viewer.send(type="open_study", study=STUDY_C)
    error = await viewer.receive_json()
    assert (error["type"], error["code"]) == ("error", "not_found")
    await viewer.send(type="open_study", study=STUDY_A)
    assert (await viewer.receive_json())["type"] == "study"
    await viewer.close()
    # The image session is an audit event naming the EMR, the patient and the study.
    event = await database_sync_to_async(
        lambda: AuditEvent.objects.get(kind=AuditEvent.Kind.IMAGE_SESSION)
    )()
    assert (event.who, event.patient_id, event.study_instance_uid) == (
        "emr:ris/?",
        "12345",
        STUDY_A,
    )
