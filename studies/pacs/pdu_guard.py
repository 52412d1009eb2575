"""A guard on every PDU a peer sends us (PS3.8 9.3): a malformed header or a PDU that never
finishes arriving ends that one association, and no data set grows past a cap.

Why this module exists: pynetdicom 3.0.4's ``DULServiceProvider._read_pdu_data`` reads the
6-byte PDU header with ``AssociationSocket.recv(6)`` and then the announced length with
``recv(pdu_length)``, on a blocking socket without a deadline. A header announcing 4 GiB, or a
header followed by silence, leaves that DUL thread in ``recv()`` for as long as the peer keeps
the TCP connection open, holding an association slot; the ARTIM timer and the network
timeout are only checked between reads. Even an unknown PDU type, which the DUL does detect,
is followed by a read of whatever bytes trail it, which blocks the same way.

So each association's ``AssociationSocket`` becomes a ``GuardedSocket`` (``guard``, bound to
``EVT_CONN_OPEN``, which pynetdicom fires before the DUL reads anything, on both the acceptor
and the requestor side). It knows the DUL's read pattern (a header read of 6 bytes, then the
body) and, before the DUL ever sees the bytes:

- refuses an unknown PDU type (PS3.8 9.3.1: only 01H-07H exist) and a length no PDU of that
  type may have: a P-DATA-TF longer than the Maximum Length we advertised (PS3.8 D.1), an
  A-ASSOCIATE-RQ/AC beyond ``MAX_ASSOCIATE_BYTES``, an A-ASSOCIATE-RJ, A-RELEASE or A-ABORT
  other than 4 bytes long (PS3.8 9.3.4, 9.3.6-9.3.8);
- gives each PDU, header and body, ``network_timeout`` seconds to arrive in full;
- counts the data set bytes arriving in P-DATA-TF PDVs (PS3.8 9.3.5.1, Annex E.2) and stops
  once one data set passes the cap, so at most the cap plus one PDU is ever buffered.

A refusal sends A-ABORT (PS3.8 9.3.8; either side may abort at any time, PS3.8 7.3), shuts
the connection down and raises ``PduRefused``: the DUL takes that as "transport connection
closed" (Evt17), which ends the association through its own state machine (AA-4/AA-5/AR-5).

Checked against pynetdicom 3.0.4; tests/pacs/test_pdu_guard.py fails loudly if the DUL stops
reading this way or stops firing EVT_CONN_OPEN before its first read.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import time

from django.conf import settings
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.transport import AssociationSocket

log = logging.getLogger(__name__)

# PS3.8 9.3.1 PDU types.
A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ = 0x01, 0x02, 0x03
P_DATA_TF, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT = 0x04, 0x05, 0x06, 0x07
_FIXED_LENGTH = 4  # A-ASSOCIATE-RJ, A-RELEASE-RQ/RP, A-ABORT: PS3.8 9.3.4, 9.3.6-9.3.8

# A-ASSOCIATE-RQ/AC have no length limit of their own. A real one, even with all 128
# presentation contexts (PS3.8 9.3.2.2) listing ten transfer syntaxes each plus a user
# identity token, stays under 200 KiB; 1 MiB leaves room and still refuses 4 GiB.
MAX_ASSOCIATE_BYTES = 1024**2
# Used only when no Maximum Length was advertised (0 means unlimited, PS3.8 D.1).
_UNLIMITED_PDATA_BYTES = 64 * 1024**2

# PS3.8 9.3.8 Table 9-26: A-ABORT source and reason/diagnostic.
SOURCE_SERVICE_USER, SOURCE_SERVICE_PROVIDER = 0x00, 0x02
REASON_NOT_SPECIFIED = 0x00
UNRECOGNIZED_PDU = 0x01
INVALID_PDU_PARAMETER_VALUE = 0x06

_HEADER = struct.Struct(">BBL")  # PDU type, reserved, PDU length
_PDV = struct.Struct(">LBB")  # item length, presentation context ID, message control header
_CHUNK = 64 * 1024
_TIMEVAL = struct.Struct("@ll")  # struct timeval: seconds, microseconds
_ABORT_SEND_SECONDS = 1.0


class PduRefused(ConnectionError):
    """The peer sent something we will not read; the association was aborted."""


def header_problem(pdu_type: int, length: int, max_pdata: int) -> tuple[int, str] | None:
    """(A-ABORT reason, why) if no well-formed PDU has this header, else None."""
    if pdu_type in (A_ASSOCIATE_RQ, A_ASSOCIATE_AC):
        limit = MAX_ASSOCIATE_BYTES
    elif pdu_type == P_DATA_TF:
        # PS3.8 D.1: the Maximum Length bounds the P-DATA-TF variable field, i.e. its length.
        limit = max_pdata or _UNLIMITED_PDATA_BYTES
    elif pdu_type in (A_ASSOCIATE_RJ, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT):
        limit = _FIXED_LENGTH
    else:
        return UNRECOGNIZED_PDU, f"unknown PDU type 0x{pdu_type:02X}"
    if length > limit:
        return (
            INVALID_PDU_PARAMETER_VALUE,
            f"PDU type 0x{pdu_type:02X} announces {length} bytes (at most {limit})",
        )
    return None


class DataSetMeter:
    """Bytes of the data set now arriving, from the PDVs of each P-DATA-TF (PS3.8 9.3.5.1;
    Annex E.2: message control header bit 0 set = command, bit 1 set = last fragment)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.received = 0

    def add(self, variable_field: bytes | bytearray) -> bool:
        """Count the data set fragments in one P-DATA-TF; False once a data set passes the cap."""
        offset, end = 0, len(variable_field)
        while offset + _PDV.size <= end:
            item_length, _context_id, control = _PDV.unpack_from(variable_field, offset)
            if item_length < 2:
                break  # malformed: pynetdicom's decoder refuses it (Evt19)
            if not control & 0x01:
                self.received += item_length - 2
                if self.received > self.cap:
                    return False
                if control & 0x02:
                    self.received = 0
            offset += 4 + item_length
        return True


class GuardedSocket(AssociationSocket):
    """pynetdicom's AssociationSocket with the checks above on what the DUL reads."""

    _deadline: float | None
    _pending: tuple[int, int] | None  # header read, body not yet: (PDU type, length)
    _max_pdata: int
    _timeout: float | None
    _meter: DataSetMeter

    def _start_guard(self, dataset_cap: int) -> None:
        assoc = self.assoc
        local = assoc.acceptor if assoc.is_acceptor else assoc.requestor
        self._max_pdata = local.maximum_length or 0  # what we advertised (PS3.8 D.1)
        self._timeout = assoc.network_timeout
        self._meter = DataSetMeter(dataset_cap)
        self._pending = None
        self._deadline = None

    def recv(self, nr_bytes: int) -> bytearray:
        if self._pending is None:
            # A header (or, once the connection is closing, whatever follows): from its first
            # byte the whole PDU gets one network timeout.
            self._deadline = None if self._timeout is None else time.monotonic() + self._timeout
            data = self._read(nr_bytes)
            if nr_bytes == _HEADER.size and len(data) == _HEADER.size:
                pdu_type, _reserved, length = _HEADER.unpack(data)
                problem = header_problem(pdu_type, length, self._max_pdata)
                if problem is not None:
                    self._refuse(SOURCE_SERVICE_PROVIDER, *problem)
                self._pending = (pdu_type, length)
            return data
        pdu_type, length = self._pending
        self._pending = None
        data = self._read(nr_bytes)
        if pdu_type == P_DATA_TF and len(data) == length and not self._meter.add(data):
            # Our policy, not a protocol error: the service user aborts (reason must be 0).
            # A C-STORE-RSP is not an option: it answers a complete request (PS3.7 9.3.1),
            # and pynetdicom only hands a C-STORE to us once the whole data set is in memory.
            self._refuse(
                SOURCE_SERVICE_USER,
                REASON_NOT_SPECIFIED,
                f"a data set larger than DICOM_MAX_DATASET_BYTES ({self._meter.cap} bytes)",
            )
        return data

    def _read(self, nr_bytes: int) -> bytearray:
        """Up to ``nr_bytes``, fewer only if the peer closed; the deadline refuses the rest."""
        sock = self.socket
        if sock is None:
            return bytearray()
        if isinstance(sock, ssl.SSLSocket) or sock.gettimeout() is not None:
            return self._read_in_chunks(sock, nr_bytes)
        return self._read_whole(sock, nr_bytes)

    def _read_whole(self, sock: socket.socket, nr_bytes: int) -> bytearray:
        """The bytes in one buffer, with one system call when they arrive in time.

        MSG_WAITALL has the kernel wait until all of them are there (a 128 KiB P-DATA-TF
        from Orthanc arrives in pieces over loopback: reading each piece as it came cost a
        Python loop turn, and the GIL, per piece). The deadline is the socket's receive
        timeout (SO_RCVTIMEO), after which the call returns what has come (or EAGAIN)."""
        buffer = bytearray(nr_bytes)
        received = 0
        try:
            with memoryview(buffer) as view:
                while received < nr_bytes:
                    if self._deadline is not None:
                        remaining = self._deadline - time.monotonic()
                        if remaining <= 0:
                            raise TimeoutError
                        _receive_timeout(sock, remaining)
                    try:
                        count = sock.recv_into(view[received:], 0, socket.MSG_WAITALL)
                    except BlockingIOError:
                        continue  # the receive timeout: the deadline decides
                    if not count:
                        break  # the peer closed
                    received += count
        except TimeoutError:
            self._refuse(
                SOURCE_SERVICE_PROVIDER,
                REASON_NOT_SPECIFIED,
                f"a PDU did not arrive within the network timeout ({self._timeout} s)",
            )
        del buffer[received:]
        return buffer

    def _read_in_chunks(self, sock, nr_bytes: int) -> bytearray:
        """As ``_read_whole``, for a socket with a Python timeout or TLS (no MSG_WAITALL)."""
        data = bytearray()
        previous = sock.gettimeout()
        try:
            while len(data) < nr_bytes:
                if self._deadline is not None:
                    remaining = self._deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError
                    sock.settimeout(remaining)
                chunk = sock.recv(min(nr_bytes - len(data), _CHUNK))
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            self._refuse(
                SOURCE_SERVICE_PROVIDER,
                REASON_NOT_SPECIFIED,
                f"a PDU did not arrive within the network timeout ({self._timeout} s)",
            )
        finally:
            try:
                sock.settimeout(previous)
            except OSError:
                pass
        return data

    def _refuse(self, source: int, reason: int, why: str) -> None:
        assoc = self.assoc
        remote = assoc.requestor if assoc.is_acceptor else assoc.acceptor
        log.warning("aborting the association with %s: %s", remote.address_info.address, why)
        abort = A_ABORT_RQ()
        abort.source = source
        abort.reason_diagnostic = reason
        sock = self.socket
        if sock is not None:
            try:
                sock.settimeout(_ABORT_SEND_SECONDS)  # a peer that reads nothing cannot stall us
                sock.sendall(abort.encode())
            except OSError:
                pass
            try:
                sock.shutdown(2)  # SHUT_RDWR: the peer sees the end now, not at our next read
            except OSError:
                pass
        raise PduRefused(why)


def _receive_timeout(sock: socket.socket, seconds: float) -> None:
    """SO_RCVTIMEO (at least 1 ms: zero would mean no timeout)."""
    whole = int(seconds)
    micro = max(int((seconds - whole) * 1_000_000), 0 if whole else 1000)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _TIMEVAL.pack(whole, micro))


def guard(event) -> None:
    """EVT_CONN_OPEN handler: put the guard on this association's socket before the DUL
    reads from it (acceptor: before the association thread starts; requestor: right after
    connect(), before the A-ASSOCIATE-AC is read)."""
    sock = event.assoc.dul.socket
    if type(sock) is AssociationSocket:
        # The DUL holds this object, and pynetdicom builds it itself (RequestHandler and
        # AE._create_socket), so it is re-classed in place; GuardedSocket adds methods only.
        sock.__class__ = GuardedSocket
    if isinstance(sock, GuardedSocket):
        sock._start_guard(settings.DICOM_MAX_DATASET_BYTES)
