"""The only door into the archive.

Every entry point (CLI import, browser upload, STOW-RS, the DICOM listener, the retrieve
worker) hands bytes to ``ingest_bytes``. It validates, stores the file durably, indexes it in
one transaction and publishes an event; a file that fails any step is quarantined with its
reason, so nothing sent to us is lost and one bad file never spoils its batch.

Idempotent: the file path and the index row are both keyed by SOP Instance UID, so the same
instance sent twice, or by twenty senders at once, ends as one file and one row.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.sql import InsertQuery
from pydicom import dcmwrite
from pydicom.dataset import FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

from studies import dicom_text, events
from studies.models import Instance, Patient, QuarantinedFile, Series, Study
from studies.sources import Candidate
from studies.storage import StorageError, content_digest, dicom_store, key_digest, quarantine_store
from studies.validation import PREAMBLE_LENGTH, CheckedFile, Limits, Rejected, check_file
from studies.write_turn import write_turn

log = logging.getLogger(__name__)

STORED = "stored"
DUPLICATE = "duplicate"
REJECTED = "rejected"
_EMPTY_PREAMBLE = bytes(PREAMBLE_LENGTH)


@dataclass
class IngestResult:
    status: str  # STORED, DUPLICATE or REJECTED
    name: str = ""  # the sender's name for the file, for reports only
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    instance_id: int | None = None
    reason_code: str = ""
    reason: str = ""
    quarantine_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status != REJECTED


@dataclass
class BatchSummary:
    results: list[IngestResult] = field(default_factory=list)

    def add(self, result: IngestResult) -> None:
        self.results.append(result)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def rejected(self) -> list[IngestResult]:
        return [r for r in self.results if r.status == REJECTED]


def limits_from_settings() -> Limits:
    return Limits(
        max_file_bytes=settings.INGEST_MAX_FILE_BYTES,
        max_image_bytes=settings.INGEST_MAX_IMAGE_BYTES,
        max_frames=settings.INGEST_MAX_FRAMES,
        max_inflated_bytes=settings.INGEST_MAX_INFLATED_BYTES,
    )


def ingest_bytes(
    data: bytes,
    source: str,
    source_detail: str = "",
    name: str = "",
    *,
    expected_study_uid: str = "",
    expected_sop: tuple[str, str] | None = None,
) -> IngestResult:
    """Validate, store, index and announce one DICOM file; quarantine it if that fails.

    ``expected_study_uid`` refuses an instance of any other study (STOW-RS to
    /studies/{study}, PS3.18 10.5.1), after the full check and before anything is stored.
    ``expected_sop`` (SOP Class UID, SOP Instance UID) refuses a data set that is not the
    instance a C-STORE request announced (PS3.4 B.2.3), from the same one parse.
    """
    try:
        checked = check_file(data, limits_from_settings())
    except Rejected as rejection:
        return _quarantine(data, source, source_detail, name, rejection)
    if expected_sop is not None and (
        (checked.sop_class_uid, checked.sop_instance_uid) != tuple(expected_sop)
    ):
        rejection = Rejected(
            "not_as_announced",
            f"the data set is {checked.sop_class_uid}/{checked.sop_instance_uid} but the "
            f"request announced {expected_sop[0]}/{expected_sop[1]}",
        )
        return _quarantine(data, source, source_detail, name, rejection, checked.sop_instance_uid)
    if expected_study_uid and checked.study_instance_uid != expected_study_uid:
        rejection = Rejected(
            "study_mismatch",
            f"Study Instance UID {checked.study_instance_uid} is not the study "
            f"{expected_study_uid} the request was addressed to",
        )
        return _quarantine(data, source, source_detail, name, rejection, checked.sop_instance_uid)
    try:
        return _store_and_index(checked, data, source, source_detail, name)
    except Rejected as rejection:
        return _quarantine(data, source, source_detail, name, rejection, checked.sop_instance_uid)
    except StorageError as exc:
        log.error("storage failed for an incoming instance: %s", exc)
        rejection = Rejected("storage_error", f"the archive could not store the file: {exc}")
        return _quarantine(data, source, source_detail, name, rejection, checked.sop_instance_uid)


def ingest_candidate(candidate: Candidate, source: str, source_detail: str = "") -> IngestResult:
    """Ingest a file from a source; one that could not be read is quarantined with the reason
    (and with whatever bytes the source still had, so an upload is not lost)."""
    if not candidate.problem:
        return ingest_bytes(candidate.data or b"", source, source_detail, candidate.name)
    code = "too_large" if candidate.size is not None else "unreadable"
    return _quarantine(
        candidate.data or b"",
        source,
        source_detail,
        candidate.name,
        Rejected(code, candidate.problem),
        declared_size=candidate.size,
    )


def ingest_path(path: Path, source: str, source_detail: str = "") -> IngestResult:
    """Ingest one file on disk, refusing an over-size file before reading it into memory."""
    limit = settings.INGEST_MAX_FILE_BYTES
    try:
        size = path.stat().st_size
        if size > limit:
            candidate = Candidate(
                str(path), problem="file larger than the file size limit", size=size
            )
        else:
            candidate = Candidate(str(path), path.read_bytes())
    except OSError as exc:
        candidate = Candidate(str(path), problem=f"cannot be read: {exc.strerror or exc}")
    return ingest_candidate(candidate, source, source_detail)


def _part10_bytes(checked: CheckedFile, data: bytes) -> bytes:
    if not checked.meta_problem:
        # The preamble is free-form and has carried executable payloads (the PS3.10 7.5
        # "dual-personality" files); we keep none of it. Most senders leave it empty (a
        # C-STORE's file has ours): then the bytes are stored as they are, without a copy.
        if data[:PREAMBLE_LENGTH] == _EMPTY_PREAMBLE:
            return data
        return _EMPTY_PREAMBLE + data[PREAMBLE_LENGTH:]
    # Write a fresh, consistent header; the data set keeps its own transfer syntax.
    dataset = checked.dataset
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = checked.sop_class_uid
    meta.MediaStorageSOPInstanceUID = checked.sop_instance_uid
    meta.TransferSyntaxUID = checked.transfer_syntax_uid
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    dataset.file_meta = meta
    dataset.preamble = bytes(PREAMBLE_LENGTH)
    buffer = io.BytesIO()
    try:
        dcmwrite(buffer, dataset, enforce_file_format=True)
    except Exception as exc:
        raise Rejected("malformed", f"data set cannot be re-encoded with a file header: {exc}")
    return buffer.getvalue()


_hashers: dict[int, ThreadPoolExecutor] = {}


def _hasher() -> ThreadPoolExecutor:
    """This process's hashing threads (a forked child inherits the pool but not its threads,
    and would wait for ever on work nobody runs: it gets its own)."""
    pid = os.getpid()
    pool = _hashers.get(pid)
    if pool is None:
        # Two threads: each ingest waits for its own hash, so more would only queue.
        pool = _hashers.setdefault(
            pid, ThreadPoolExecutor(max_workers=2, thread_name_prefix="ingest-hash")
        )
    return pool


def _store_and_index(
    checked: CheckedFile, data: bytes, source: str, source_detail: str, name: str
) -> IngestResult:
    result = IngestResult(
        STORED,
        name=name,
        sop_instance_uid=checked.sop_instance_uid,
        sop_class_uid=checked.sop_class_uid,
        study_instance_uid=checked.study_instance_uid,
        series_instance_uid=checked.series_instance_uid,
    )
    store = dicom_store()
    key = key_digest(checked.sop_instance_uid)
    # A row is written only after its file is stored (and deleted before its file), so with
    # no file under the key there is no row to look for: a new instance skips the query.
    if store.exists(key):
        existing_id = (
            Instance.objects.filter(sop_instance_uid=checked.sop_instance_uid)
            .values_list("pk", flat=True)
            .first()
        )
        if existing_id is not None:
            result.status = DUPLICATE
            result.instance_id = existing_id
            return result

    file_bytes = _part10_bytes(checked, data)
    # Hashed before the transaction, so the write lock is not held while we hash; and while
    # the file is written and synced, as both release the GIL: the hash (~1.5 ms of a CT
    # slice, SHA-256 in software here) runs on another core, or while this thread waits for
    # the disk, instead of after it.
    hashing = _hasher().submit(content_digest, file_bytes)
    try:
        # Returns once the file is durable (studies.storage): indexed only after that.
        stored = store.put(key, file_bytes)
    finally:
        sha256 = hashing.result()
    try:
        # In turn with the archive's other writers (studies.write_turn), then one transaction.
        instance_id, series_id, study_id = _index_in_transaction(
            checked, stored.relative_path, len(file_bytes), sha256, source, source_detail
        )
    except IntegrityError:
        # Another sender indexed the same SOP Instance UID between our check and our insert.
        result.status = DUPLICATE
        result.instance_id = Instance.objects.values_list("pk", flat=True).get(
            sop_instance_uid=checked.sop_instance_uid
        )
        return result
    except (Rejected, DatabaseError):
        # Nothing was indexed, so a file we just created would be an orphan.
        if stored.created:
            store.delete(stored.relative_path)
        raise
    result.instance_id = instance_id

    def committed() -> None:
        _remember_series(checked, series_id, study_id)
        events.publish_instance_stored(
            checked.study_instance_uid,
            checked.series_instance_uid,
            checked.sop_instance_uid,
            instance_id,
        )

    transaction.on_commit(committed)
    return result


class _StaleSeries(Exception):
    """The remembered series rows are gone or replaced: undo the transaction, look them up."""


def _index_in_transaction(checked: CheckedFile, *args) -> tuple[int, int, int]:
    """``_index`` in one transaction, in turn with the archive's other writers
    (studies.write_turn); once more, looking the series up, if the remembered rows were stale."""
    try:
        with write_turn(), transaction.atomic():
            return _index(checked, *args)
    except _StaleSeries:
        _remembered.series = None
    with write_turn(), transaction.atomic():
        return _index(checked, *args)


def _index(
    checked: CheckedFile,
    relative_path: str,
    file_size: int,
    sha256: str,
    source: str,
    source_detail: str,
) -> tuple[int, int, int]:
    """(instance pk, series pk, study pk) of the instance just indexed."""
    ds = checked.dataset
    text, date, time, integer = (
        dicom_text.text,
        dicom_text.date,
        dicom_text.time,
        dicom_text.integer,
    )
    # Most instances belong to a series we already hold, and arrive in runs of one series (a
    # retrieve, a modality sending a scan): counted in one statement each for the series and
    # the study, against the rows remembered from the run's first instance; else one indexed
    # lookup of three values instead of three get-or-creates.
    remembered = _remembered_series(checked)
    if remembered is not None:
        series_id, study_id = remembered
        # Inserted, then counted: the lock order of the lookup path below (instance, series,
        # study). Counting first had two writers of the same instance wait on each other
        # crosswise, a deadlock on PostgreSQL (twenty concurrent senders of one study).
        instance_id = _insert(
            checked, series_id, relative_path, file_size, sha256, source, source_detail
        )
        # The rows are checked as they are counted: gone (a study deleted), or another row
        # under the same pk (a database flushed or restored), the UPDATE matches nothing and
        # the transaction is undone (foreign keys are checked at commit, never reached).
        series_where = {"series_instance_uid": checked.series_instance_uid, "study_id": study_id}
        study_where = {"study_instance_uid": checked.study_instance_uid}
        if not (
            _increment(Series, series_id, "number_of_instances", where=series_where)
            and _increment(Study, study_id, "number_of_instances", where=study_where)
        ):
            raise _StaleSeries
        return instance_id, series_id, study_id
    known = _known_series(checked.series_instance_uid)
    series_created = False
    modality = ""
    if known:
        series_id, study_id, study_uid = known
    else:
        modality = text(ds, "Modality", 16)
        patient, _ = Patient.objects.get_or_create(
            patient_id=text(ds, "PatientID", 64),
            issuer_of_patient_id=text(ds, "IssuerOfPatientID", 64),
            defaults={
                "name": text(ds, "PatientName", 324),
                "birth_date": date(ds, "PatientBirthDate"),
                "sex": text(ds, "PatientSex", 16),
            },
        )
        study, _ = Study.objects.get_or_create(
            study_instance_uid=checked.study_instance_uid,
            defaults={
                "patient": patient,
                "study_date": date(ds, "StudyDate"),
                "study_time": time(ds, "StudyTime"),
                "accession_number": text(ds, "AccessionNumber", 16),
                "study_id": text(ds, "StudyID", 16),
                "description": text(ds, "StudyDescription", 64),
                "referring_physician_name": text(ds, "ReferringPhysicianName", 324),
            },
        )
        series, series_created = Series.objects.get_or_create(
            series_instance_uid=checked.series_instance_uid,
            defaults={
                "study": study,
                "modality": modality,
                "series_number": integer(ds, "SeriesNumber"),
                "description": text(ds, "SeriesDescription", 64),
                "body_part_examined": text(ds, "BodyPartExamined", 16),
                "frame_of_reference_uid": text(ds, "FrameOfReferenceUID", 64),
            },
        )
        series_id, study_id, study_uid = series.pk, series.study_id, study.study_instance_uid
        if series.study_id != study.pk:
            study_uid = ""  # the series existed already, under another study
    if study_uid != checked.study_instance_uid:
        raise Rejected(
            "conflicting_uids",
            "Series Instance UID already belongs to a different study in this archive",
        )
    instance_id = _insert(
        checked, series_id, relative_path, file_size, sha256, source, source_detail
    )
    if not series_created:
        # The common case, once per instance: two counters, as plain SQL (the ORM's update
        # compiler costs more than the statement itself).
        _increment(Series, series_id, "number_of_instances")
        _increment(Study, study_id, "number_of_instances")
        return instance_id, series_id, study_id
    Series.objects.filter(pk=series_id).update(number_of_instances=F("number_of_instances") + 1)
    study_changes = {
        "number_of_instances": F("number_of_instances") + 1,
        "number_of_series": F("number_of_series") + 1,
    }
    # Locked so two new series of one study cannot each drop the other's modality.
    modalities = set(Study.objects.select_for_update().get(pk=study_id).modalities)
    if modality and modality not in modalities:
        study_changes["modalities_in_study"] = "\\".join(sorted(modalities | {modality}))[:128]
    Study.objects.filter(pk=study_id).update(**study_changes)
    return instance_id, series_id, study_id


def _insert(
    checked: CheckedFile,
    series_id: int,
    relative_path: str,
    file_size: int,
    sha256: str,
    source: str,
    source_detail: str,
) -> int:
    return _insert_instance(
        series_id=series_id,
        sop_class_uid=checked.sop_class_uid,
        sop_instance_uid=checked.sop_instance_uid,
        instance_number=checked.instance_number,
        transfer_syntax_uid=checked.transfer_syntax_uid,
        rows=checked.rows,
        columns=checked.columns,
        number_of_frames=checked.number_of_frames,
        file_path=relative_path,
        file_size=file_size,
        sha256=sha256,
        source=source,
        source_detail=dicom_text.clean_text(source_detail, 200),
        dicom_json=checked.header,
    )


# The series this thread indexed an instance into last: (database alias, Series and Study
# Instance UIDs, series pk, study pk). Per thread: each association (and each ingest process)
# receives its own run of instances. Only committed rows are remembered.
_remembered = threading.local()


def _remember_series(checked: CheckedFile, series_id: int, study_id: int) -> None:
    """Called once the instance is committed, so rows rolled back are never remembered."""
    uids = (checked.series_instance_uid, checked.study_instance_uid)
    _remembered.series = (connection.alias, uids, series_id, study_id)


def _remembered_series(checked: CheckedFile) -> tuple[int, int] | None:
    """(series pk, study pk) if the instance belongs to the series this thread remembered
    last (the caller checks the rows as it counts them); None: look the series up."""
    remembered = getattr(_remembered, "series", None)
    if remembered is None:
        return None
    alias, uids, series_id, study_id = remembered
    if alias != connection.alias or uids != (
        checked.series_instance_uid,
        checked.study_instance_uid,
    ):
        return None  # another series, or this series claimed for another study (refused)
    return series_id, study_id


# SQL the ORM built once per database vendor, run with new parameters: for the two statements
# every instance runs, compiling the query cost more than running it (about 1 ms of an
# instance's CPU). No signal listens for Instance saves.
_statements: dict[tuple[str, str], object] = {}


def _known_series(series_instance_uid: str) -> tuple[int, int, str] | None:
    """(series pk, study pk, Study Instance UID) of a series already indexed, or None."""
    key = ("known_series", connection.vendor)
    sql = _statements.get(key)
    if sql is None:
        query = Series.objects.filter(series_instance_uid="?").values_list(
            "pk", "study_id", "study__study_instance_uid"
        )[:1]
        sql, params = query.query.sql_with_params()
        assert tuple(params) == ("?",), params  # the UID is the only parameter
        _statements[key] = sql
    with connection.cursor() as cursor:
        cursor.execute(sql, [series_instance_uid])
        row = cursor.fetchone()
    return tuple(row) if row else None


def _insert_instance(**values) -> int:
    """``Instance.objects.create(**values).pk`` with the INSERT compiled once; values are
    prepared for the database by the same field methods the ORM's compiler calls."""
    key = ("insert_instance", connection.vendor)
    instance = Instance(**values)
    compiled = _statements.get(key)
    if compiled is None:
        meta = Instance._meta
        fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
        query = InsertQuery(Instance)
        query.insert_values(fields, [instance])
        compiler = query.get_compiler(connection=connection)
        returning = connection.features.can_return_columns_from_insert
        compiler.returning_fields = [meta.pk] if returning else None
        ((sql, _params),) = compiler.as_sql()
        compiled = _statements[key] = (sql, fields, returning)
    sql, fields, returning = compiled
    params = [
        field.get_db_prep_save(field.pre_save(instance, add=True), connection=connection)
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if returning:
            return cursor.fetchone()[0]
        return connection.ops.last_insert_id(
            cursor, Instance._meta.db_table, Instance._meta.pk.column
        )


def _increment(model, pk: int, field_name: str, where: dict[str, object] | None = None) -> bool:
    """``UPDATE <table> SET <field> = <field> + 1 WHERE <pk> = %s [AND <column> = %s ...]``,
    names quoted; whether a row matched."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    column = quote(model._meta.get_field(field_name).column)
    conditions = [f"{quote(model._meta.pk.column)} = %s"]
    params: list[object] = [pk]
    for name, value in (where or {}).items():
        conditions.append(f"{quote(model._meta.get_field(name).column)} = %s")
        params.append(value)
    with connection.cursor() as cursor:
        # Every name comes from the model's metadata, never from input; values are parameters.
        sql = f"UPDATE {table} SET {column} = {column} + 1 WHERE {' AND '.join(conditions)}"  # noqa: S608
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def _quarantine(
    data: bytes,
    source: str,
    source_detail: str,
    name: str,
    rejection: Rejected,
    sop_instance_uid: str = "",
    declared_size: int | None = None,
) -> IngestResult:
    log.info("quarantined a file from %s: %s", source, rejection.code)
    relative_path, digest = "", ""
    if data:
        digest = content_digest(data)
        try:
            relative_path = quarantine_store().put(digest, data).relative_path
        except StorageError as exc:
            log.error("quarantine storage failed: %s", exc)
    entry = QuarantinedFile.objects.create(
        source=source,
        source_detail=dicom_text.clean_text(source_detail, 200),
        original_name=dicom_text.clean_text(name, 255),
        reason_code=rejection.code,
        reason=rejection.message,
        sop_instance_uid=sop_instance_uid,
        file_path=relative_path,
        file_size=declared_size if declared_size is not None else len(data),
        sha256=digest,
    )
    return IngestResult(
        REJECTED,
        name=name,
        sop_instance_uid=sop_instance_uid,
        reason_code=rejection.code,
        reason=rejection.message,
        quarantine_id=entry.pk,
    )
