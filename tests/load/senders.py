"""C-STORE senders (pynetdicom SCU) towards the deployment's DICOM listener.

``seed_studies`` stores the phantom CT studies the simulated viewers read. ``Sender`` threads
then keep storing new instances into those studies during the run, at a bounded rate, the way
a modality delivers a series while radiologists read: every stored instance is announced to
the open viewers of its study over the channel layer.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from studies.demo.phantom import PhantomCT, ct_dataset

CALLING_AE = "LOADSENDER"
SUCCESS = 0x0000


@dataclass(frozen=True)
class SeededStudy:
    study_uid: str
    series_uid: str
    instances: list[str]
    template: Dataset  # one slice, copied to make new instances during the run


# pynetdicom's DUL reactor sleeps this long between polls when idle (its default, 1 ms),
# and IDLE_POLL_SECONDS between a sender's stores; it is set back WAKE_BEFORE_SECONDS
# ahead of the next store (more than one idle poll, so the reactor is awake again by then).
BUSY_POLL_SECONDS = 0.001
IDLE_POLL_SECONDS = 0.02
WAKE_BEFORE_SECONDS = 0.03


def _poll_every(assoc, seconds: float) -> None:
    dul = getattr(assoc, "dul", None)
    if dul is not None and hasattr(dul, "_run_loop_delay"):
        dul._run_loop_delay = seconds


def _association(host: str, port: int, called_ae: str):
    ae = AE(ae_title=CALLING_AE)
    ae.add_requested_context(CTImageStorage)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    assoc = ae.associate(host, port, ae_title=called_ae)
    if not assoc.is_established:
        raise RuntimeError(f"the listener at {host}:{port} refused the association")
    return assoc


def store(
    host: str, port: int, called_ae: str, datasets: list[Dataset], calling_ae: str = CALLING_AE
) -> list[int | None]:
    """C-STORE each data set on one association; the status of each (None: no answer)."""
    ae = AE(ae_title=calling_ae)
    for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(sop_class)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    assoc = ae.associate(host, port, ae_title=called_ae)
    if not assoc.is_established:
        raise RuntimeError(f"the listener at {host}:{port} refused the association")
    statuses: list[int | None] = []
    try:
        for ds in datasets:
            answer = assoc.send_c_store(ds)
            statuses.append(getattr(answer, "Status", None))
    finally:
        if assoc.is_established:
            assoc.release()
    return statuses


def seed_studies(
    host: str, port: int, called_ae: str, studies: int, slices: int, size: int
) -> list[SeededStudy]:
    """Store ``studies`` phantom CTs of ``slices`` slices through C-STORE."""
    seeded = []
    assoc = _association(host, port, called_ae)
    try:
        for number in range(studies):
            phantom = PhantomCT(slices=slices, size=size, seed=1000 + number)
            uids = []
            template = None
            for index in range(slices):
                ds = ct_dataset(phantom, index)
                status = assoc.send_c_store(ds)
                code = getattr(status, "Status", None)
                if code != SUCCESS:
                    raise RuntimeError(f"seeding: C-STORE answered {code!r}")
                uids.append(str(ds.SOPInstanceUID))
                template = template or ds
            assert template is not None
            seeded.append(SeededStudy(phantom.uids.study, phantom.uids.series, uids, template))
    finally:
        assoc.release()
    return seeded


@dataclass
class SenderStats:
    sent: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Sender(threading.Thread):
    """Stores new instances into one study at ``rate`` per second until ``stop`` or
    ``deadline``, on one association (re-opened if it breaks, a bounded number of times)."""

    def __init__(
        self,
        host: str,
        port: int,
        called_ae: str,
        study: SeededStudy,
        rate: float,
        deadline: float,
        stop: threading.Event,
        number: int = 0,
    ) -> None:
        super().__init__(name=f"sender-{number}", daemon=True)
        self.number = number
        self.address = (host, port, called_ae)
        self.study = study
        self.period = 1.0 / rate
        self.deadline = deadline
        self.stop_event = stop
        self.stats = SenderStats()
        self.series_uid = generate_uid()

    def _instance(self, number: int) -> Dataset:
        ds = copy.deepcopy(self.study.template)
        ds.SeriesInstanceUID = self.series_uid
        ds.SeriesNumber = 900 + self.number
        ds.InstanceNumber = number
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        return ds

    def run(self) -> None:
        assoc = None
        reconnects = 0
        number = 0
        next_at = time.monotonic()
        while not self.stop_event.is_set() and time.monotonic() < self.deadline:
            try:
                if assoc is None or not assoc.is_established:
                    if reconnects > 5:
                        self.stats.errors.append("gave up after 5 reconnects")
                        return
                    reconnects += 1
                    assoc = _association(*self.address)
                number += 1
                ds = self._instance(number)
                started = time.monotonic()
                status = assoc.send_c_store(ds)
                elapsed = time.monotonic() - started
                code = getattr(status, "Status", None)
                if code == SUCCESS:
                    self.stats.sent += 1
                    self.stats.latencies.append(elapsed)
                else:
                    self.stats.failed += 1
                    self.stats.errors.append(f"C-STORE status {code!r}")
            except Exception as exc:
                self.stats.failed += 1
                self.stats.errors.append(f"{type(exc).__name__}: {exc}")
                assoc = None
            next_at += self.period
            # Between stores the association's reader thread polls its socket every
            # millisecond (pynetdicom's DUL reactor): a third of this process's CPU, on the
            # cores the servers share. It polls slowly while idle and at its own pace again
            # a little before the next store, so the store's latency is measured as before.
            _poll_every(assoc, IDLE_POLL_SECONDS)
            self.stop_event.wait(max(0.0, next_at - WAKE_BEFORE_SECONDS - time.monotonic()))
            _poll_every(assoc, BUSY_POLL_SECONDS)
            self.stop_event.wait(max(0.0, next_at - time.monotonic()))
        if assoc is not None and assoc.is_established:
            assoc.release()
