"""The wire format of PROTOCOL.md: client requests parsed and checked, server messages built.

Everything a client sends is untrusted: each request is parsed into a frozen dataclass, or
refused with a ``ProtocolError`` that says which field is wrong. Nothing here touches the
database, the renderer or the event loop, so the whole contract can be tested alone.
"""

from __future__ import annotations

import enum
import json
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

MAGIC = b"DVW1"
# PROTOCOL.md "binary messages": magic, request, viewport, kind, encoding, level, frame,
# item, reserved, x, y, width, height (f32), bitmap width, height (u16), payload length.
HEADER = struct.Struct("<4sIBBBBIHH4f2HI")
assert HEADER.size == 44  # the JS side reads fixed offsets

MAX_TEXT_BYTES = 64 * 1024
MAX_VIEWPORTS = 16
MAX_PREFETCH = 32
# A `previews` request lists at most this many frames: what the browser keeps of one stack
# (PROTOCOL.md `previews`: 384 previews of 256² fit its 96 MiB).
MAX_STACK_PREVIEWS = 512
MAX_POLYGON_POINTS = 1024
MAX_REQUEST_ID = 2**32 - 1
MAX_FRAME = 2**32 - 1
MAX_SCALE = 64.0
FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
QUALITIES = ("interactive", "diagnostic")
SHAPES = ("point", "line", "angle", "rectangle", "ellipse", "polygon")
# PS3.5 9.1: a UID is dot-separated numeric components, at most 64 characters.
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


class Kind(enum.IntEnum):
    PREVIEW = 1
    TILE = 2
    LOSSLESS = 3
    PREFETCH = 4


class Encoding(enum.IntEnum):
    JPEG = 1
    PNG = 2


ENCODINGS = {"jpeg": Encoding.JPEG, "png": Encoding.PNG}


class Code(enum.StrEnum):
    """The ``code`` of an ``error`` message."""

    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"
    DECODE_ERROR = "decode_error"
    TOO_LARGE = "too_large"
    SERVER_ERROR = "server_error"


class ProtocolError(Exception):
    """A request that cannot be served; becomes one ``error`` message, never a closed socket."""

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        request: int | None = None,
        viewport: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request = request
        self.viewport = viewport


# ---------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class OpenStudy:
    study: str
    request: int | None = None
    # A whole-frame preview pushed after the outline: a Series Instance UID, True for the
    # first series with images, None for none (PROTOCOL.md ``open_study``).
    preview: str | bool | None = None


@dataclass(frozen=True)
class View:
    request: int
    viewport: int
    instance: str
    frame: int
    region: tuple[float, float, float, float]
    scale: float
    window: tuple[float, float] | None
    voi: int
    function: str | None
    invert: bool
    quality: str
    prefetch: tuple[tuple[str, int], ...]
    # False: the client already shows an approximation of this frame (the viewer re-maps
    # its own picture during a window drag), so the view sends no ``preview``.
    preview: bool = True

    @property
    def diagnostic(self) -> bool:
        return self.quality == "diagnostic"


@dataclass(frozen=True)
class Previews:
    """Whole-frame previews of a stack, nearest first, at low priority (PROTOCOL.md)."""

    request: int
    viewport: int
    items: tuple[tuple[str, int], ...]
    window: tuple[float, float] | None
    voi: int
    function: str | None
    invert: bool


@dataclass(frozen=True)
class Cancel:
    viewport: int


@dataclass(frozen=True)
class FrameInfoRequest:
    request: int
    instance: str
    frame: int


@dataclass(frozen=True)
class Measure:
    request: int
    instance: str
    frame: int
    kind: str
    # point: one (x, y); line: two; angle: three (vertex in the middle); polygon: 3+.
    points: tuple[tuple[float, float], ...]
    # rectangle and ellipse: the bounding box (x, y, width, height).
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Ping:
    pass


Request = OpenStudy | View | Previews | Cancel | FrameInfoRequest | Measure | Ping


def parse(text: str) -> Request:
    """One client text message → a request, or ``ProtocolError(BAD_REQUEST)``."""
    if len(text) > MAX_TEXT_BYTES:
        raise ProtocolError(Code.BAD_REQUEST, f"a message is at most {MAX_TEXT_BYTES} bytes")
    try:
        message = json.loads(text)
    except ValueError:
        raise ProtocolError(Code.BAD_REQUEST, "the message is not JSON")
    if not isinstance(message, dict):
        raise ProtocolError(Code.BAD_REQUEST, "the message is not a JSON object")
    kind = message.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise ProtocolError(Code.BAD_REQUEST, f"unknown message type {kind!r}")
    # Answer errors with the request id and viewport when the client gave usable ones.
    request = _optional_request(message)
    viewport = message.get("viewport") if _is_viewport(message.get("viewport")) else None
    try:
        return parser(_Fields(message))
    except ProtocolError as error:
        error.request, error.viewport = request, viewport
        raise


class _Fields:
    """Typed access to the fields of one message, each failure naming its field."""

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message

    def _bad(self, name: str, expected: str) -> ProtocolError:
        return ProtocolError(Code.BAD_REQUEST, f"field {name!r} must be {expected}")

    def integer(self, name: str, low: int, high: int, default: int | None = None) -> int:
        value = self.message.get(name, default)
        if not _is_int(value) or not low <= value <= high:
            raise self._bad(name, f"an integer from {low} to {high}")
        return value

    def uid(self, name: str) -> str:
        value = self.message.get(name)
        if not isinstance(value, str) or len(value) > 64 or not _UID.match(value):
            raise self._bad(name, "a DICOM UID (digits and dots, at most 64 characters)")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.message.get(name, default)
        if not isinstance(value, bool):
            raise self._bad(name, "true or false")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
        value = self.message.get(name, default)
        if value is None and default is None:
            return None
        if not isinstance(value, str) or value not in choices:
            raise self._bad(name, "one of " + ", ".join(choices))
        return value

    def numbers(self, name: str, count: int, value: Any = None) -> tuple[float, ...]:
        value = self.message.get(name) if value is None else value
        if (
            not isinstance(value, list)
            or len(value) != count
            or not all(_is_finite(v) for v in value)
        ):
            raise self._bad(name, f"a list of {count} finite numbers")
        return tuple(float(v) for v in value)

    def number(self, name: str, value: Any) -> float:
        if not _is_finite(value):
            raise self._bad(name, "a finite number")
        return float(value)


def _open_study(fields: _Fields) -> OpenStudy:
    request = None
    if "request" in fields.message:
        request = fields.integer("request", 1, MAX_REQUEST_ID)
    preview = fields.message.get("preview")
    if preview is False:
        preview = None
    elif preview is not None and preview is not True:
        preview = fields.uid("preview")
    return OpenStudy(study=fields.uid("study"), request=request, preview=preview)


def _view(fields: _Fields) -> View:
    # In the order of PROTOCOL.md, so the first wrong field is the one reported.
    request = fields.integer("request", 1, MAX_REQUEST_ID)
    viewport = fields.integer("viewport", 0, MAX_VIEWPORTS - 1)
    instance = fields.uid("instance")
    frame = fields.integer("frame", 0, MAX_FRAME, default=0)
    region = fields.numbers("region", 4)
    if region[2] <= 0 or region[3] <= 0:
        raise ProtocolError(Code.BAD_REQUEST, "field 'region' needs a positive width and height")
    scale = fields.message.get("scale")
    if not _is_finite(scale) or not 0 < scale <= MAX_SCALE:
        raise ProtocolError(
            Code.BAD_REQUEST, f"field 'scale' must be a number above 0, at most {MAX_SCALE:g}"
        )
    window = _window(fields)
    neighbours = _frames(fields, "prefetch", MAX_PREFETCH)
    return View(
        request=request,
        viewport=viewport,
        instance=instance,
        frame=frame,
        region=region,  # type: ignore[arg-type]
        scale=float(scale),
        window=window,
        voi=fields.integer("voi", 0, 1023, default=0),
        function=fields.choice("function", FUNCTIONS, None),
        invert=fields.boolean("invert", False),
        quality=fields.choice("quality", QUALITIES, "interactive") or "interactive",
        prefetch=tuple(neighbours),
        preview=fields.boolean("preview", True),
    )


def _window(fields: _Fields) -> tuple[float, float] | None:
    if fields.message.get("window") is None:
        return None
    center, width = fields.numbers("window", 2)
    # PS3.3 C.11.2.1.2: Window Width is at least 1 for LINEAR and above 0 otherwise;
    # the renderer applies the exact rule for the chosen function.
    if width <= 0:
        raise ProtocolError(Code.BAD_REQUEST, "field 'window' needs a width above 0")
    return (center, width)


def _frames(fields: _Fields, name: str, limit: int) -> tuple[tuple[str, int], ...]:
    """A list of ``[instance, frame]`` pairs (``prefetch``, ``items``)."""
    value = fields.message.get(name) or []
    if not isinstance(value, list) or len(value) > limit:
        raise ProtocolError(
            Code.BAD_REQUEST, f"field {name!r} must be a list of at most {limit} items"
        )
    frames = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2:
            raise ProtocolError(Code.BAD_REQUEST, f"each {name} item is [instance, frame]")
        item_fields = _Fields({"instance": item[0], "frame": item[1]})
        frames.append((item_fields.uid("instance"), item_fields.integer("frame", 0, MAX_FRAME)))
    return tuple(frames)


def _previews(fields: _Fields) -> Previews:
    return Previews(
        request=fields.integer("request", 1, MAX_REQUEST_ID),
        viewport=fields.integer("viewport", 0, MAX_VIEWPORTS - 1),
        items=_frames(fields, "items", MAX_STACK_PREVIEWS),
        window=_window(fields),
        voi=fields.integer("voi", 0, 1023, default=0),
        function=fields.choice("function", FUNCTIONS, None),
        invert=fields.boolean("invert", False),
    )


def _cancel(fields: _Fields) -> Cancel:
    return Cancel(viewport=fields.integer("viewport", 0, MAX_VIEWPORTS - 1))


def _frame_info(fields: _Fields) -> FrameInfoRequest:
    return FrameInfoRequest(
        request=fields.integer("request", 1, MAX_REQUEST_ID),
        instance=fields.uid("instance"),
        frame=fields.integer("frame", 0, MAX_FRAME, default=0),
    )


def _measure(fields: _Fields) -> Measure:
    request = fields.integer("request", 1, MAX_REQUEST_ID)
    instance = fields.uid("instance")
    frame = fields.integer("frame", 0, MAX_FRAME, default=0)
    shape = fields.message.get("shape")
    if not isinstance(shape, dict):
        raise ProtocolError(Code.BAD_REQUEST, "field 'shape' must be an object with a 'kind'")
    kind = _Fields(shape).choice("kind", SHAPES, "")
    shape_fields = _Fields(shape)
    points: tuple[tuple[float, float], ...] = ()
    box = None
    if kind == "point":
        points = (
            (shape_fields.number("x", shape.get("x")), shape_fields.number("y", shape.get("y"))),
        )
    elif kind in ("rectangle", "ellipse"):
        box = tuple(
            shape_fields.number(name, shape.get(name)) for name in ("x", "y", "width", "height")
        )
        if box[2] <= 0 or box[3] <= 0:
            raise ProtocolError(Code.BAD_REQUEST, f"a {kind} needs a positive width and height")
    else:
        wanted = {"line": (2, 2), "angle": (3, 3), "polygon": (3, MAX_POLYGON_POINTS)}[kind]
        raw = shape.get("points")
        if not isinstance(raw, list) or not wanted[0] <= len(raw) <= wanted[1]:
            count = str(wanted[0]) if wanted[0] == wanted[1] else f"{wanted[0]} to {wanted[1]}"
            raise ProtocolError(Code.BAD_REQUEST, f"a {kind} needs {count} points")
        points = tuple(shape_fields.numbers("points", 2, point) for point in raw)  # type: ignore[misc]
    return Measure(
        request=request,
        instance=instance,
        frame=frame,
        kind=kind or "",
        points=points,
        box=box,  # type: ignore[arg-type]
    )


_PARSERS = {
    "open_study": _open_study,
    "view": _view,
    "previews": _previews,
    "cancel": _cancel,
    "frame_info": _frame_info,
    "measure": _measure,
    "ping": lambda fields: Ping(),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_viewport(value: Any) -> bool:
    return _is_int(value) and 0 <= value < MAX_VIEWPORTS


def _optional_request(message: dict[str, Any]) -> int | None:
    value = message.get("request")
    return value if _is_int(value) and 1 <= value <= MAX_REQUEST_ID else None


# ----------------------------------------------------------------- server messages


def dumps(message: dict[str, Any]) -> str:
    """JSON text for the browser: NaN and infinities (not JSON) become null."""
    return json.dumps(_finite(message), allow_nan=False, separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def error_message(error: ProtocolError) -> dict[str, Any]:
    return {
        "type": "error",
        "request": error.request,
        "viewport": error.viewport,
        "code": str(error.code),
        "message": error.message,
    }


@dataclass(frozen=True)
class PixelHeader:
    request: int
    viewport: int
    kind: Kind
    encoding: Encoding
    level: int
    frame: int
    item: int
    x: float
    y: float
    width: float
    height: float
    bitmap_width: int
    bitmap_height: int


def pack_pixels(header: PixelHeader, payload: bytes) -> bytes:
    """One binary message: the 44-byte header then the encoded image."""
    return (
        HEADER.pack(
            MAGIC,
            header.request,
            header.viewport,
            int(header.kind),
            int(header.encoding),
            header.level,
            header.frame,
            header.item,
            0,
            header.x,
            header.y,
            header.width,
            header.height,
            header.bitmap_width,
            header.bitmap_height,
            len(payload),
        )
        + payload
    )


def unpack_pixels(message: bytes) -> tuple[PixelHeader, bytes]:
    """The inverse of ``pack_pixels`` (tests, and any Python client)."""
    if len(message) < HEADER.size:
        raise ValueError(f"a pixel message has at least {HEADER.size} bytes")
    fields = HEADER.unpack_from(message)
    magic, request, viewport, kind, encoding, level, frame, item, _reserved = fields[:9]
    x, y, width, height, bitmap_width, bitmap_height, length = fields[9:]
    if magic != MAGIC:
        raise ValueError(f"bad magic {magic!r}")
    payload = message[HEADER.size :]
    if len(payload) != length:
        raise ValueError(f"payload is {len(payload)} bytes, the header says {length}")
    header = PixelHeader(
        request=request,
        viewport=viewport,
        kind=Kind(kind),
        encoding=Encoding(encoding),
        level=level,
        frame=frame,
        item=item,
        x=x,
        y=y,
        width=width,
        height=height,
        bitmap_width=bitmap_width,
        bitmap_height=bitmap_height,
    )
    return header, payload
