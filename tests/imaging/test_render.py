"""The public API: encoded output, frame info, the shared renderer, the async wrappers."""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import studies.imaging as imaging
from studies.imaging import Renderer, media_type
from tests.dicom_files import sample_path

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
CT = sample_path("693_UNCR.dcm")


def test_jpeg_output_decodes_to_the_requested_size():
    data = Renderer().render(CT, output_size=(200, 100))
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.mode, image.size) == ("JPEG", "L", (100, 100))


def test_png_output_is_exactly_the_rendered_pixels():
    renderer = Renderer()
    data = renderer.render(sample_path("US1_UNCR.dcm"), format="png")
    decoded = np.asarray(Image.open(io.BytesIO(data)))
    np.testing.assert_array_equal(decoded, renderer.render_pixels(sample_path("US1_UNCR.dcm")))
    assert media_type("png") == "image/png" and media_type("jpg") == "image/jpeg"


def test_jpeg_quality_trades_size_for_fidelity():
    renderer = Renderer()
    assert len(renderer.render(CT, quality=30)) < len(renderer.render(CT, quality=95))


def test_frame_info_tells_a_viewer_what_it_needs():
    info = Renderer().frame_info(CT)
    assert (info.rows, info.columns, info.number_of_frames) == (512, 512, 1)
    assert (info.photometric, info.is_color, info.signed) == ("MONOCHROME2", False, True)
    assert info.default_window == (info.vois[0].center, info.vois[0].width)
    assert info.unit == "HU"
    assert info.levels[0] == (512, 512) and info.levels[-1] == (64, 64)
    assert info.pixel_spacing is not None and info.pixel_spacing.calibrated
    json.dumps(info.as_dict())  # ready for a websocket message


def test_frame_info_of_a_multi_frame_colour_image():
    info = Renderer().frame_info(sample_path("examples_ybr_color.dcm"), 29)
    assert (info.frame, info.number_of_frames, info.is_color) == (29, 30, True)
    assert info.default_window is None and info.vois == ()


def test_module_functions_share_one_configurable_renderer():
    renderer = imaging.configure(cache_bytes=8 * 1024**2, tile_size=512)
    try:
        assert imaging.default_renderer() is renderer
        assert imaging.frame_info(CT).tile_size == 512
        assert imaging.render(CT, window=(40, 400))[:2] == b"\xff\xd8"
        assert imaging.render_tile(CT, 0, 0, 0, 0, format="png")[:4] == b"\x89PNG"
        assert imaging.pixel_value(CT, 0, 10, 10).unit == "HU"
        assert renderer.cache.nbytes > 0
    finally:
        imaging.configure()


def test_a_window_change_on_a_cached_frame_decodes_and_reads_nothing(monkeypatch):
    # Speed is measured by `make bench`; what makes a window change cheap is checked here:
    # no file read, no decode, no new cache entry, only the table lookup and the encode.
    render_module = importlib.import_module("studies.imaging.render")  # not the function

    renderer = Renderer()
    first = renderer.render_pixels(CT)
    work: list[str] = []
    real_load, real_decode = render_module.load_dataset, render_module.decode_frame

    def counted_load(*args, **kwargs):
        work.append("read")
        return real_load(*args, **kwargs)

    def counted_decode(*args, **kwargs):
        work.append("decode")
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(render_module, "load_dataset", counted_load)
    monkeypatch.setattr(render_module, "decode_frame", counted_decode)
    before = renderer.cache.stats()
    windowed = [renderer.render_pixels(CT, window=(center, 400)) for center in (0, 300, 600)]
    after = renderer.cache.stats()

    assert work == []
    assert (after.misses, after.entries) == (before.misses, before.entries)
    assert len({w.tobytes() for w in windowed} | {first.tobytes()}) == 4  # each window shows


def test_a_cold_render_reads_the_file_once_and_a_new_frame_once_more(monkeypatch, tmp_path):
    render_module = importlib.import_module("studies.imaging.render")  # the package's
    # ``render`` attribute is the function of that name
    reads: list[object] = []
    real_load = render_module.load_dataset

    def counted(source, limits):
        reads.append(source)
        return real_load(source, limits)

    monkeypatch.setattr(render_module, "load_dataset", counted)
    path = tmp_path / "multi.dcm"
    path.write_bytes(sample_path("emri_small.dcm").read_bytes())  # 10 frames
    renderer = Renderer()

    renderer.render(path, 0)
    assert len(reads) == 1  # header and frame from one parse
    renderer.render(path, 0, window=(100, 200))
    assert len(reads) == 1  # all cached
    renderer.render(path, 1)
    assert len(reads) == 2  # the header is cached, its pixel data is not kept: read again


def test_async_rendering_with_decode_processes_leaves_the_event_loop_free():
    # The JPEG 2000 codec holds the GIL for the whole decode (about 0.8 s for this 3.6 Mpixel
    # radiograph); decoded in a worker process, the loop keeps ticking meanwhile.
    renderer = Renderer(decode_processes=1)

    async def scenario() -> tuple[bytes, float]:
        await renderer.render_async(sample_path("MR_small_jp2klossless.dcm"))  # start the pool
        longest = 0.0
        done = False

        async def ticker() -> None:
            nonlocal longest
            last = time.perf_counter()
            while not done:
                await asyncio.sleep(0.002)
                now = time.perf_counter()
                longest, last = max(longest, now - last), now

        task = asyncio.create_task(ticker())
        data = await renderer.render_async(sample_path("RG1_J2KR.dcm"), output_size=(256, 256))
        done = True
        await task
        return data, longest

    try:
        data, longest_stall = asyncio.run(scenario())
    finally:
        renderer.close()
    assert Image.open(io.BytesIO(data)).size == (241, 256)
    # Decoded in this process, the loop would stall for the whole decode; compare with the
    # decode's own duration rather than a fixed time, so a busy machine does not fail it.
    started = time.perf_counter()
    Renderer().render(sample_path("RG1_J2KR.dcm"), output_size=(256, 256))
    decode_here = time.perf_counter() - started
    assert longest_stall < decode_here / 3, (longest_stall, decode_here)


def test_the_imaging_package_never_imports_django():
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys, studies.imaging as i; "
        "i.render(sys.argv[1]); "
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(CT)], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_decode_workers_exit_when_their_server_is_killed_outright(tmp_path):
    """SIGKILL (or the OOM killer) never shuts the pool down: the workers notice by themselves."""
    script = (
        "import os, sys, time\n"
        "from studies.imaging.render import Renderer\n"
        "pool = Renderer(decode_processes=2)._decoder_pool()\n"
        "pids = {pool.submit(os.getpid).result() for _ in range(8)}\n"
        "print(' '.join(map(str, pids)), flush=True)\n"
        "time.sleep(60)\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        workers = [int(pid) for pid in server.stdout.readline().split()]
        assert workers and all(_alive(pid) for pid in workers)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A worker that exited but is not reaped yet (its parent is gone: init reaps it) is a zombie.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_display_bands_made_on_two_threads_are_the_rendered_pixels():
    # The viewer's full-resolution tiles: one display (one table), its bands looked up on
    # two threads (Renderer.in_two), must be exactly render_pixels' answer.
    renderer = Renderer()
    window = (40.0, 400.0)
    expected = renderer.render_pixels(CT, 0, window=window, region=(0, 0, 512, 300))
    display = renderer.display(CT, 0, window=window, region=(0, 0, 512, 300))
    top, bottom = renderer.in_two(lambda: display.rows(0, 152), lambda: display.rows(152, 300))
    assert np.array_equal(np.concatenate([top, bottom]), expected)


def test_in_two_raises_the_failure_of_either_half():
    renderer = Renderer()

    def fails() -> int:
        raise ValueError("half")

    assert renderer.in_two(lambda: 1, lambda: 2) == (1, 2)
    with pytest.raises(ValueError, match="half"):
        renderer.in_two(lambda: 1, fails)
    with pytest.raises(ValueError, match="half"):
        renderer.in_two(fails, lambda: 2)
