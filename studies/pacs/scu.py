"""Talking to a PACS as SCU: C-ECHO, C-FIND, C-MOVE and C-GET (PS3.4 A and C, PS3.7 9-10).

Every call opens its own association with the node's timeouts and releases it; a peer that
cannot be reached, refuses us or answers with a failure raises ``PacsError`` with a sentence a
clinician or an administrator can act on. Callbacks may ask to stop a running C-FIND,
C-MOVE or C-GET, which sends C-CANCEL (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, build_context, build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from studies.models import PacsNode
from studies.pacs import (
    dul_wait,
    pdu_guard,
    statuses,
    store_request,
    store_response,
    syntaxes,
)

log = logging.getLogger(__name__)

# PS3.8 9.3.1: at most 128 presentation contexts per association (IDs 1-255, odd).
_MAX_CONTEXTS = 128
# How often the DUL thread of a C-MOVE association looks for the PACS's responses.
_MOVE_POLL_SECONDS = 0.02


class PacsError(Exception):
    """A PACS could not be reached, refused the request or answered with a failure."""


@dataclass
class EchoResult:
    ok: bool
    message: str
    elapsed_ms: float


@dataclass
class SubOperations:
    """C-MOVE/C-GET progress as the SCP reports it (PS3.4 C.4.2.1.6, C.4.3.1.5)."""

    operation: str = ""
    remaining: int | None = None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    status: int | None = None  # the final status, once known
    failed_uids: list[str] = field(default_factory=list)
    error_comment: str = ""

    @property
    def total(self) -> int | None:
        if self.remaining is None:
            return None
        return self.remaining + self.completed + self.failed + self.warning

    @property
    def cancelled(self) -> bool:
        return self.status == statuses.CANCEL


# Called after each response; return True to cancel the operation.
ProgressCallback = Callable[[SubOperations], bool]


def _ae_for(node: PacsNode) -> AE:
    store_response.quiet_standard_logging()
    ae = AE(ae_title=node.calling_ae_title)
    ae.connection_timeout = settings.DICOM_CONNECT_TIMEOUT
    ae.acse_timeout = settings.DICOM_ACSE_TIMEOUT
    ae.dimse_timeout = settings.DICOM_DIMSE_TIMEOUT
    ae.network_timeout = settings.DICOM_NETWORK_TIMEOUT
    ae.maximum_pdu_size = settings.DICOM_MAX_PDU_BYTES
    return ae


def _no_delay(event) -> None:
    # Request/response traffic: do not let Nagle hold back our short requests.
    sock = getattr(event.assoc.dul.socket, "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    event.assoc.viewer_connected = True


def _connect_problem(node: PacsNode) -> str:
    """Why a TCP connection to the node fails (pynetdicom only logs it): asked again."""
    try:
        with socket.create_connection(
            (node.host, node.port), timeout=settings.DICOM_CONNECT_TIMEOUT
        ):
            return "the connection dropped before the association was set up"
    except TimeoutError:
        return f"no answer within {settings.DICOM_CONNECT_TIMEOUT} s"
    except OSError as exc:
        return exc.strerror or str(exc)


def _describe_failure(assoc: Association, node: PacsNode) -> str:
    where = f"PACS {node.name!r} ({node.ae_title} at {node.host}:{node.port})"
    if not getattr(assoc, "viewer_connected", False):
        return f"cannot connect to {where}: {_connect_problem(node)}"
    if assoc.is_rejected:
        primitive = assoc.acceptor.primitive
        detail = ", ".join(
            str(part)
            for part in (primitive.result_str, primitive.source_str, primitive.reason_str)
            if part
        )
        return (
            f"{where} rejected the association ({detail}); check that it knows our AE title "
            f"{node.calling_ae_title!r} and address"
        )
    if assoc.is_aborted:
        return (
            f"{where} aborted the association; check that it knows our AE title "
            f"{node.calling_ae_title!r} and address"
        )
    return f"{where} did not answer the association request within {settings.DICOM_ACSE_TIMEOUT} s"


@contextmanager
def associate(
    node: PacsNode,
    contexts: list,
    roles: list | None = None,
    handlers: list | None = None,
) -> Iterator[Association]:
    ae = _ae_for(node)
    ae.requested_contexts = contexts
    assoc = ae.associate(
        node.host,
        node.port,
        ae_title=node.ae_title,
        # What we advertise as our receive limit (PS3.8 9.3.1 Maximum Length): pynetdicom takes
        # it from this argument (16 KiB by default), not from ae.maximum_pdu_size. A C-GET
        # brings every instance back to us, so a 16 KiB limit cut a 512 KiB slice into 32 PDUs.
        max_pdu=settings.DICOM_MAX_PDU_BYTES,
        ext_neg=roles or None,
        evt_handlers=[
            (evt.EVT_CONN_OPEN, pdu_guard.guard),
            (evt.EVT_CONN_OPEN, dul_wait.install_on_open),
            (evt.EVT_CONN_OPEN, _no_delay),
            # C-GET: the instances come back as C-STORE requests we answer on this association.
            (evt.EVT_CONN_OPEN, store_request.install_on_open),
            (evt.EVT_CONN_OPEN, store_response.install_on_open),
            *(handlers or []),
        ],
    )
    if not assoc.is_established:
        raise PacsError(_describe_failure(assoc, node))
    try:
        yield assoc
    finally:
        # Released only if the connection is still up (PS3.8 Sta6): when it has just ended
        # under us (an A-P-ABORT, e.g. our PDU guard refused a PDU), pynetdicom's reactor may
        # not have marked the association yet, and a release would wait the whole ACSE timeout
        # for an answer that cannot come.
        if assoc.is_established and assoc.dul.state_machine.current_state == "Sta6":
            assoc.release()
        else:
            assoc.abort()


def echo(node: PacsNode) -> EchoResult:
    """C-ECHO (PS3.4 A.4): is the node there and does it accept us."""
    started = time.monotonic()
    try:
        with associate(node, [build_context(Verification)]) as assoc:
            status = assoc.send_c_echo()
    except PacsError as exc:
        return EchoResult(False, str(exc), (time.monotonic() - started) * 1000)
    elapsed = (time.monotonic() - started) * 1000
    code = status.get("Status") if status else None
    if code == statuses.SUCCESS:
        return EchoResult(True, f"C-ECHO answered in {elapsed:.0f} ms", elapsed)
    if code is None:
        return EchoResult(False, "no C-ECHO response (timeout or aborted)", elapsed)
    return EchoResult(False, f"C-ECHO answered with status 0x{code:04X}", elapsed)


def _accepted_context_id(assoc: Association, abstract_syntax: str) -> int:
    for context in assoc.accepted_contexts:
        if context.abstract_syntax == abstract_syntax:
            return int(context.context_id)
    raise PacsError(f"the PACS did not accept the {abstract_syntax} service")


def _failure(operation: str, status: Dataset, assoc: Association) -> PacsError:
    code = status.get("Status")
    if code is None:
        # pynetdicom reports an abort and a DIMSE timeout alike (an empty status), and
        # sets its abort flag only later; a PACS that does not know us typically aborts.
        ours = assoc.requestor.ae_title.strip()
        return PacsError(
            f"{operation}: no answer from the PACS (it aborted the association or did not "
            f"respond within {settings.DICOM_DIMSE_TIMEOUT} s); check that it knows our AE "
            f"title {ours!r} and address and allows us this service"
        )
    comment = str(status.get("ErrorComment", "") or "").strip()
    return PacsError(
        f"{operation} failed with status 0x{int(code):04X}" + (f": {comment}" if comment else "")
    )


@dataclass
class FindOutcome:
    matches: list[Dataset]
    truncated: bool


def find(
    node: PacsNode, identifier: Dataset, *, patient_root: bool = False, limit: int | None = None
) -> FindOutcome:
    """C-FIND (PS3.4 C.4.1); stops with C-CANCEL once ``limit`` matches are in."""
    model = (
        PatientRootQueryRetrieveInformationModelFind
        if patient_root
        else StudyRootQueryRetrieveInformationModelFind
    )
    limit = limit or settings.PACS_FIND_MAX_RESULTS
    matches: list[Dataset] = []
    truncated = False
    with associate(node, [build_context(model)]) as assoc:
        context_id = _accepted_context_id(assoc, model)
        responses = assoc.send_c_find(identifier, model, msg_id=1)
        for status, match in responses:
            if "Status" not in status:
                raise _failure("C-FIND", status, assoc)
            category = statuses.category(int(status.Status))
            if category == "pending":
                if match is not None and not truncated:
                    matches.append(match)
                if len(matches) >= limit and not truncated:
                    truncated = True
                    assoc.send_c_cancel(1, context_id)
                continue
            if category in ("success", "cancel", "warning"):
                break
            raise _failure("C-FIND", status, assoc)
    return FindOutcome(matches, truncated)


def find_each(node: PacsNode, identifier: Dataset) -> Iterator[Dataset]:
    """C-FIND (PS3.4 C.4.1, Study Root), each match yielded as it arrives; the association
    is released once all are in (or the caller stops iterating)."""
    model = StudyRootQueryRetrieveInformationModelFind
    with associate(node, [build_context(model)]) as assoc:
        try:
            for status, match in assoc.send_c_find(identifier, model, msg_id=1):
                if "Status" not in status:
                    raise _failure("C-FIND", status, assoc)
                category = statuses.category(int(status.Status))
                if category == "pending":
                    if match is not None:
                        yield match
                    continue
                if category in ("success", "cancel", "warning"):
                    return
                raise _failure("C-FIND", status, assoc)
        except GeneratorExit:
            assoc.abort()  # the caller stopped: the rest of the answer is not wanted
            raise


def _update(progress: SubOperations, status: Dataset, identifier: Dataset | None) -> None:
    for keyword, attribute in (
        ("NumberOfRemainingSuboperations", "remaining"),
        ("NumberOfCompletedSuboperations", "completed"),
        ("NumberOfFailedSuboperations", "failed"),
        ("NumberOfWarningSuboperations", "warning"),
    ):
        value = status.get(keyword)
        if value is not None:
            setattr(progress, attribute, int(value))
    comment = status.get("ErrorComment")
    if comment:
        progress.error_comment = str(comment).strip()
    if identifier is not None and "FailedSOPInstanceUIDList" in identifier:
        value = identifier.FailedSOPInstanceUIDList
        progress.failed_uids = [str(v) for v in (value if isinstance(value, list) else [value])]


def _drive(
    assoc: Association,
    operation: str,
    responses: Iterator[tuple[Dataset, Dataset | None]],
    context_id: int,
    on_progress: ProgressCallback | None,
) -> SubOperations:
    """Read C-MOVE/C-GET responses to the end, cancelling once if the callback asks."""
    progress = SubOperations(operation=operation)
    cancel_sent = False
    for status, identifier in responses:
        if "Status" not in status:
            raise _failure(operation, status, assoc)
        code = int(status.Status)
        _update(progress, status, identifier)
        if statuses.category(code) == "pending":
            if on_progress is not None and on_progress(progress) and not cancel_sent:
                cancel_sent = True
                assoc.send_c_cancel(1, context_id)
            continue
        progress.status = code
        # Final response: PS3.4 C.4.2.1.6 says Remaining is absent, so it is none left.
        progress.remaining = 0
        if on_progress is not None:
            on_progress(progress)
        # A failure may come after some sub-operations completed (Orthanc ends a C-MOVE at
        # the first refused C-STORE): the caller counts what arrived and decides.
        return progress
    raise PacsError(f"{operation}: the PACS ended the association without a final response")


def move(
    node: PacsNode,
    identifier: Dataset,
    destination: str,
    on_progress: ProgressCallback | None = None,
) -> SubOperations:
    """C-MOVE (PS3.4 C.4.2): the PACS sends the matches to ``destination`` (our listener)."""
    model = StudyRootQueryRetrieveInformationModelMove
    with associate(node, [build_context(model)]) as assoc:
        # The instances go to the listener; on this association only progress comes back, so
        # its reader may poll the socket less often than pynetdicom's 1 ms (a thread waking
        # 1000 times a second cost the worker more CPU than the retrieve's bookkeeping).
        # Responses that arrive meanwhile wait in the socket buffer and are all read at once.
        assoc.dul._run_loop_delay = _MOVE_POLL_SECONDS
        context_id = _accepted_context_id(assoc, model)
        responses = assoc.send_c_move(identifier, destination, model, msg_id=1)
        return _drive(assoc, "C-MOVE", responses, context_id, on_progress)


def _storage_contexts(sop_classes: list[str] | None) -> list[str]:
    if sop_classes:
        unique = list(dict.fromkeys(sop_classes))
    else:
        unique = [cx.abstract_syntax for cx in StoragePresentationContexts]
    return unique[: _MAX_CONTEXTS - 1]


def get(
    node: PacsNode,
    identifier: Dataset,
    on_store: Callable[[object], int],
    sop_classes: list[str] | None = None,
    on_progress: ProgressCallback | None = None,
) -> SubOperations:
    """C-GET (PS3.4 C.4.3): the PACS sends the matches back on this association, each as a
    C-STORE we answer through ``on_store(event) -> status``. We take the Storage SCP role
    for each SOP class we propose (PS3.7 D.3.3.4 role selection)."""
    model = StudyRootQueryRetrieveInformationModelGet
    storage = _storage_contexts(sop_classes)
    contexts = [build_context(model)] + [build_context(uid, syntaxes.STORAGE) for uid in storage]
    roles = [build_role(uid, scp_role=True) for uid in storage]
    with associate(node, contexts, roles, handlers=[(evt.EVT_C_STORE, on_store)]) as assoc:
        context_id = _accepted_context_id(assoc, model)
        responses = assoc.send_c_get(identifier, model, msg_id=1)
        return _drive(assoc, "C-GET", responses, context_id, on_progress)
