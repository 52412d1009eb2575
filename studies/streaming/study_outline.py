"""The ``study`` message: what a viewer needs to lay out a study, from the index alone.

Three queries whatever the size of the study (study with patient, its series, their
instances with only the columns used); the geometry comes from each instance's stored
header (``Instance.dicom_json``), so no file is opened. The database hands over only the
five attributes used, not the whole header: parsing every instance's header (3 KB for a CT
slice) in Python was most of the time to answer ``open_study``, which the first pixels wait
for.
"""

from __future__ import annotations

import functools
import json
import math
import re
import secrets
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Func, Sum, TextField

from studies.access import visible_studies
from studies.models import Instance, Series, Study

from .lookup import Target, target_of

# DICOM JSON keys (PS3.18 F.2): tag as eight hex digits.
IMAGE_POSITION = "00200032"  # Image Position (Patient), PS3.3 C.7.6.2.1.1
IMAGE_ORIENTATION = "00200037"  # Image Orientation (Patient), PS3.3 C.7.6.2.1.1
PIXEL_SPACING = "00280030"  # Pixel Spacing, PS3.3 10.7.1.3
SLICE_LOCATION = "00201041"  # Slice Location, PS3.3 C.7.6.2.1.2
FRAME_OF_REFERENCE = "00200052"  # Frame of Reference UID, PS3.3 C.7.4.1.1.1

_INSTANCE_FIELDS = (
    "series_id",
    "sop_instance_uid",
    "instance_number",
    "rows",
    "columns",
    "number_of_frames",
    "file_path",  # for the socket's access cache: the first view needs no lookup
)
_HEADER_TAGS = (
    IMAGE_POSITION,
    IMAGE_ORIENTATION,
    PIXEL_SPACING,
    SLICE_LOCATION,
    FRAME_OF_REFERENCE,
)
_TAG = re.compile(r"^[0-9A-F]{8}$")


class AttributeValue(Func):
    """The ``Value`` list of one attribute of ``Instance.dicom_json`` as JSON text, or NULL
    (PS3.18 F.2.2), extracted by the database."""

    output_field = TextField()

    def __init__(self, tag: str) -> None:
        if not _TAG.match(tag):  # inlined in the SQL below: our constants only
            raise ValueError(f"{tag!r} is not a DICOM JSON tag")
        super().__init__(F("dicom_json"))
        self.tag = tag

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # SQLite (and MySQL): json_extract gives an array as its JSON text.
        return super().as_sql(
            compiler,
            connection,
            template=f"json_extract(%(expressions)s, '$.\"{self.tag}\".Value')",
            **extra,
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            template=f"((%(expressions)s -> '{self.tag}') -> 'Value')::text",
            **extra,
        )


def load_study_outline(user: Any, study_uid: str) -> dict[str, Any] | None:
    """The ``study`` message for ``study_uid``, or None if ``user`` cannot see such a study."""
    loaded = load_study(user, study_uid)
    return None if loaded is None else loaded[0]


def load_study(
    user: Any, study_uid: str, *, access_checked: bool = False
) -> tuple[dict[str, Any], list[Target]] | None:
    """The ``study`` message and the lookup facts of its instances.

    The study (access included) and its series, with each series' instance count and sum
    of instance keys, are read every time; the instances themselves only when they are
    not in ``outlines`` as of those counts (three queries cold, two when nothing changed,
    three when instances arrived: only the new rows are read).

    ``access_checked``: the caller has just confirmed that ``user`` may see the study
    (``studies.access`` builds its query in ~6 ms of Python; asked twice per
    ``open_study`` otherwise).
    """
    loaded = _load(user, study_uid, access_checked)
    if loaded is None:
        return None
    study, series, parts = loaded
    by_series = {item.pk: parts[item.pk].instances for item in series}
    return _message(study, series, parts, by_series), _targets(series, parts)


def load_study_text(
    user: Any, study_uid: str, request: int | None, *, access_checked: bool = False
) -> tuple[str, list[Target], dict[str, str], dict[str, Any]] | None:
    """As ``load_study``, the message as JSON text (with ``request`` when given), plus the
    first instance of each series with images (in the outline's order) and the patient.

    Each series' instances are serialised once per change of the series and kept with
    them: for a few hundred slices that was half of an outline's time, and a viewer asks
    again every 500 ms while a modality stores.
    """
    loaded = _load(user, study_uid, access_checked)
    if loaded is None:
        return None
    study, series, parts = loaded
    # Placeholders with a nonce nothing in the message can contain (it is drawn now), each
    # replaced by its series' kept JSON once the rest is serialised.
    nonce = secrets.token_hex(8)
    marks = {item.pk: f"\x01{nonce}:{item.pk}" for item in series}
    message = _message(study, series, parts, marks)
    if request is not None:
        message = {"type": message["type"], "request": request, **message}
    text = json.dumps(message, allow_nan=False, separators=(",", ":"))
    for item in series:
        text = text.replace(json.dumps(marks[item.pk]), parts[item.pk].json, 1)
    by_uid = {item.series_instance_uid: parts[item.pk] for item in series}
    firsts = {uid: part.instances[0]["uid"] for uid, part in by_uid.items() if part.instances}
    ordered = [entry["uid"] for entry in message["series"]]
    firsts = {uid: firsts[uid] for uid in ordered if uid in firsts}
    return text, _targets(series, parts), firsts, message["patient"]


def _load(
    user: Any, study_uid: str, access_checked: bool
) -> tuple[Study, list[Series], dict[int, SeriesPart]] | None:
    studies = Study.objects.all() if access_checked else visible_studies(user)
    study = studies.select_related("patient").filter(study_instance_uid=study_uid).first()
    if study is None:
        return None
    series = list(
        Series.objects.filter(study=study).annotate(
            instance_count=Count("instances"), instance_sum=Sum("instances__id")
        )
    )
    return study, series, outlines.parts(study, series)


def _message(
    study: Study, series: list[Series], parts: dict[int, SeriesPart], instances: dict[int, Any]
) -> dict[str, Any]:
    fallback = {item.pk: parts[item.pk].frame_of_reference for item in series}
    return study_message(study, series, instances, fallback)


def _targets(series: list[Series], parts: dict[int, SeriesPart]) -> list[Target]:
    return [target for item in series for target in parts[item.pk].targets]


@dataclass(frozen=True)
class SeriesPart:
    """What a series' instances contribute to the outline, as of ``count`` and ``total``
    (its number of instances and the sum of their primary keys: an instance added, removed
    or committed late under a lower key changes one or the other)."""

    count: int
    total: int
    last: int  # highest primary key read
    instances: list[dict[str, Any]]  # outlines, in stack order
    targets: list[Target]
    frame_of_reference: str  # from the instances' headers, for a series row without one

    @property
    def size(self) -> int:
        return len(self.instances)

    @functools.cached_property
    def json(self) -> str:
        """``instances`` as JSON text (numbers are finite by construction: ``_numbers``)."""
        return json.dumps(self.instances, allow_nan=False, separators=(",", ":"))


class OutlineCache:
    """Per study, the instance part of its last outline, bounded in instances.

    An instance row never changes once stored (``studies.ingest`` stores a SOP Instance UID
    once; the admin can only delete), so what was read of it stays true; a study whose
    counts moved reads only the rows above the highest key it holds, and is read whole
    when they do not add up (a deletion). The study, patient and series rows are read on
    every outline, never kept. Outline refreshes while a modality stores (the viewer asks
    again every 500 ms) otherwise re-read and re-parse every instance of the study.
    """

    def __init__(self, max_instances: int = 20_000) -> None:
        self.max_instances = max_instances
        self._studies: OrderedDict[Hashable, dict[Hashable, SeriesPart]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.rows_read = 0  # observations for tests

    def parts(self, study: Study, series: list[Series]) -> dict[int, SeriesPart]:
        """The instance part of each of ``series`` (annotated with ``instance_count`` and
        ``instance_sum``), by series key."""
        # Keyed with the rows' creation times too: a database rolled back (the tests) hands
        # the same primary keys out again, to other studies and series.
        study_key = (study.pk, study.created_at)
        with self._lock:
            held = dict(self._studies.get(study_key, {}))
        keys = {item.pk: (item.pk, item.created_at) for item in series}
        wanted = {item.pk: (item.instance_count, item.instance_sum or 0) for item in series}
        parts: dict[int, SeriesPart] = {}
        stale = []
        for pk, stats in wanted.items():
            part = held.get(keys[pk])
            if part is not None and _same(part, stats):
                parts[pk] = part
            else:
                stale.append(pk)
        if stale:
            olds = {pk: held.get(keys[pk]) for pk in stale}
            since = min(old.last if old else 0 for old in olds.values())
            rows = _instance_rows(Instance.objects.filter(series_id__in=stale, pk__gt=since))
            whole = []
            for pk in stale:
                old = olds[pk]
                new = [row for row in rows.get(pk, []) if old is None or row.pk > old.last]
                part = _part(study, old, new)
                if _same(part, wanted[pk]):
                    parts[pk] = part
                else:  # removed, or stored between the two queries: read it again
                    whole.append(pk)
            if whole:
                rows = _instance_rows(Instance.objects.filter(series_id__in=whole))
                for pk in whole:
                    parts[pk] = _part(study, None, rows.get(pk, []))
        self._keep(study_key, {keys[pk]: part for pk, part in parts.items()})
        return parts

    def clear(self) -> None:
        with self._lock:
            self._studies.clear()
            self._size = 0

    def _keep(self, study: Hashable, parts: dict[Hashable, SeriesPart]) -> None:
        size = sum(part.size for part in parts.values())
        with self._lock:
            old = self._studies.pop(study, None)
            if old is not None:
                self._size -= sum(part.size for part in old.values())
            if size > self.max_instances:
                return
            self._studies[study] = parts
            self._size += size
            while self._size > self.max_instances:
                _, dropped = self._studies.popitem(last=False)
                self._size -= sum(part.size for part in dropped.values())

    def _count(self, rows: int) -> None:
        with self._lock:
            self.rows_read += rows


outlines = OutlineCache()


def _same(part: SeriesPart, stats: tuple[int, int]) -> bool:
    return (part.count, part.total) == stats


def _instance_rows(queryset: Any) -> dict[int, list[Instance]]:
    """Instance rows (only the columns used, header values extracted), by series key."""
    rows: dict[int, list[Instance]] = defaultdict(list)
    found = queryset.only(*_INSTANCE_FIELDS).annotate(
        **{f"tag_{tag}": AttributeValue(tag) for tag in _HEADER_TAGS}
    )
    for instance in found:
        rows[instance.series_id].append(instance)
    outlines._count(sum(len(items) for items in rows.values()))
    return rows


def _part(study: Study, old: SeriesPart | None, new: list[Instance]) -> SeriesPart:
    """``old`` with the rows ``new`` added (rows above its highest key)."""
    headers = [_header(instance) for instance in new]
    added = [_instance(instance, header) for instance, header in zip(new, headers, strict=True)]
    frame_of_reference = (old.frame_of_reference if old else "") or next(
        (uid for header in headers if (uid := _text(header, FRAME_OF_REFERENCE))), ""
    )
    targets = [target_of(instance, study.study_instance_uid) for instance in new]
    if old is not None:
        added = old.instances + added
        targets = old.targets + targets
    return SeriesPart(
        count=len(added),
        total=(old.total if old else 0) + sum(instance.pk for instance in new),
        last=max([old.last if old else 0, *(instance.pk for instance in new)]),
        instances=stack_order(added) if new else added,
        targets=targets,
        frame_of_reference=frame_of_reference,
    )


def study_message(
    study: Study,
    series: list[Series],
    by_series: dict[int, list[dict[str, Any]]],
    frame_of_reference: dict[int, str] | None = None,
) -> dict[str, Any]:
    """``by_series``: the instance outlines of each series (by key), in stack order;
    ``frame_of_reference``: found in the instances' headers, for series rows without one."""
    patient = study.patient
    fallback = frame_of_reference or {}
    outlines = [
        _series(item, by_series.get(item.pk, []), fallback.get(item.pk, "")) for item in series
    ]
    # Series by number (unnumbered last), then by UID so the order is stable.
    series_order = sorted(
        zip(series, outlines, strict=True),
        key=lambda pair: (
            pair[0].series_number is None,
            pair[0].series_number or 0,
            pair[0].series_instance_uid,
        ),
    )
    return {
        "type": "study",
        "study": study.study_instance_uid,
        "patient": {
            "name": patient.name,
            "id": patient.patient_id,
            "birth_date": patient.birth_date.isoformat() if patient.birth_date else None,
            "sex": patient.sex,
        },
        "study_date": study.study_date.isoformat() if study.study_date else None,
        "description": study.description,
        "accession": study.accession_number,
        "series": [outline for _, outline in series_order],
    }


def _series(
    series: Series, instances: list[dict[str, Any]], frame_of_reference: str
) -> dict[str, Any]:
    return {
        "uid": series.series_instance_uid,
        "number": series.series_number,
        "modality": series.modality,
        "description": series.description,
        "body_part": series.body_part_examined,
        "frame_of_reference": series.frame_of_reference_uid or frame_of_reference or None,
        "instances": instances,
    }


def _header(instance: Instance) -> dict[str, Any]:
    """The attributes the outline uses, shaped as DICOM JSON: from the values the database
    extracted (``AttributeValue``), else from the whole stored header."""
    if not hasattr(instance, f"tag_{IMAGE_POSITION}"):
        return instance.dicom_json or {}
    header = {}
    for tag in _HEADER_TAGS:
        text = getattr(instance, f"tag_{tag}")
        if text:
            try:
                header[tag] = {"Value": json.loads(text)}
            except ValueError:
                continue
    return header


def _instance(instance: Instance, header: dict[str, Any]) -> dict[str, Any]:
    position = _numbers(header, IMAGE_POSITION, 3)
    orientation = _numbers(header, IMAGE_ORIENTATION, 6)
    spacing = _numbers(header, PIXEL_SPACING, 2)
    location = _numbers(header, SLICE_LOCATION, 1)
    return {
        "uid": instance.sop_instance_uid,
        "number": instance.instance_number,
        "frames": instance.number_of_frames,
        "rows": instance.rows,
        "columns": instance.columns,
        "position": position,
        "orientation": orientation,
        "pixel_spacing": spacing,
        "slice_location": location[0] if location else None,
    }


def stack_order(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Instances in stack order.

    When every instance has a position and they share one orientation, the order is the
    position projected on the slice normal (row cosines × column cosines, PS3.3
    C.7.6.2.1.1), run in the direction in which instance numbers rise, so a stack opens
    where the modality started it. Otherwise by instance number (unnumbered last).
    """
    by_number = sorted(instances, key=lambda i: (i["number"] is None, i["number"] or 0, i["uid"]))
    orientations = {tuple(i["orientation"]) for i in instances if i["orientation"]}
    if (
        len(instances) < 2
        or len(orientations) != 1
        or any(i["position"] is None or i["orientation"] is None for i in instances)
    ):
        return by_number
    normal = _cross(next(iter(orientations)))
    if normal is None:
        return by_number
    rank = {i["uid"]: index for index, i in enumerate(by_number)}
    along = sorted(
        instances,
        key=lambda i: (
            sum(p * n for p, n in zip(i["position"], normal, strict=True)),
            rank[i["uid"]],
        ),
    )
    numbered = [i["number"] for i in along if i["number"] is not None]
    if len(numbered) >= 2 and numbered[0] > numbered[-1]:
        along.reverse()
    return along


def _cross(orientation: tuple[float, ...]) -> tuple[float, float, float] | None:
    (rx, ry, rz), (cx, cy, cz) = orientation[:3], orientation[3:]
    normal = (ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx)
    length = math.sqrt(sum(n * n for n in normal))
    if not length > 1e-6:  # degenerate orientation (parallel cosines)
        return None
    return (normal[0] / length, normal[1] / length, normal[2] / length)


def _numbers(header: dict[str, Any], tag: str, count: int) -> list[float] | None:
    """The ``count`` numeric values of a DS attribute in DICOM JSON, or None."""
    element = header.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    if not isinstance(values, list) or len(values) != count:
        return None
    try:
        numbers = [float(value) for value in values]
    except (TypeError, ValueError):
        return None
    return numbers if all(math.isfinite(n) for n in numbers) else None


def _text(header: dict[str, Any], tag: str) -> str:
    element = header.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0]
    return ""
