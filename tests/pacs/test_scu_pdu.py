"""What our SCU side offers when it opens an association (PS3.8 9.3.1)."""

from __future__ import annotations

from pynetdicom import evt

from studies.models import KnownSender, PacsNode
from studies.pacs import scu


def test_our_associations_offer_the_configured_maximum_pdu_length(listener, settings):
    # Our own listener stands in for the PACS; it records the A-ASSOCIATE-RQ it receives.
    settings.DICOM_MAX_PDU_BYTES = 1024 * 1024
    KnownSender.objects.create(ae_title=settings.DICOM_AE_TITLE)
    node = PacsNode.objects.create(
        name="ourselves", ae_title=listener.ae_title, host="127.0.0.1", port=listener.port
    )
    offered: list[int] = []

    def record(event) -> None:
        primitive = event.primitive
        if type(primitive).__name__ == "A_ASSOCIATE" and primitive.result is None:
            offered.append(primitive.maximum_length_received)

    listener.server.bind(evt.EVT_ACSE_RECV, record)
    assert scu.echo(node).ok
    # A C-GET brings every instance to us in PDUs no longer than this: the 16 KiB default
    # would cut a 512 KiB CT slice into 32 of them.
    assert offered == [1024 * 1024]
