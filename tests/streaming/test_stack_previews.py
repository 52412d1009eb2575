"""``previews``: whole-frame previews of a stack, and the store that keeps them ready."""

import os
from pathlib import Path

import numpy as np
import pytest

from studies.rendering import get_renderer
from studies.streaming.lookup import Target
from studies.streaming.previews import first_instances, preview_store, reset_preview_store
from studies.streaming.protocol import MAX_STACK_PREVIEWS, Kind
from tests.streaming.client import Viewer, view

pytestmark = pytest.mark.django_db(transaction=True)


def by_instance(firsts: dict, stored) -> Target:
    (target,) = firsts.values()
    return Target(stored.instance, stored.path, target.rows, target.columns, 1, stored.study)


async def store_preview(user, stored) -> None:
    """Have the server render (and so store) the preview of ``stored``."""
    viewer = await Viewer.open(user)
    await viewer.send(**previews(1, [[stored.instance, 0]]))
    assert (await viewer.receive()).type == "prefetch"
    await viewer.close()


def previews(request: int, items: list, **fields) -> dict:
    return {"type": "previews", "request": request, "viewport": 0, "items": items, **fields}


async def test_previews_arrive_in_the_order_asked_and_unknown_items_are_skipped(
    clinician, phantom_slices
):
    s0, s1, s2 = phantom_slices
    viewer = await Viewer.open(clinician)
    items = [[s2.instance, 0], [s0.instance, 0], ["1.2.3.404", 0], [s1.instance, 0]]
    await viewer.send(**previews(7, items))
    received = [await viewer.receive() for _ in range(3)]
    assert await viewer.socket.receive_nothing(timeout=0.3)
    await viewer.close()

    assert [m.header.kind for m in received] == [Kind.PREFETCH] * 3
    assert [(m.header.request, m.header.item) for m in received] == [(7, 0), (7, 1), (7, 3)]
    own = get_renderer().render_pixels(s0.path, 0, output_size=(256, 256))
    assert np.abs(received[1].pixels().astype(int) - own.astype(int)).mean() < 2  # JPEG
    other = get_renderer().render_pixels(s2.path, 0, output_size=(256, 256))
    assert np.abs(received[0].pixels().astype(int) - other.astype(int)).mean() < 2


async def test_previews_use_the_settings_asked_for(clinician, phantom_slices):
    s0 = phantom_slices[0]
    viewer = await Viewer.open(clinician)
    await viewer.send(**previews(2, [[s0.instance, 0]], window=[40, 80], invert=True))
    pushed = await viewer.receive()
    await viewer.close()

    own = get_renderer().render_pixels(
        s0.path, 0, window=(40, 80), invert=True, output_size=(256, 256)
    )
    assert np.abs(pushed.pixels().astype(int) - own.astype(int)).mean() < 2
    # Not the file's own rendering: nothing was stored for it.
    assert preview_store().get(s0.path, 0) is None


async def test_a_view_of_a_frame_the_stack_previews_sent_sends_no_preview(
    clinician, phantom_slices
):
    s0 = phantom_slices[0]
    viewer = await Viewer.open(clinician)
    await viewer.send(**previews(2, [[s0.instance, 0]]))
    assert (await viewer.receive()).type == "prefetch"
    await viewer.send(**view(3, s0.instance))
    kinds = [m.type for m in await viewer.until_done(3)]
    await viewer.close()
    assert "tile" in kinds and "preview" not in kinds


async def test_a_stored_first_picture_comes_before_the_outline_and_survives_a_restart(
    clinician, phantom_slices
):
    first = phantom_slices[0]
    viewer = await Viewer.open(clinician)
    await viewer.send(type="open_study", study=first.study, request=3, preview=True)
    # Rendered at this first request: the outline went first.
    order = [(await viewer.receive()).type for _ in range(3)]
    await viewer.close()
    assert order == ["study", "first_picture", "prefetch"]
    rendered = preview_store().get(first.path, 0)
    assert rendered is not None

    again = await Viewer.open(clinician)
    await again.send(type="open_study", study=first.study, request=5, preview=True)
    named, pushed, outline = [await again.receive() for _ in range(3)]
    await again.close()
    assert (named.type, named.json["instance"], named.json["request"]) == (
        "first_picture",
        first.instance,
        5,
    )
    assert (pushed.type, pushed.header.request, outline.type) == ("prefetch", 5, "study")
    assert pushed.payload == rendered.data

    reset_preview_store()  # a new process: memory empty, the disk copy found
    assert preview_store().get(first.path, 0) == rendered
    assert preview_store().disk_hits == 1


async def test_the_early_first_picture_names_its_image_when_another_became_first(
    clinician, phantom_slices
):
    """The process remembers the first instance from the last outline; a slice stored since
    may come first now, so the early picture says which image it shows."""
    first = phantom_slices[0]
    viewer = await Viewer.open(clinician)
    await viewer.send(type="open_study", study=first.study, request=3, preview=True)
    [await viewer.receive() for _ in range(3)]
    await viewer.close()
    remembered = first_instances.get(first.study)
    # As if the outline had found another slice first.
    other = phantom_slices[2]
    first_instances.remember(first.study, {first.series: by_instance(remembered, other)})
    await store_preview(clinician, other)

    again = await Viewer.open(clinician)
    await again.send(type="open_study", study=first.study, request=5, preview=True)
    named, pushed, outline = [await again.receive() for _ in range(3)]
    await again.close()
    assert named.json["instance"] == other.instance
    assert pushed.payload == preview_store().get(other.path, 0).data
    assert outline.json["series"][0]["instances"][0]["uid"] == first.instance


async def test_a_previews_request_is_checked(clinician, phantom_slices):
    uid = phantom_slices[0].instance
    viewer = await Viewer.open(clinician)
    await viewer.send(**previews(2, [[uid, 0]] * (MAX_STACK_PREVIEWS + 1)))
    too_many = await viewer.receive_json()
    await viewer.send(**previews(3, [[uid, 0]], window=[40, 0]))
    no_width = await viewer.receive_json()
    await viewer.send(**previews(4, [[uid, -1]]))
    bad_frame = await viewer.receive_json()
    await viewer.close()
    assert [m["code"] for m in (too_many, no_width, bad_frame)] == ["bad_request"] * 3
    assert [m["request"] for m in (too_many, no_width, bad_frame)] == [2, 3, 4]


async def test_stack_previews_wait_for_the_view_in_progress(clinician, phantom_slices):
    s0, s1, s2 = phantom_slices
    viewer = await Viewer.open(clinician)
    await viewer.send(**view(3, s0.instance, quality="diagnostic"))
    await viewer.send(**previews(4, [[s1.instance, 0], [s2.instance, 0]]))
    messages = await viewer.until_done(3)
    messages += [await viewer.receive() for _ in range(2)]
    await viewer.close()
    kinds = [(m.type, m.request) for m in messages]
    done = kinds.index(("done", 3))
    # The view's own pixels first; the stack's previews only after its done.
    assert [k for k in kinds if k[1] == 4] == [("prefetch", 4), ("prefetch", 4)]
    assert all(k[1] != 4 for k in kinds[:done])


def test_the_preview_directory_stays_within_its_byte_bound_dropping_the_least_recently_used(
    tmp_path,
):
    from studies.streaming.previews import Bitmap, PreviewStore

    directory = tmp_path / "bounded"
    # 1508 bytes a file: the 7th passes 10 000, and pruning keeps 5 (80 %).
    store = PreviewStore(directory, memory_bytes=1, disk_bytes=10_000)
    picture = Bitmap(b"j" * 1500, 64, 64)
    for frame in range(4):
        store.put(Path("kept.dcm"), frame, picture)
    used_again = store._file(Path("kept.dcm"), 0)
    os.utime(used_again, (1, 1))  # the oldest on disk ...
    assert store.get(Path("kept.dcm"), 0) is not None  # ... until a disk hit uses it again
    for frame in range(3):
        store.put(Path("later.dcm"), frame, picture)

    assert used_again.exists()
    assert not store._file(Path("kept.dcm"), 1).exists()
    for frame in range(3, 40):
        store.put(Path("later.dcm"), frame, picture)
    on_disk = list(directory.glob("*/*.dvp"))
    assert sum(file.stat().st_size for file in on_disk) <= 10_000
    assert store._file(Path("later.dcm"), 39) in on_disk
