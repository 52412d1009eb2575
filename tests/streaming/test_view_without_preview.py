"""``view`` with ``"preview": false``: the client already shows an approximation of the frame
(the viewer re-maps its own picture during a window drag), so the answer starts with the
tiles; everything else is as for any view (PROTOCOL.md, "Changes after v1")."""

import pytest

from studies.rendering import get_renderer
from studies.streaming.plan import plan_view
from studies.streaming.progressive import merged_tiles
from studies.streaming.protocol import Kind
from tests.dicom_files import make_ct
from tests.streaming.client import Viewer, of_kind, view
from tests.streaming.test_view import _store, prefetched_items

pytestmark = pytest.mark.django_db(transaction=True)

SOFT_TISSUE = [40, 400]
BONE = [400, 1800]


async def test_a_view_without_preview_starts_with_its_tiles_then_lossless_then_done(
    clinician, phantom_slices
):
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, phantom_slices[0].instance, window=SOFT_TISSUE, preview=False))
    messages = await viewer.until_done(1)
    await viewer.close()

    assert [m.type for m in messages] == ["tile", "lossless", "done"]
    (tile,) = of_kind(messages, Kind.TILE)  # the 512² frame in one JPEG
    assert (tile.header.x, tile.header.y, tile.header.width, tile.header.height) == (
        0,
        0,
        512,
        512,
    )


async def test_a_view_without_the_field_still_starts_with_its_preview(clinician, phantom_slices):
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, phantom_slices[0].instance, window=BONE))
    messages = await viewer.until_done(1)
    await viewer.close()

    assert [m.type for m in messages] == ["preview", "tile", "lossless", "done"]


async def test_a_view_with_preview_true_after_one_without_gets_its_preview(
    clinician, phantom_slices
):
    # Nothing was sent by the first view, so the server must not count its frame as shown.
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, phantom_slices[0].instance, window=BONE, preview=False))
    await viewer.until_done(1)
    await viewer.send(**view(2, phantom_slices[0].instance, window=BONE, preview=True))
    messages = await viewer.until_done(2)
    await viewer.close()

    assert messages[0].type == "preview" and messages[0].request == 2


async def test_the_prefetch_lane_runs_without_a_preview_having_been_sent(clinician, phantom_slices):
    first, second, third = phantom_slices
    viewer = await Viewer.open(clinician)
    await viewer.send(
        **view(
            1,
            second.instance,
            window=SOFT_TISSUE,
            preview=False,
            prefetch=[[first.instance, 0], [third.instance, 0]],
        )
    )
    messages = await viewer.until_done(1)
    prefetched = await prefetched_items(viewer, messages, 2)
    await viewer.close()

    assert not of_kind(messages, Kind.PREVIEW)
    assert sorted(m.header.item for m in prefetched) == [0, 1]


@pytest.mark.parametrize("value", ["false", 0, 1, None, [False]])
async def test_a_preview_field_that_is_not_a_boolean_is_refused(clinician, phantom_slices, value):
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(4, phantom_slices[0].instance, viewport=3, preview=value))
    error = await viewer.receive_json()
    await viewer.send(type="ping")
    pong = await viewer.receive_json()
    await viewer.close()

    assert (error["type"], error["code"], error["request"], error["viewport"]) == (
        "error",
        "bad_request",
        4,
        3,
    )
    assert "preview" in error["message"]
    assert pong == {"type": "pong"}


async def test_tiles_sent_as_they_are_encoded_keep_the_plans_centre_out_order(
    clinician, transactional_db
):
    # A region off the centre of a 1024² image: its level-0 tiles come as four blocks of
    # up to 2×2 tiles, whose centre-out order is not the rows' order.
    image = await _store(make_ct(rows=1024, columns=1024))
    region = [300, 200, 700, 700]  # x 300..1000, y 200..900: block (1, 1) holds the centre
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(1, image.instance, window=BONE, preview=False, region=region))
    messages = await viewer.until_done(1)
    await viewer.close()

    renderer = get_renderer()
    plan = plan_view(1024, 1024, tuple(region), 1.0, renderer.tile_size, 10**8)
    expected = [(t.rect.x, t.rect.y) for t in merged_tiles(plan.tiles)]
    assert expected == [(512, 512), (512, 0), (256, 512), (256, 0)]
    assert [(m.header.x, m.header.y) for m in of_kind(messages, Kind.TILE)] == expected
