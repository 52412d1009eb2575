"""Ingest on more than one core: a receiving process hands instances to ingest processes.

Checking, storing and indexing a 512² CT slice is 8-10 ms of CPU, nearly all Python (pydicom,
Django) under the GIL, and the DICOM side (pynetdicom's PDU and DIMSE handling) another 3-5. A
listener or retrieve worker that ingests in its own threads therefore uses one core however
many associations deliver at once: ~100 slices a second at best, on a machine with more cores
idle. With ``INGEST_PROCESSES`` > 0 the daemons (``dicom_listener``, ``retrieve_worker``)
start that many ingest processes, and each C-STORE's bytes are ingested in one of them while
the association's thread waits for the result: the promise is unchanged (the C-STORE
response leaves only once ``ingest_bytes`` has returned, i.e. the file is durable and
indexed), only the core it runs on changes.

Off by default: the gain needs idle cores. On the shared 2-core bench machine under load
(load average 7-11) a 200-slice C-MOVE took a median 7.96 s with two ingest processes against
4.33 s without (each instance's two hand-offs between processes wait for the scheduler); on
a quieter spell 2.60 s against 3.03-3.29 s.

The processes are forked when the pool starts, before the daemon starts any thread or opens
its socket, so they inherit settings and imports and nothing half-locked. Their SQLite write
transactions are serialised across processes by ``studies.write_turn`` (SQLite's own busy
handler sleeps 1, 2, 5 ms... between tries, which cost more than the wait itself).

Each process serves one instance at a time over its own socket pair: the caller takes an idle
process, sends the arguments and the bytes, and reads the result (~0.3 ms of the caller's CPU
for a 525 kB CT slice; ``concurrent.futures.ProcessPoolExecutor``'s queues and manager
thread cost ~1 ms). An instance larger than ``MAX_POOLED_BYTES`` is ingested in the calling
process: copying hundreds of megabytes through a socket would cost more than it saves. If an
ingest process dies, the instance it had is ingested by its caller (ingest is idempotent) and
so is every later one. Without a pool (``INGEST_PROCESSES=0``, and in tests unless one starts
it) ``ingest`` is ``ingest_bytes``.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
import threading

log = logging.getLogger(__name__)

MAX_POOLED_BYTES = 64 * 1024**2


class _Pool:
    def __init__(self, processes: int) -> None:
        context = multiprocessing.get_context("fork")
        self.idle: queue.SimpleQueue = queue.SimpleQueue()  # a connection, or None: broken
        self.processes = []
        ends = []  # ours, of every pair so far
        for _ in range(processes):
            ours, theirs = context.Pipe()
            ends.append(ours)
            # The child inherits our ends too; it closes them, or a child would never read
            # end-of-file when we close its connection (another still holding it open).
            process = context.Process(
                target=_serve, args=(theirs, list(ends)), name="ingest", daemon=True
            )
            process.start()
            theirs.close()
            self.processes.append(process)
            self.idle.put(ours)


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def start(processes: int) -> None:
    """Fork ``processes`` ingest processes (none: ingest stays in this process).

    Call before the process starts threads or opens sockets (see the module docstring).
    """
    global _pool
    if processes <= 0:
        return
    from django.db import connections

    # A forked child must not share the parent's database connection.
    connections.close_all()
    with _pool_lock:
        if _pool is None:
            _pool = _Pool(processes)


def stop() -> None:
    """Let the ingest processes finish what they have and exit."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is None:
        return
    for _ in pool.processes:
        connection = pool.idle.get()  # waits for a busy one to finish
        if connection is None:
            pool.idle.put(None)
            break
        connection.close()  # the process reads end-of-file and exits
    for process in pool.processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def running() -> bool:
    return _pool is not None


def ingest(data: bytes, source: str, source_detail: str = "", **options):
    """``studies.ingest.ingest_bytes`` in an ingest process when a pool runs, else here."""
    from studies.ingest import ingest_bytes

    pool = _pool
    if pool is None or len(data) > MAX_POOLED_BYTES:
        return ingest_bytes(data, source, source_detail, **options)
    connection = pool.idle.get()
    if connection is None:  # broken: pass the word on to the next caller
        pool.idle.put(None)
        return ingest_bytes(data, source, source_detail, **options)
    try:
        connection.send((source, source_detail, options))
        connection.send_bytes(data)
        message = connection.recv_bytes()
    except (EOFError, OSError):
        _broken(pool)
        return ingest_bytes(data, source, source_detail, **options)
    pool.idle.put(connection)  # the exchange is complete, whatever the answer says
    ok, answer = pickle.loads(message)  # noqa: S301 (from our own forked child)
    if not ok:
        raise answer  # what ingest_bytes raised there (a DatabaseError, say)
    return answer


def _broken(pool: _Pool) -> None:
    global _pool
    log.error("an ingest process died; ingesting in the receiving process from now on")
    with _pool_lock:
        if _pool is pool:
            _pool = None
    pool.idle.put(None)


def _serve(connection, parent_ends: list) -> None:
    """An ingest process: ingest what arrives, answer, until the other end closes."""
    import signal

    for end in parent_ends:
        end.close()

    from django.db import close_old_connections
    from django.db import connection as database

    from studies.ingest import ingest_bytes
    from studies.validation import skip_pydicom_value_checks

    # Ctrl-C reaches the whole process group: the parent stops its children itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent set this for itself (its DIMSE data sets); ingest's own parse is here now.
    skip_pydicom_value_checks()
    while True:
        try:
            source, source_detail, options = connection.recv()
            data = connection.recv_bytes()
        except EOFError:
            return
        if database.errors_occurred:
            database.close()
        close_old_connections()
        try:
            answer = (True, ingest_bytes(data, source, source_detail, **options))
        except Exception as exc:
            answer = (False, exc)
        try:
            connection.send(answer)
        except Exception as exc:  # an exception that does not pickle
            connection.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
