"""What a rendered image needs to know about its instance, remembered between requests.

A warm WADO-RS rendered request spent more time finding its instance (an ORM query with two
joins that also parsed the whole stored header from JSON) than rendering it. The facts it
needs never change for a SOP Instance UID: the archive stores an instance once (a duplicate
is refused, ``studies.ingest``), never moves it to another series or study and never
rewrites its file (the store is content-addressed). So they are kept per process in a
bounded LRU keyed by the SOP Instance UID; the store, study and series of a request are
compared with the remembered ones, so a URL naming the wrong study is still 404.

Deleting an instance (an administrator's repair) forgets it at once in this process
(``post_delete``); other processes of a scaled deployment forget it within ``MAX_AGE``
seconds, and meanwhile its file is gone, so they answer 422 ("cannot read the image file"),
never its pixels. Who may see the study is not a fact: ``dicomweb_auth`` decides that on
every request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models.signals import post_delete
from django.dispatch import receiver

from studies.dicomweb import resources
from studies.models import Instance
from studies.rendering import instance_path

MAX_ENTRIES = 20_000  # a few hundred bytes each
MAX_AGE = 60.0  # seconds; bounds how long another process can keep a deleted instance
_FIELDS = ("sop_instance_uid", "sha256", "rows", "columns", "number_of_frames", "file_path")


@dataclass(frozen=True, slots=True)
class ImageFacts:
    store: str  # the store root it was read under (tests give each their own)
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sha256: str
    rows: int | None
    columns: int | None
    number_of_frames: int
    path: Path  # absolute, inside the store

    @classmethod
    def of(cls, instance: Instance, study: str, series: str) -> ImageFacts:
        return cls(
            store=str(settings.DICOM_STORE_DIR),
            study_instance_uid=study,
            series_instance_uid=series,
            sop_instance_uid=instance.sop_instance_uid,
            sha256=instance.sha256,
            rows=instance.rows,
            columns=instance.columns,
            number_of_frames=instance.number_of_frames,
            path=instance_path(instance),
        )


class FactCache:
    """A thread-safe LRU of ``ImageFacts`` with an age limit."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_age: float = MAX_AGE) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self._entries: OrderedDict[str, tuple[float, ImageFacts]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> ImageFacts | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() - entry[0] > self.max_age:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, facts: ImageFacts) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), facts)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, sop_instance_uid: str) -> None:
        with self._lock:
            self._entries.pop(sop_instance_uid, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = FactCache()


def image_facts(study: str, series: str, sop: str) -> ImageFacts:
    """The facts of the instance a URL names; ``resources.NotFound`` when there is none."""
    facts = _cache.get(sop)
    if facts is not None and (
        facts.store,
        facts.study_instance_uid,
        facts.series_instance_uid,
    ) == (str(settings.DICOM_STORE_DIR), study, series):
        return facts
    # Only the columns needed: the full row would parse the whole stored header from JSON.
    found = resources.scoped(study, series, sop).only(*_FIELDS).first()
    if found is None:  # NotFound naming the missing UID (or the row, if it just arrived)
        found = resources.one_instance(study, series, sop)
    facts = ImageFacts.of(found, study, series)
    _cache.put(sop, facts)
    return facts


def forget_all() -> None:
    """Drop every remembered fact (tests that rewrite the archive under one store)."""
    _cache.clear()


@receiver(post_delete, sender=Instance, dispatch_uid="dicomweb-image-facts-forget")
def _forget_deleted(sender: type[Instance], instance: Instance, **kwargs: object) -> None:
    _cache.forget(instance.sop_instance_uid)
