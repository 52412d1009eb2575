"""The Image Pixel module (PS3.3 C.7.6.3) read once, checked, and kept without the pixels.

Every later stage asks this header rather than the data set, so hostile or inconsistent
attributes are found here, with a clear error, before anything is allocated or decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from .errors import ImageTooLarge, InvalidImage, NoPixelData
from .source import Limits

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_PIXEL_TAGS = {Tag(keyword) for keyword in PIXEL_KEYWORDS}
MONOCHROME = ("MONOCHROME1", "MONOCHROME2")


@dataclass(frozen=True, eq=False)
class ImageHeader:
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric: str
    planar_configuration: int
    number_of_frames: int
    transfer_syntax: UID
    pixel_keyword: str
    pixel_vr: str
    modality: str
    # The data set without its pixel data: LUTs, overlays and functional groups are read
    # from here by the stages that need them.
    meta: Dataset = field(repr=False)
    little_endian: bool = True
    frames_note: str = ""

    @property
    def signed(self) -> bool:
        return self.pixel_representation == 1

    @property
    def is_float(self) -> bool:
        return self.pixel_keyword != "PixelData"

    @property
    def is_monochrome(self) -> bool:
        return self.photometric in MONOCHROME

    @property
    def is_color(self) -> bool:
        return not self.is_monochrome

    @property
    def bytes_per_sample(self) -> int:
        return max(1, (self.bits_allocated + 7) // 8)

    @property
    def frame_bytes(self) -> int:
        """Decoded size of one frame (Python integers: cannot overflow)."""
        return self.rows * self.columns * self.samples_per_pixel * self.bytes_per_sample

    @property
    def nbytes(self) -> int:
        """A rough size for the cache: the non-pixel elements dominate."""
        total = 4096
        for element in self.meta.iterall():
            value = element.value
            if isinstance(value, bytes | bytearray):
                total += len(value)
        return total

    def frame_item(self, frame: int, sequence: str) -> Dataset | None:
        """The functional group macro ``sequence`` that applies to ``frame``.

        PS3.3 C.7.6.16: a macro in the Per-Frame Functional Groups item of the frame takes
        precedence over the same macro in the Shared Functional Groups.
        """
        for groups, index in (
            (self.meta.get("PerFrameFunctionalGroupsSequence"), frame),
            (self.meta.get("SharedFunctionalGroupsSequence"), 0),
        ):
            if groups and index < len(groups):
                macro = groups[index].get(sequence)
                if macro:
                    return macro[0]
        return None


def read_header(ds: Dataset, limits: Limits) -> ImageHeader:
    pixel_keyword = next((k for k in PIXEL_KEYWORDS if k in ds), None)
    if pixel_keyword is None:
        raise NoPixelData("the instance has no pixel data")
    rows = _int(ds, "Rows")
    columns = _int(ds, "Columns")
    samples = _int(ds, "SamplesPerPixel", 1)
    bits_allocated = _int(ds, "BitsAllocated")
    bits_stored = _int(ds, "BitsStored", bits_allocated)
    representation = _int(ds, "PixelRepresentation", 0)
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    if not rows or not columns or rows < 1 or columns < 1:
        raise InvalidImage("the image has no positive Rows and Columns (PS3.3 C.7.6.3)")
    if bits_allocated not in (1, 8, 16, 32, 64):
        raise InvalidImage(f"Bits Allocated {bits_allocated} is not 1, 8, 16, 32 or 64")
    if bits_stored is None or not 1 <= bits_stored <= bits_allocated:
        raise InvalidImage(f"Bits Stored {bits_stored} is not between 1 and {bits_allocated}")
    if representation not in (0, 1):
        raise InvalidImage(f"Pixel Representation {representation} is not 0 or 1")
    if samples not in (1, 3):
        raise InvalidImage(f"Samples per Pixel {samples} is not 1 or 3")
    if not photometric:
        # ACR-NEMA files have no Photometric Interpretation; PS3.3 C.7.6.3.1.2 only defines
        # one-sample images as monochrome, so assume the common MONOCHROME2.
        photometric = "MONOCHROME2" if samples == 1 else "RGB"
    if (samples == 1) != (photometric in (*MONOCHROME, "PALETTE COLOR")):
        raise InvalidImage(
            f"Photometric Interpretation {photometric} does not fit {samples} sample(s) per pixel"
        )

    header_frame_bytes = rows * columns * samples * max(1, (bits_allocated + 7) // 8)
    if header_frame_bytes > limits.max_frame_bytes:
        raise ImageTooLarge(
            f"one {columns}×{rows}×{samples} frame of {bits_allocated}-bit samples decodes to "
            f"{header_frame_bytes:,} bytes, over the {limits.max_frame_bytes:,} byte limit"
        )

    transfer_syntax = _transfer_syntax(ds)
    element: DataElement = ds[pixel_keyword]
    frames, frames_note = _number_of_frames(ds, element, transfer_syntax, header_frame_bytes)
    _, little = ds.original_encoding
    meta = Dataset()
    for item in ds:
        if item.tag not in _PIXEL_TAGS:
            meta.add(item)
    meta.file_meta = getattr(ds, "file_meta", FileMetaDataset())
    return ImageHeader(
        rows=rows,
        columns=columns,
        samples_per_pixel=samples,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=representation,
        photometric=photometric,
        planar_configuration=_int(ds, "PlanarConfiguration", 0) or 0,
        number_of_frames=frames,
        transfer_syntax=transfer_syntax,
        pixel_keyword=pixel_keyword,
        pixel_vr=str(element.VR),
        modality=str(ds.get("Modality", "") or ""),
        meta=meta,
        little_endian=transfer_syntax.is_little_endian if little is None else bool(little),
        frames_note=frames_note,
    )


def _transfer_syntax(ds: Dataset) -> UID:
    file_meta = getattr(ds, "file_meta", None)
    uid = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if uid is not None and UID(str(uid)).is_transfer_syntax:
        return UID(str(uid))
    implicit, little = ds.original_encoding
    if implicit is None:
        return ExplicitVRLittleEndian
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _number_of_frames(
    ds: Dataset, element: DataElement, transfer_syntax: UID, frame_bytes: int
) -> tuple[int, str]:
    raw = ds.get("NumberOfFrames")
    if raw is None or str(raw).strip() == "":
        return 1, ""
    try:
        frames = int(raw)
    except (TypeError, ValueError):
        frames = 0
    if frames >= 1:
        return frames, ""
    # An unreadable Number of Frames (IS, PS3.5 6.2) would make the whole image unusable;
    # for native pixel data the count follows from the length, so show what is there.
    value = element.value
    if transfer_syntax.is_encapsulated or not isinstance(value, bytes | bytearray):
        raise InvalidImage(f"Number of Frames {raw!r} is not a positive integer")
    counted = len(value) // max(frame_bytes, 1)
    if counted < 1:
        raise InvalidImage(f"Number of Frames {raw!r} is not a positive integer")
    return counted, f"Number of Frames {str(raw)!r} is invalid; {counted} counted from the data"


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidImage(f"{keyword} {value!r} is not a number")
