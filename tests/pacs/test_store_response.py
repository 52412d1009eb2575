"""C-STORE responses written directly (studies.pacs.store_response): the same bytes as
pynetdicom's encoder, its encoder for anything else, and what a real peer decodes."""

from __future__ import annotations

import pytest
from pynetdicom import AE, evt
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.dimse_primitives import C_ECHO, C_STORE
from pynetdicom.sop_class import CTImageStorage

from studies.models import Instance
from studies.pacs import statuses, store_response
from tests.dicom_files import make_ct

AET = "DICOMVIEWER"


def response(status: int, message_id: int = 7, sop_instance: str = "1.2.3.4.5") -> C_STORE:
    primitive = C_STORE()
    primitive.MessageIDBeingRespondedTo = message_id
    primitive.AffectedSOPClassUID = CTImageStorage
    primitive.AffectedSOPInstanceUID = sop_instance
    primitive.Status = status
    return primitive


def pynetdicom_bytes(primitive: C_STORE) -> bytes:
    message = C_STORE_RSP()
    message.primitive_to_message(primitive)
    (pdata,) = message.encode_msg(1, 16384)
    ((_context, pdv),) = pdata.presentation_data_value_list
    return pdv[1:]  # without the message control header


@pytest.mark.parametrize(
    ("status", "message_id", "sop_instance"),
    [
        (0x0000, 1, "1.2.3.4.5"),  # odd length: padded with NUL
        (0xA700, 65535, "1.2.3.4.56"),  # even length
        # A typical generated UID; fixed, as pytest-xdist workers must collect the same ids.
        (0xA900, 300, "1.2.826.0.1.3680043.8.498.15358440283517446499472662428738004731"),
        (0xC000, 2, "1." + "2" * 62),  # 64 characters, the most a UID has
        (0xB000, 9, "1.2"),
    ],
)
def test_plain_response_is_byte_for_byte_what_pynetdicom_encodes(status, message_id, sop_instance):
    primitive = response(status, message_id, sop_instance)
    assert store_response.encode(primitive) == pynetdicom_bytes(primitive)


def test_anything_but_a_plain_store_response_is_left_to_pynetdicom():
    with_comment = response(0xC000)
    with_comment.ErrorComment = "cannot understand"
    request = C_STORE()
    request.MessageID = 1
    request.AffectedSOPClassUID = CTImageStorage
    request.AffectedSOPInstanceUID = "1.2.3"
    echo = C_ECHO()
    echo.MessageIDBeingRespondedTo = 1
    echo.Status = 0
    for primitive in (with_comment, request, echo, C_STORE()):
        assert store_response.encode(primitive) is None


def test_a_peer_decodes_our_response_to_its_store(listener, known_sender):
    ds = make_ct()
    received = []
    ae = AE(ae_title="STORESCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate(
        "127.0.0.1",
        listener.port,
        ae_title=AET,
        evt_handlers=[(evt.EVT_DIMSE_RECV, lambda event: received.append(event.message))],
    )
    assert assoc.is_established
    try:
        (ours,) = [a for a in listener.server.active_associations if a.is_established]
        # The listener's side answers through store_response, not pynetdicom's generic path.
        assert ours.dimse.send_msg.__qualname__.startswith("install.")
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert int(status.Status) == statuses.SUCCESS
    (message,) = received
    command = message.command_set
    assert isinstance(message, C_STORE_RSP)
    assert command.AffectedSOPInstanceUID == ds.SOPInstanceUID
    assert command.AffectedSOPClassUID == ds.SOPClassUID
    assert command.MessageIDBeingRespondedTo == 1
    assert command.CommandDataSetType == 0x0101
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists()


@pytest.mark.parametrize(("level", "identifiers_logged"), [("WARNING", False), ("INFO", True)])
def test_identifiers_are_formatted_only_when_pynetdicom_would_log_them(
    level, identifiers_logged, monkeypatch
):
    import logging

    from pynetdicom import _config

    for name in ("LOG_HANDLER_LEVEL", "LOG_REQUEST_IDENTIFIERS", "LOG_RESPONSE_IDENTIFIERS"):
        monkeypatch.setattr(_config, name, getattr(_config, name))
    _config.LOG_REQUEST_IDENTIFIERS = _config.LOG_RESPONSE_IDENTIFIERS = True
    logger = logging.getLogger("pynetdicom")
    previous = logger.level
    logger.setLevel(level)
    try:
        store_response.quiet_standard_logging()
    finally:
        logger.setLevel(previous)  # setLevel, so the logging module's level cache is reset
    assert _config.LOG_REQUEST_IDENTIFIERS is identifiers_logged
    assert _config.LOG_RESPONSE_IDENTIFIERS is identifiers_logged
