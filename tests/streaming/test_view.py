"""``view``: a preview first, then tiles covering the region centre-out, lossless, done."""

import numpy as np
import pytest

from studies.imaging.encode import encode
from studies.rendering import get_renderer
from studies.streaming.protocol import Encoding, Kind
from tests.dicom_files import make_ct
from tests.streaming.client import Viewer, of_kind, view
from tests.streaming.conftest import store

pytestmark = pytest.mark.django_db(transaction=True)

SOFT_TISSUE = [40, 400]
LUNG = [-600, 1500]


def rect(message):
    header = message.header
    return (header.x, header.y, header.width, header.height)


async def test_preview_comes_first_then_tiles_covering_the_frame_then_lossless_then_done(
    clinician, phantom_slices
):
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, phantom_slices[0].instance, window=SOFT_TISSUE))
    messages = await viewer.until_done(1)
    await viewer.close()

    kinds = [m.type for m in messages]
    assert kinds == ["preview", "tile", "lossless", "done"]
    preview = messages[0]
    assert preview.header.encoding == Encoding.JPEG
    assert rect(preview) == (0, 0, 512, 512)
    assert preview.pixels().shape == (256, 256)  # longest side at most 256
    assert preview.header.level == 1

    # Full resolution: the four 256-px tiles of the frame come as one block (PROTOCOL.md).
    (tile,) = of_kind(messages, Kind.TILE)
    assert rect(tile) == (0, 0, 512, 512)
    assert tile.header.level == 0
    assert tile.header.encoding == Encoding.JPEG
    assert tile.pixels().shape == (512, 512)
    assert tile.header.request == 1 and tile.header.viewport == 0

    lossless = of_kind(messages, Kind.LOSSLESS)[0]
    assert lossless.header.encoding == Encoding.PNG
    assert lossless.pixels().shape == (512, 512)
    assert messages[-1].json == {"type": "done", "request": 1, "viewport": 0, "level": 0}


async def test_full_resolution_tiles_and_lossless_are_the_renderers_own_bytes(
    clinician, phantom_slices
):
    # The tiles of a small full-resolution view are cut from one rendering of the region
    # they cover, and the lossless image from the same pixels: each must be exactly what
    # the renderer gives for that tile or region alone.
    stored = phantom_slices[2]
    viewer = await Viewer.open(clinician)
    region = [100, 60, 300, 400]
    await viewer.send(**view(3, stored.instance, region=region, scale=1.5, window=LUNG))
    messages = await viewer.until_done(3)
    await viewer.close()

    renderer = get_renderer()
    (tile,) = of_kind(messages, Kind.TILE)  # tiles 0-1 × 0-1: one block of 512²
    assert rect(tile) == (0, 0, 512, 512)
    # Its halves were encoded on two threads and joined: the picture must be exactly one
    # encode of the renderer's pixels of that block.
    pixels = renderer.render_pixels(stored.path, 0, window=LUNG, region=(0, 0, 512, 512))
    assert np.array_equal(tile.pixels(), _decoded(encode(pixels, "jpeg", 90)))
    (lossless,) = of_kind(messages, Kind.LOSSLESS)
    expected = renderer.render(
        stored.path, 0, window=LUNG, region=region, output_size=(300, 400), format="png"
    )
    assert lossless.payload == expected


async def test_tiles_cover_a_zoomed_region_nearest_its_centre_first(clinician, transactional_db):
    image = await _store(make_ct(rows=1024, columns=1024))
    region = [100, 100, 900, 500]  # x 100..1000, y 100..600
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, image.instance, region=region, scale=1.0))
    messages = await viewer.until_done(1)
    await viewer.close()

    tiles = of_kind(messages, Kind.TILE)
    # Level 0 tiles of 256 px meeting x 100..1000 (columns 0-3) and y 100..600 (rows 0-2),
    # as blocks of up to 2×2 tiles, in the order of each block's tile nearest the centre
    # (550, 350): column 2 row 1, column 1 row 1, column 2 row 2, column 1 row 2.
    assert [rect(t) for t in tiles] == [
        (512, 0, 512, 512),
        (0, 0, 512, 512),
        (512, 512, 512, 256),
        (0, 512, 512, 256),
    ]
    assert messages[0].type == "preview"
    assert rect(messages[0]) == (0, 0, 1024, 1024)


async def test_a_fitted_view_below_full_resolution_reads_a_coarser_level(clinician, phantom_slices):
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, phantom_slices[0].instance, scale=0.5))
    messages = await viewer.until_done(1)
    await viewer.close()

    tiles = of_kind(messages, Kind.TILE)
    assert len(tiles) == 1
    assert tiles[0].header.level == 1
    assert rect(tiles[0]) == (0, 0, 512, 512)
    assert tiles[0].pixels().shape == (256, 256)
    assert messages[-1].json["level"] == 1


async def test_changing_the_window_changes_the_pixels(clinician, phantom_slices):
    viewer = await Viewer.open(clinician)
    instance = phantom_slices[0].instance
    await viewer.send(**view(1, instance, window=SOFT_TISSUE))
    soft = await viewer.until_done(1)
    await viewer.send(**view(2, instance, window=LUNG))
    lung = await viewer.until_done(2)
    await viewer.send(**view(3, instance, window=SOFT_TISSUE, invert=True))
    inverted = await viewer.until_done(3)
    await viewer.close()

    for kind in (Kind.PREVIEW, Kind.TILE, Kind.LOSSLESS):
        first, second = of_kind(soft, kind)[0], of_kind(lung, kind)[0]
        assert rect(first) == rect(second)
        assert not np.array_equal(first.pixels(), second.pixels())
    soft_png = of_kind(soft, Kind.LOSSLESS)[0].pixels().astype(int)
    inverted_png = of_kind(inverted, Kind.LOSSLESS)[0].pixels().astype(int)
    assert np.array_equal(inverted_png, 255 - soft_png)


@pytest.mark.parametrize(
    ("region", "scale", "clipped", "size"),
    [
        # Fitted in a 256 px viewport.
        ([0, 0, 512, 512], 0.5, (0, 0, 512, 512), (256, 256)),
        # Zoomed in: full resolution, the browser does the upscaling.
        ([100, 120, 200, 150], 2.0, (100, 120, 200, 150), (200, 150)),
        # Partly outside the image: clipped to it.
        ([-50, 400, 200, 300], 1.0, (0, 400, 150, 112), (150, 112)),
    ],
)
async def test_diagnostic_quality_sends_the_renderers_lossless_png_without_waiting(
    clinician, phantom_slices, region, scale, clipped, size
):
    stored = phantom_slices[1]
    viewer = await Viewer.open(clinician)
    await viewer.send(
        **view(7, stored.instance, region=region, scale=scale, window=LUNG, quality="diagnostic")
    )
    messages = await viewer.until_done(7)
    await viewer.close()

    lossless = of_kind(messages, Kind.LOSSLESS)
    assert len(lossless) == 1
    header = lossless[0].header
    assert header.encoding == Encoding.PNG
    assert (header.bitmap_width, header.bitmap_height) == size
    assert rect(lossless[0]) == clipped
    expected = get_renderer().render(
        stored.path, 0, window=LUNG, region=clipped, output_size=size, format="png"
    )
    assert lossless[0].payload == expected
    assert messages.index(lossless[0]) == len(messages) - 2  # then done


async def prefetched_items(viewer, messages, count):
    """The prefetch messages among ``messages``, then more until there are ``count``."""
    found = of_kind(messages, Kind.PREFETCH)
    while len(found) < count:
        message = await viewer.receive()
        messages.append(message)
        if message.type == "prefetch":
            found.append(message)
    return found


async def test_prefetched_neighbours_arrive_as_previews_after_the_views_preview(
    clinician, phantom_slices
):
    first, second, third = phantom_slices
    viewer = await Viewer.open(clinician)
    await viewer.send(
        **view(
            1,
            second.instance,
            quality="diagnostic",
            prefetch=[[first.instance, 0], ["1.2.3.4.5.404", 0], [third.instance, 0]],
        )
    )
    messages = await viewer.until_done(1)
    prefetched = await prefetched_items(viewer, messages, 2)
    assert await viewer.socket.receive_nothing(timeout=0.3)
    await viewer.close()

    # The unknown instance is skipped; items keep their index in the request's list.
    assert [m.header.item for m in prefetched] == [0, 2]
    assert all(m.header.request == 1 for m in prefetched)
    assert all(messages.index(m) > 0 for m in prefetched)  # the view's preview went first
    renderer = get_renderer()
    for message, stored in zip(prefetched, (first, third), strict=True):
        assert message.pixels().shape == (256, 256)
        assert rect(message) == (0, 0, 512, 512)
        own = renderer.render_pixels(stored.path, 0, output_size=(256, 256))
        assert np.abs(message.pixels().astype(int) - own.astype(int)).mean() < 2  # JPEG


async def test_prefetch_outlives_a_newer_view_and_no_preview_is_sent_twice(
    clinician, phantom_slices
):
    first, second, third = phantom_slices
    viewer = await Viewer.open(clinician)
    # Scrolling: the second view supersedes the first at once, but its neighbours are
    # still wanted; nothing is rendered twice for the same settings.
    await viewer.send(
        **view(1, first.instance, prefetch=[[second.instance, 0], [third.instance, 0]])
    )
    await viewer.send(**view(2, second.instance, prefetch=[[third.instance, 0]]))
    messages = await viewer.until_done(2)
    while True:
        # Whole-frame pictures of the third slice: a prefetch of request 1 or of 2.
        pictures = [
            m
            for m in of_kind(messages, Kind.PREFETCH)
            if m.header.item == (1 if m.request == 1 else 0)
        ]
        if pictures:
            break
        messages.append(await viewer.receive())
    assert await viewer.socket.receive_nothing(timeout=0.3)
    await viewer.close()

    assert len(pictures) == 1
    # The second slice was shown by exactly one whole-frame picture: the view's preview or
    # the first view's prefetch item 0, never both.
    of_second = [
        m for m in of_kind(messages, Kind.PREFETCH) if m.request == 1 and m.header.item == 0
    ]
    of_second += [m for m in of_kind(messages, Kind.PREVIEW) if m.request == 2]
    assert len(of_second) == 1


async def test_a_view_of_a_frame_already_prefetched_starts_with_its_tiles(
    clinician, phantom_slices
):
    first, second, _ = phantom_slices
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, first.instance, prefetch=[[second.instance, 0]]))
    messages = await viewer.until_done(1)
    await prefetched_items(viewer, messages, 1)
    await viewer.send(**view(2, second.instance))
    kinds = [m.type for m in await viewer.until_done(2)]
    await viewer.close()

    assert kinds[0] == "tile" and "preview" not in kinds  # the browser holds the preview


async def test_a_window_change_drops_the_old_windows_prefetch(clinician, phantom_slices):
    first, second, third = phantom_slices
    viewer = await Viewer.open(clinician)
    await viewer.send(
        **view(1, first.instance, prefetch=[[second.instance, 0], [third.instance, 0]])
    )
    await viewer.send(**view(2, first.instance, window=LUNG, prefetch=[[third.instance, 0]]))
    messages = await viewer.until_done(2)
    while not [m for m in of_kind(messages, Kind.PREFETCH) if m.request == 2]:
        messages.append(await viewer.receive())
    assert await viewer.socket.receive_nothing(timeout=0.3)
    await viewer.close()

    # Whatever of request 1 left before the change, nothing of it follows request 2's pixels.
    first_of_2 = next(i for i, m in enumerate(messages) if m.is_pixels and m.request == 2)
    assert not [m for m in messages[first_of_2:] if m.is_pixels and m.request == 1]


async def test_frame_info_answers_with_the_renderers_frame_info(clinician, phantom_slices):
    stored = phantom_slices[0]
    viewer = await Viewer.open(clinician)
    await viewer.send(type="frame_info", request=5, instance=stored.instance, frame=0)
    answer = await viewer.receive_json()
    await viewer.close()

    info = get_renderer().frame_info(stored.path, 0)
    assert answer["type"] == "frame_info" and answer["request"] == 5
    assert (answer["rows"], answer["columns"]) == (512, 512)
    assert answer["default_window"] == list(info.default_window)
    assert [v["explanation"] for v in answer["vois"]] == [v.explanation for v in info.vois]
    assert answer["pixel_spacing"]["row_mm"] == pytest.approx(0.78125)
    assert answer["unit"] == "HU"
    assert answer["levels"] == [list(level) for level in info.levels]


async def test_ping_is_answered_while_a_large_frame_is_still_rendering(clinician, large_ct):
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, large_ct.instance, region=[0, 0, 4096, 4096]))
    await viewer.send(type="ping")
    # Decoding 32 MB and building its pyramid takes far longer than routing a ping: if
    # rendering ran on the event loop, the preview would be first.
    first = await viewer.receive()
    assert first.json == {"type": "pong"}
    assert (await viewer.receive()).type == "preview"
    await viewer.send(type="cancel", viewport=0)
    await viewer.close()


def _decoded(jpeg: bytes) -> np.ndarray:
    from io import BytesIO

    from PIL import Image

    return np.asarray(Image.open(BytesIO(jpeg)))


async def _store(ds):
    from channels.db import database_sync_to_async

    return await database_sync_to_async(store)(ds)


async def test_a_view_is_answered_while_the_shared_database_thread_is_busy(
    clinician, phantom_slices
):
    # Channels hops to its one database thread before every message it dispatches; the
    # viewer's requests do not wait for that thread (another socket's audit write, here a
    # second of sleep).
    import asyncio
    import time

    from asgiref.sync import sync_to_async

    viewer = await Viewer.open(clinician)
    busy = asyncio.ensure_future(sync_to_async(time.sleep, thread_sensitive=True)(1.5))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await viewer.send(**view(1, phantom_slices[0].instance, quality="diagnostic"))
    first = await viewer.receive()
    answered = time.monotonic() - started
    await busy
    await viewer.close()
    assert first.type == "preview"
    assert answered < 1.0
