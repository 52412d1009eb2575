"""A study's saved measurements and key images, read back for the viewer.

The inverse of ``writing``: each TID 1410 planar ROI group of the study's newest TID 1500
Measurement Report becomes what the viewer sent when it was saved — the image (``instance``,
``frame`` counted from 0 like the socket), the ``measure`` shape and a ``measurement`` with
the values as the SR holds them — so reopening a study shows the same numbers on the same
images. Key images come from the newest Key Object Selection document (PS3.3 A.59).

Only what the viewer can draw comes back (points, lines, angles, rectangles, ellipses);
other regions of a stranger's report are left out, and the report page still shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from studies.models import Instance
from studies.rendering import instance_path
from studies.reports import SR_SOP_CLASSES, reading
from studies.reports.key_images import KOS

# A study can hold many reports; only the newest few are opened looking for measurements.
MAX_REPORTS_READ = 5
# PS3.16 TID 1500 root: (126000, DCM, "Imaging Measurement Report").
_MEASUREMENT_REPORT = "Imaging Measurement Report"
# UCUM codes written by ``writing._UNITS`` (PS3.16 CID 7181 and friends).
_PIXELS = "{pixels}"
_HOUNSFIELD = "[hnsf'U]"


@dataclass
class SavedReport:
    sop_instance_uid: str = ""
    received_at: str = ""
    measurements: list[dict] = field(default_factory=list)


def _shape(graphic_type: str, flat: list[float]) -> dict | None:
    """The ``measure`` shape of a region (PS3.3 C.18.6.1.2), or None for one the viewer
    cannot draw."""
    points = [[flat[i], flat[i + 1]] for i in range(0, len(flat) - 1, 2)]
    if graphic_type == "POINT" and len(points) == 1:
        return {"kind": "point", "x": points[0][0], "y": points[0][1]}
    if graphic_type == "ELLIPSE" and len(points) == 4:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x, y = min(xs), min(ys)
        return {"kind": "ellipse", "x": x, "y": y, "width": max(xs) - x, "height": max(ys) - y}
    if graphic_type != "POLYLINE":
        return None
    if len(points) == 2:
        return {"kind": "line", "points": points}
    if len(points) == 3:
        return {"kind": "angle", "points": points}
    if len(points) == 5 and points[0] == points[4]:
        xs, ys = {p[0] for p in points}, {p[1] for p in points}
        if len(xs) == 2 and len(ys) == 2:  # an image-aligned box, as ``writing`` makes it
            x, y = min(xs), min(ys)
            return {
                "kind": "rectangle",
                "x": x,
                "y": y,
                "width": max(xs) - x,
                "height": max(ys) - y,
            }
    return None


def _values(kind: str, numbers: list[reading.ContentNode]) -> dict:
    """The ``measurement`` message of the group's NUM items, as the viewer labels them."""
    result: dict = {"type": "measurement", "kind": kind, "saved": True}
    for num in numbers:
        pixels = num.unit == _PIXELS
        if num.concept == "Length":
            result["length_px" if pixels else "length_mm"] = num.number
        elif num.concept == "Area":
            result["area_px" if pixels else "area_mm2"] = num.number
        elif num.concept == "Angle":
            result["degrees"] = num.number
        elif num.concept == "Mean":
            result["mean"] = num.number
            result["unit"] = "HU" if num.unit == _HOUNSFIELD else ""
        elif num.concept == "Standard Deviation":
            result["sd"] = num.number
    return result


def _group(node: reading.ContentNode) -> dict | None:
    regions = [c for c in node.children if c.value_type == "SCOORD" and c.graphic_type]
    numbers = [c for c in node.children if c.value_type == "NUM" and c.number is not None]
    if len(regions) != 1 or not numbers:
        return None
    refs = [r for child in regions[0].children for r in child.references]
    shape = _shape(regions[0].graphic_type, regions[0].points)
    if len(refs) != 1 or shape is None:
        return None
    ref = refs[0]
    return {
        "instance": ref.sop_instance_uid,
        # SR frame numbers count from 1 (PS3.3 C.17.3.2.5); the socket's from 0.
        "frame": ref.frames[0] - 1 if ref.frames else 0,
        "shape": shape,
        "measurement": _values(shape["kind"], numbers),
    }


def measurements_of(tree: reading.ContentNode) -> list[dict]:
    """The viewer measurements of a TID 1500 content tree (empty for any other document)."""
    if tree.concept != _MEASUREMENT_REPORT:
        return []
    found = []
    stack = [tree]
    while stack:
        node = stack.pop()
        group = _group(node)
        if group is not None:
            found.append(group)
        else:
            stack.extend(reversed(node.children))
    return found


def _newest(study_uid: str, classes):
    return Instance.objects.filter(
        series__study__study_instance_uid=study_uid, sop_class_uid__in=classes
    ).order_by("-received_at", "-pk")


def _tree(instance: Instance) -> reading.ContentNode | None:
    try:
        return reading.content_tree(dcmread(instance_path(instance)))
    except (InvalidDicomError, OSError, ValueError, AttributeError):
        return None


def latest_measurements(study_uid: str) -> SavedReport:
    """The measurements of the newest Measurement Report of the study that has any."""
    for instance in _newest(study_uid, SR_SOP_CLASSES - {KOS})[:MAX_REPORTS_READ]:
        tree = _tree(instance)
        found = measurements_of(tree) if tree is not None else []
        if found:
            return SavedReport(instance.sop_instance_uid, instance.received_at.isoformat(), found)
    return SavedReport()


def latest_key_images(study_uid: str) -> tuple[str, list[str]]:
    """The newest KOS of the study and the SOP Instance UIDs it selects."""
    kos = _newest(study_uid, [KOS]).first()
    tree = _tree(kos) if kos is not None else None
    if tree is None:
        return "", []
    return kos.sop_instance_uid, [r.sop_instance_uid for r in reading.referenced_images(tree)]
