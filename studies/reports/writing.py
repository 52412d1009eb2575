"""Viewer measurements → a TID 1500 Measurement Report (Comprehensive 3D SR), and key images
→ a Key Object Selection document (PS3.3 A.59, TID 2010), both made with highdicom and
stored through ``studies.ingest`` like any other instance.

A measurement arrives as the viewer has it: the ``measure`` request's ``instance``, ``frame``
and ``shape`` and the ``measurement`` answer (PROTOCOL.md). Each becomes one TID 1410 planar
ROI group: the region (SCOORD in image pixel coordinates, PS3.3 C.18.6) on its source image,
and its values with UCUM units (PS3.16 CID 7181 and friends).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from studies.ingest import IngestResult, ingest_bytes
from studies.models import Instance
from studies.rendering import instance_path
from studies.reports import InvalidReport

MAX_MEASUREMENTS = 200
MANUFACTURER = "DICOM viewer"
_UNITS = {
    "mm": codes.UCUM.Millimeter,
    "mm2": hd.sr.CodedConcept("mm2", "UCUM", "square millimeter"),
    "px": hd.sr.CodedConcept("{pixels}", "UCUM", "pixels"),
    "px2": hd.sr.CodedConcept("{pixels}", "UCUM", "pixels"),
    "deg": hd.sr.CodedConcept("deg", "UCUM", "degree"),
    "HU": hd.sr.CodedConcept("[hnsf'U]", "UCUM", "Hounsfield unit"),
}
_LENGTH = codes.SCT.Length
_AREA = codes.SCT.Area
_ANGLE = hd.sr.CodedConcept("1483009", "SCT", "Angle")
_MEAN = codes.SCT.Mean
_SD = codes.SCT.StandardDeviation
_PROCEDURE = hd.sr.CodedConcept("363679005", "SCT", "Imaging procedure")
# Type 2 attributes highdicom copies from the evidence; absent in some images.
_TYPE2 = ("StudyID", "AccessionNumber", "ReferringPhysicianName", "StudyDate", "StudyTime")


@dataclass
class Saved:
    result: IngestResult
    dataset: Dataset


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidReport(f"{name} is not a finite number")
    return float(value)


def _points(shape: dict) -> tuple[hd.sr.GraphicTypeValues, np.ndarray]:
    kind = shape.get("kind")
    try:
        if kind == "point":
            data = [[shape["x"], shape["y"]]]
            return hd.sr.GraphicTypeValues.POINT, _array(data)
        if kind in ("line", "angle"):
            return hd.sr.GraphicTypeValues.POLYLINE, _array(shape["points"])
        if kind == "polygon":
            points = list(shape["points"])
            return hd.sr.GraphicTypeValues.POLYLINE, _array([*points, points[0]])
        if kind in ("rectangle", "ellipse"):
            x, y, w, h = (_number(shape[k], k) for k in ("x", "y", "width", "height"))
            if kind == "rectangle":
                corners = [[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]
                return hd.sr.GraphicTypeValues.POLYLINE, _array(corners)
            # PS3.3 C.18.6.1.2 ELLIPSE: major axis end points, then minor axis end points.
            cx, cy = x + w / 2, y + h / 2
            axes = [[x, cy], [x + w, cy], [cx, y], [cx, y + h]]
            if h > w:
                axes = [[cx, y], [cx, y + h], [x, cy], [x + w, cy]]
            return hd.sr.GraphicTypeValues.ELLIPSE, _array(axes)
    except (KeyError, TypeError, IndexError) as exc:
        raise InvalidReport(f"the {kind} shape is incomplete") from exc
    raise InvalidReport(f"unknown shape kind {kind!r}")


def _array(points) -> np.ndarray:
    rows = [[_number(p[0], "x"), _number(p[1], "y")] for p in points]
    if not 1 <= len(rows) <= 1000:
        raise InvalidReport("a shape has 1 to 1000 points")
    return np.array(rows, dtype=float)


def _values(measurement: dict) -> list[hd.sr.Measurement]:
    """The numbers of a ``measurement`` message, each with its concept and UCUM unit."""
    out = []

    def add(name, key, unit_key):
        value = measurement.get(key)
        if value is not None:
            out.append(
                hd.sr.Measurement(name=name, value=_number(value, key), unit=_UNITS[unit_key])
            )

    if measurement.get("length_mm") is not None:
        add(_LENGTH, "length_mm", "mm")
    else:
        add(_LENGTH, "length_px", "px")
    add(_ANGLE, "degrees", "deg")
    if measurement.get("area_mm2") is not None:
        add(_AREA, "area_mm2", "mm2")
    else:
        add(_AREA, "area_px", "px2")
    unit = str(measurement.get("unit") or "")
    roi_unit = _UNITS["HU"] if unit == "HU" else hd.sr.CodedConcept("1", "UCUM", unit or "no units")
    for name, key in ((_MEAN, "mean"), (_SD, "sd")):
        if measurement.get(key) is not None:
            out.append(
                hd.sr.Measurement(name=name, value=_number(measurement[key], key), unit=roi_unit)
            )
    if not out:
        raise InvalidReport("a measurement without values")
    return out


def _evidence(study_uid: str, sop_uids: list[str]) -> dict[str, Dataset]:
    """The referenced images' headers, read from the archive (only this study's)."""
    found = {
        i.sop_instance_uid: i
        for i in Instance.objects.filter(
            sop_instance_uid__in=sop_uids, series__study__study_instance_uid=study_uid
        )
    }
    missing = sorted(set(sop_uids) - set(found))
    if missing:
        raise InvalidReport(f"{len(missing)} referenced instance(s) are not in this study")
    headers = {}
    for uid in sop_uids:  # in the caller's order, not the database's (which differs by engine)
        ds = dcmread(instance_path(found[uid]), stop_before_pixels=True)
        for keyword in _TYPE2:
            if keyword not in ds:
                setattr(ds, keyword, "")
        headers[uid] = ds
    return headers


def _person(user) -> hd.sr.ObserverContext:
    """The user as a person observer (TID 1003). PS3.5 6.2 PN: no backslash; a single
    component gets its trailing caret so it reads as a family name."""
    name = (user.get_full_name() or user.get_username())[:60].replace("\\", " ")
    name = name.replace(" ", "^", 1) if " " in name else f"{name}^"
    return hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=name),
    )


def _observer(user) -> hd.sr.ObservationContext:
    return hd.sr.ObservationContext(observer_person_context=_person(user))


def _store(ds: Dataset, user) -> Saved:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    result = ingest_bytes(
        buffer.getvalue(),
        Instance.Source.UPLOAD,
        source_detail=f"viewer report by {user.get_username()}"[:200],
        name="report.dcm",
    )
    if not result.ok:
        raise InvalidReport(f"the archive refused the report: {result.reason}")
    return Saved(result, ds)


def measurement_report(study_uid: str, items: list[dict], user) -> Saved:
    """Save the viewer's measurements of one study as a TID 1500 Measurement Report."""
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_MEASUREMENTS:
        raise InvalidReport(f"give 1 to {MAX_MEASUREMENTS} measurements")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("shape"), dict):
            raise InvalidReport("each measurement has instance, frame, shape and measurement")
    evidence = _evidence(study_uid, sorted({str(item.get("instance", "")) for item in items}))
    groups = []
    for number, item in enumerate(items, start=1):
        source = evidence[str(item["instance"])]
        # The socket counts frames from 0 (PROTOCOL.md); SR references count from 1.
        frame = int(_number(item.get("frame") or 0, "frame")) + 1
        frames = [frame] if int(getattr(source, "NumberOfFrames", 1) or 1) > 1 else None
        graphic_type, data = _points(item["shape"])
        try:
            source_image = hd.sr.SourceImageForRegion.from_source_image(
                source, referenced_frame_numbers=frames
            )
        except TypeError:
            # A single-frame IOD (e.g. CT Image, PS3.3 A.3) may not name frames even when
            # the file carries Number of Frames; the image itself is the reference.
            source_image = hd.sr.SourceImageForRegion.from_source_image(source)
        region = hd.sr.ImageRegion(
            graphic_type=graphic_type, graphic_data=data, source_image=source_image
        )
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=generate_uid(), identifier=f"{item['shape'].get('kind')} {number}"
                ),
                referenced_region=region,
                measurements=_values(item.get("measurement") or {}),
            )
        )
    content = hd.sr.MeasurementReport(
        observation_context=_observer(user),
        procedure_reported=_PROCEDURE,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=list(evidence.values()),
        content=content,
        series_instance_uid=generate_uid(),
        series_number=9901,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        series_description="Measurements",
        is_complete=True,
    )
    return _store(sr, user)


def key_object_selection(study_uid: str, sop_uids: list[str], user, note: str = "") -> Saved:
    """Save the images flagged as key images as a Key Object Selection document."""
    if not isinstance(sop_uids, list) or not 1 <= len(sop_uids) <= 1000:
        raise InvalidReport("give 1 to 1000 key images")
    evidence = _evidence(study_uid, sorted({str(uid) for uid in sop_uids}))
    ko = hd.ko.KeyObjectSelectionDocument(
        evidence=list(evidence.values()),
        content=hd.ko.KeyObjectSelection(
            document_title=codes.DCM.OfInterest,
            referenced_objects=list(evidence.values()),
            observer_person_context=_person(user),
            description=note[:1024] or None,
        ),
        series_instance_uid=generate_uid(),
        series_number=9902,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
    )
    return _store(ko, user)
