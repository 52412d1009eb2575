"""The DICOM listener: Verification, Storage and Query (C-FIND) SCP (PS3.4 A, B, C) in
front of ingest and the index (see ``find_scp`` for queries).

Who may talk to us is decided when the association is requested: the calling AE title must be a
known sender (or a PACS node delivering C-MOVE results) and, where an address is configured,
connect from it; anyone else gets A-ASSOCIATE-RJ "calling AE title not recognized"
(PS3.8 9.3.4). Each C-STORE is ingested (in one of the ingest processes when
``INGEST_PROCESSES`` > 0, see ``studies.ingest_pool``, else in the association's own thread)
and answered only after the instance is durable and indexed, so a Success status is a
promise kept.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import weakref
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from studies import audit, ingest_pool
from studies.models import Instance, PacsNode
from studies.pacs import (
    dul_wait,
    find_scp,
    nodes,
    pdu_guard,
    reactor,
    received,
    statuses,
    store_request,
    store_response,
    syntaxes,
)
from studies.validation import skip_pydicom_value_checks

log = logging.getLogger(__name__)

# PS3.8 9.3.4 A-ASSOCIATE-RJ: rejected-permanent, by the service user.
_REJECTED_PERMANENT = 0x01
_SERVICE_USER = 0x01
_CALLING_AE_NOT_RECOGNIZED = 0x03


@dataclass(frozen=True)
class _Peer:
    ae_title: str
    address: str
    is_pacs_node: bool

    @property
    def detail(self) -> str:
        return f"{self.ae_title} from {self.address}"


# Per-association facts decided once at A-ASSOCIATE, read by every C-STORE on it.
_peers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Server(ThreadedAssociationServer):
    """pynetdicom's threaded server with two changes to how a connection is taken on.

    TCP_NODELAY on each accepted socket: DIMSE is request/response, and Nagle's algorithm
    would hold back each short response (C-STORE-RSP) for the peer's delayed ACK.

    The TLS handshake in the connection's own thread, within the ACSE timeout: pynetdicom
    does it in ``get_request``, i.e. in the accept loop, on a socket without a timeout, so
    one peer that connects and says nothing would stop every other TLS peer being accepted.
    """

    def get_request(self):
        client_socket, address = self.socket.accept()  # TLS, if any, comes in the thread
        client_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client_socket, address

    def process_request_thread(self, request, client_address):
        if self.ssl_context is not None:
            try:
                request.settimeout(self.ae.acse_timeout)
                request = self.ssl_context.wrap_socket(request, server_side=True)
                request.settimeout(None)  # pynetdicom expects a blocking socket
            except OSError as exc:  # ssl.SSLError, TimeoutError, a reset
                log.warning("TLS handshake with %s failed: %s", client_address[0], exc)
                self.shutdown_request(request)
                return
        super().process_request_thread(request, client_address)


def _peer_address(event) -> str:
    return str(event.assoc.requestor.address)


def _handle_requested(event) -> None:
    """Authorise the calling AE (and its address) before any negotiation."""
    assoc = event.assoc
    calling = assoc.requestor.primitive.calling_ae_title.strip()
    address = _peer_address(event)
    close_old_connections()
    try:
        reason = nodes.refusal_reason(calling, address)
        is_node = not reason and PacsNode.objects.filter(ae_title=calling, enabled=True).exists()
    except DatabaseError:
        log.exception("cannot check the calling AE title %r; refusing", calling)
        reason, is_node = "the archive database is unavailable", False
    if reason:
        log.warning("refused association from %s at %s: %s", calling, address, reason)
        audit.record(
            audit.Kind.ASSOCIATION_REJECTED,
            who=calling,
            source_address=address,
            outcome=audit.Outcome.MINOR_FAILURE,
            detail=reason,
        )
        connection.close()
        assoc.acse.send_reject(_REJECTED_PERMANENT, _SERVICE_USER, _CALLING_AE_NOT_RECOGNIZED)
        evt.trigger(assoc, evt.EVT_REJECTED, {})
        assoc.kill()
        return
    _peers[assoc] = _Peer(calling, address, is_node)


def _handle_closed(event) -> None:
    # Released or aborted: this association's thread is done with its database connection.
    connection.close()


def _handle_store(event) -> int:
    request = event.request
    peer = _peers.get(event.assoc) or _Peer(
        event.assoc.requestor.ae_title.strip(), _peer_address(event), False
    )
    try:
        # The bytes as sent, not decoded (pynetdicom's event.dataset) nor re-encoded.
        data = received.part10_bytes(event)
    except Exception:
        log.exception("cannot read the data set received from %s", peer.detail)
        return statuses.CANNOT_UNDERSTAND
    # PS3.7 9.3.1.1: Move Originator AE Title marks a C-MOVE sub-operation.
    move_originator = str(getattr(request, "MoveOriginatorApplicationEntityTitle", "") or "")
    retrieved = bool(move_originator) and peer.is_pacs_node
    source = Instance.Source.RETRIEVE if retrieved else Instance.Source.CSTORE
    if connection.errors_occurred:
        connection.close()
    try:
        # PS3.4 B.2.3: a data set that is not the instance the request announced is refused
        # (A900), checked by ingest on its own parse of the header.
        result = ingest_pool.ingest(
            data, source, peer.detail, expected_sop=received.announced_uids(event)
        )
    except (DatabaseError, OSError):
        log.exception("ingest failed for an instance from %s", peer.detail)
        connection.close()
        return statuses.OUT_OF_RESOURCES
    status = statuses.store_status(result)
    if status != statuses.SUCCESS:
        log.info("C-STORE from %s refused with 0x%04X: %s", peer.detail, status, result.reason_code)
    return status


def application_entity(ae_title: str | None = None) -> AE:
    store_response.quiet_standard_logging()
    skip_pydicom_value_checks()
    ae = AE(ae_title=ae_title or settings.DICOM_AE_TITLE)
    ae.maximum_associations = settings.DICOM_MAX_ASSOCIATIONS
    ae.maximum_pdu_size = settings.DICOM_MAX_PDU_BYTES
    ae.acse_timeout = settings.DICOM_ACSE_TIMEOUT
    ae.dimse_timeout = settings.DICOM_DIMSE_TIMEOUT
    ae.network_timeout = settings.DICOM_NETWORK_TIMEOUT
    # PS3.8 9.3.2: a request addressed to another AE title is not for us.
    ae.require_called_aet = True
    ae.add_supported_context(Verification)
    ae.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, syntaxes.STORAGE)
    for context in ae.supported_contexts:
        context.__class__ = _SupportedContext  # adds __deepcopy__ only
    return ae


class _SupportedContext(PresentationContext):
    """A supported presentation context that copies cheaply.

    pynetdicom deep-copies every supported context for each association it accepts (173
    contexts, 2,700 transfer syntax UIDs here); deepcopy rebuilds each pydicom UID through
    its validating constructor, 65 ms of CPU per association. UIDs and strings are immutable,
    so a copy may share them: only the list of transfer syntaxes is the copy's own.
    """

    def __deepcopy__(self, memo: dict) -> PresentationContext:
        duplicate = PresentationContext.__new__(PresentationContext)
        duplicate.__dict__.update(self.__dict__)
        duplicate._transfer_syntax = list(self._transfer_syntax)
        memo[id(self)] = duplicate
        return duplicate


HANDLERS = [
    # First, before the DUL reads a byte: malformed PDUs and oversized data sets end the
    # association (studies.pacs.pdu_guard).
    (evt.EVT_CONN_OPEN, pdu_guard.guard),
    # The DUL thread waits on the guarded socket instead of polling it (studies.pacs.dul_wait).
    (evt.EVT_CONN_OPEN, dul_wait.install_on_open),
    (evt.EVT_CONN_OPEN, store_request.install_on_open),
    (evt.EVT_CONN_OPEN, store_response.install_on_open),
    (evt.EVT_CONN_OPEN, reactor.install_on_open),
    (evt.EVT_REQUESTED, _handle_requested),
    (evt.EVT_C_STORE, _handle_store),
    (evt.EVT_C_FIND, find_scp.handle_find),
    (evt.EVT_RELEASED, _handle_closed),
    (evt.EVT_ABORTED, _handle_closed),
]


class Listener:
    """The SCP on (host, port); port 0 picks a free port (see ``.port``)."""

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        ae_title: str | None = None,
        ssl_context=None,  # studies.pacs.tls: DICOM over TLS with client certificates
    ) -> None:
        self.ae = application_entity(ae_title)
        address = (
            settings.DICOM_BIND if host is None else host,
            settings.DICOM_PORT if port is None else port,
        )
        self.server = self.ae.make_server(
            address, evt_handlers=HANDLERS, server_class=_Server, ssl_context=ssl_context
        )
        self.ae._servers.append(self.server)  # so server.shutdown() can deregister it
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self.server.server_address[0]

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def ae_title(self) -> str:
        return self.server.ae_title

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.5)

    def start(self) -> Listener:
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"dicom-listener:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting, let established associations finish (up to ``grace`` seconds,
        DICOM_NETWORK_TIMEOUT by default, then abort them) and drop connections that never
        got as far as an association (a port probe would otherwise linger for the ACSE
        timeout, holding the process open: pynetdicom's DUL threads are not daemons)."""
        self.server.shutdown()
        grace = settings.DICOM_NETWORK_TIMEOUT if grace is None else grace
        deadline = time.monotonic() + grace
        for assoc in self.server.active_associations:
            if not assoc.is_established:
                assoc.dul.kill_dul()
                continue
            assoc.join(timeout=max(0.0, deadline - time.monotonic()))
            if assoc.is_alive():
                assoc.abort()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
