"""An SR document as a readable tree (PS3.3 C.17.3 SR Document Content Module).

Each content item becomes a ``ContentNode``: its relationship to the parent, value type,
concept name (Code Meaning) and value: TEXT, CODE (meaning), NUM (value and UCUM unit),
DATE/TIME/DATETIME, PNAME, UIDREF, IMAGE/COMPOSITE (the referenced SOP instance and frames),
SCOORD (graphic type and points). The document is a stranger's: depth and item count are
bounded, and a malformed item becomes a node that says so instead of an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

MAX_DEPTH = 32
MAX_ITEMS = 5000


@dataclass
class ImageReference:
    sop_class_uid: str
    sop_instance_uid: str
    frames: list[int] = field(default_factory=list)


@dataclass
class ContentNode:
    value_type: str
    concept: str
    relationship: str = ""
    value: str = ""
    unit: str = ""
    number: float | None = None
    graphic_type: str = ""
    points: list[float] = field(default_factory=list)
    references: list[ImageReference] = field(default_factory=list)
    children: list[ContentNode] = field(default_factory=list)


@dataclass
class Measurement:
    concept: str
    value: float
    unit: str
    references: list[ImageReference]
    context: str = ""


def _meaning(sequence) -> str:
    try:
        return str(sequence[0].CodeMeaning)
    except (IndexError, AttributeError, TypeError):
        return ""


def _references(item: Dataset) -> list[ImageReference]:
    refs = []
    for ref in item.get("ReferencedSOPSequence", []):
        frames = ref.get("ReferencedFrameNumber")
        if frames is None or frames == "":
            frames = []
        elif not isinstance(frames, MultiValue | list):
            frames = [frames]
        refs.append(
            ImageReference(
                str(ref.get("ReferencedSOPClassUID", "")),
                str(ref.get("ReferencedSOPInstanceUID", "")),
                [int(f) for f in frames],
            )
        )
    return refs


def _node(item: Dataset, depth: int, budget: list[int]) -> ContentNode:
    budget[0] -= 1
    kind = str(item.get("ValueType", ""))
    node = ContentNode(
        value_type=kind,
        concept=_meaning(item.get("ConceptNameCodeSequence")),
        relationship=str(item.get("RelationshipType", "")),
    )
    try:
        if kind == "TEXT":
            node.value = str(item.get("TextValue", ""))
        elif kind == "CODE":
            node.value = _meaning(item.get("ConceptCodeSequence"))
        elif kind == "NUM":
            measured = item.get("MeasuredValueSequence")
            if measured:
                node.number = float(measured[0].NumericValue)
                node.value = f"{node.number:g}"
                units = measured[0].get("MeasurementUnitsCodeSequence")
                if units:
                    node.unit = str(units[0].CodeValue)
        elif kind in ("DATE", "TIME", "DATETIME"):
            node.value = str(item.get(kind.title() if kind != "DATETIME" else "DateTime", ""))
        elif kind == "PNAME":
            node.value = str(item.get("PersonName", ""))
        elif kind == "UIDREF":
            node.value = str(item.get("UID", ""))
        elif kind in ("IMAGE", "COMPOSITE", "WAVEFORM"):
            node.references = _references(item)
        elif kind in ("SCOORD", "SCOORD3D"):
            node.graphic_type = str(item.get("GraphicType", ""))
            node.points = [float(v) for v in item.get("GraphicData", [])]
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        node.value = f"(unreadable {kind} item: {type(exc).__name__})"
    if depth < MAX_DEPTH:
        for child in item.get("ContentSequence", []):
            if budget[0] <= 0:
                break
            node.children.append(_node(child, depth + 1, budget))
    return node


def content_tree(ds: Dataset) -> ContentNode:
    """The document's root CONTAINER with everything under it."""
    return _node(ds, 0, [MAX_ITEMS])


def _walk(node: ContentNode):
    yield node
    for child in node.children:
        yield from _walk(child)


def _own_references(node: ContentNode) -> list[ImageReference]:
    """References on the item and its direct children (an IMAGE under a SCOORD)."""
    refs = list(node.references)
    for child in node.children:
        refs.extend(child.references)
    return refs


def measurements(tree: ContentNode) -> list[Measurement]:
    """Every numeric item with its unit, its group (the parent's concept) and the images it
    refers to: its own (under it or its SCOORD), else its group's (TID 1410 puts the image
    region beside the measurements, PS3.16)."""
    found = []
    for node in _walk(tree):
        group_refs = [r for sibling in node.children for r in _own_references(sibling)]
        for child in node.children:
            if child.value_type == "NUM" and child.number is not None:
                refs = [r for c in child.children for r in _own_references(c)] or group_refs
                found.append(
                    Measurement(child.concept, child.number, child.unit, refs, node.concept)
                )
    return found


def referenced_images(tree: ContentNode) -> list[ImageReference]:
    seen: dict[str, ImageReference] = {}
    for node in _walk(tree):
        for ref in node.references:
            seen.setdefault(ref.sop_instance_uid, ref)
    return list(seen.values())
