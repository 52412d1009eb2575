"""The wire format: the 44-byte pixel header and request parsing, without a socket."""

import json
import struct

import pytest

from studies.streaming import protocol
from studies.streaming.protocol import (
    Code,
    Encoding,
    Kind,
    PixelHeader,
    ProtocolError,
    pack_pixels,
    parse,
    unpack_pixels,
)

HEADER = PixelHeader(
    request=4_000_000_000,
    viewport=15,
    kind=Kind.PREFETCH,
    encoding=Encoding.PNG,
    level=3,
    frame=70_000,
    item=31,
    x=12.5,
    y=0.0,
    width=256.0,
    height=100.25,
    bitmap_width=256,
    bitmap_height=101,
)


def test_pixel_header_has_the_documented_offsets():
    message = pack_pixels(HEADER, b"image bytes")
    assert len(message) == 44 + len(b"image bytes")
    # Read back at the offsets of PROTOCOL.md, as the JS DataView does.
    assert message[0:4] == b"DVW1"
    assert struct.unpack_from("<I", message, 4)[0] == 4_000_000_000
    assert message[8:12] == bytes([15, 4, 2, 3])
    assert struct.unpack_from("<IHH", message, 12) == (70_000, 31, 0)
    assert struct.unpack_from("<4f", message, 20) == (12.5, 0.0, 256.0, 100.25)
    assert struct.unpack_from("<HHI", message, 36) == (256, 101, len(b"image bytes"))
    assert message[44:] == b"image bytes"


def test_pixel_header_round_trips():
    assert unpack_pixels(pack_pixels(HEADER, b"xyz")) == (HEADER, b"xyz")


@pytest.mark.parametrize("damage", [lambda m: b"DVW2" + m[4:], lambda m: m[:-1], lambda m: m[:20]])
def test_damaged_pixel_messages_are_refused(damage):
    with pytest.raises(ValueError):
        unpack_pixels(damage(pack_pixels(HEADER, b"xyz")))


def test_view_defaults_and_fields():
    request = parse(
        json.dumps(
            {
                "type": "view",
                "request": 3,
                "viewport": 1,
                "instance": "1.2.840.1",
                "region": [0, 0, 10, 20],
                "scale": 0.5,
                "prefetch": [["1.2.840.2", 0], ["1.2.840.3", 4]],
            }
        )
    )
    assert request == protocol.View(
        request=3,
        viewport=1,
        instance="1.2.840.1",
        frame=0,
        region=(0.0, 0.0, 10.0, 20.0),
        scale=0.5,
        window=None,
        voi=0,
        function=None,
        invert=False,
        quality="interactive",
        prefetch=(("1.2.840.2", 0), ("1.2.840.3", 4)),
    )
    assert request.preview is True


def test_a_view_may_ask_for_no_preview():
    message = {
        "type": "view",
        "request": 3,
        "viewport": 1,
        "instance": "1.2.840.1",
        "region": [0, 0, 10, 20],
        "scale": 0.5,
        "preview": False,
    }
    assert parse(json.dumps(message)).preview is False


@pytest.mark.parametrize(
    "change",
    [
        {"request": 0},
        {"request": 2**32},
        {"request": True},
        {"region": [0, 0, 10, float("inf")]},
        {"region": [0, 0, -1, 10]},
        {"scale": 65},
        {"window": [40]},
        {"function": "LOG"},
        {"invert": "yes"},
        {"preview": "no"},
        {"preview": None},
        {"preview": 0},
        {"frame": -1},
        {"prefetch": [["1.2", 0]] * 33},
        {"prefetch": [["1.2", "zero"]]},
        {"instance": "1.2.03"},  # PS3.5 9.1: no leading zeros in a component
        {"instance": "1." + "2" * 70},
    ],
)
def test_bad_view_fields_are_refused_with_the_request_id(change):
    message = {
        "type": "view",
        "request": 3,
        "viewport": 1,
        "instance": "1.2.840.1",
        "region": [0, 0, 10, 20],
        "scale": 0.5,
    }
    message.update(change)
    with pytest.raises(ProtocolError) as caught:
        parse(json.dumps(message))
    assert caught.value.code == Code.BAD_REQUEST
    assert caught.value.viewport == 1
    if "request" not in change:
        assert caught.value.request == 3


@pytest.mark.parametrize(
    ("shape", "points", "box"),
    [
        ({"kind": "point", "x": 1, "y": 2.5}, ((1.0, 2.5),), None),
        ({"kind": "line", "points": [[0, 0], [3, 4]]}, ((0.0, 0.0), (3.0, 4.0)), None),
        ({"kind": "ellipse", "x": 1, "y": 2, "width": 3, "height": 4}, (), (1.0, 2.0, 3.0, 4.0)),
    ],
)
def test_measure_shapes(shape, points, box):
    request = parse(
        json.dumps({"type": "measure", "request": 1, "instance": "1.2", "shape": shape})
    )
    assert (request.kind, request.points, request.box) == (shape["kind"], points, box)


@pytest.mark.parametrize(
    "shape",
    [
        {"kind": "line", "points": [[0, 0]]},
        {"kind": "angle", "points": [[0, 0], [1, 1]]},
        {"kind": "polygon", "points": [[0, 0], [1, 1]]},
        {"kind": "polygon", "points": [[0, 0]] * 1025},
        {"kind": "rectangle", "x": 0, "y": 0, "width": 0, "height": 5},
        {"kind": "point", "x": "1", "y": 2},
        {"kind": "point", "x": 1},
    ],
)
def test_bad_shapes_are_refused(shape):
    with pytest.raises(ProtocolError):
        parse(json.dumps({"type": "measure", "request": 1, "instance": "1.2", "shape": shape}))


def test_server_json_never_contains_nan():
    text = protocol.dumps({"a": float("nan"), "b": [1.5, float("-inf")], "c": (2,)})
    assert json.loads(text) == {"a": None, "b": [1.5, None], "c": [2]}
