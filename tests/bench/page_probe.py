"""What a viewer page shows, measured the same way for every viewer: a script injected before
the page's own code watches the biggest canvas after every animation frame.

After each frame (a task queued from ``requestAnimationFrame``, so it runs once that frame's
drawing is done) it reads five rows of the canvas back. "First pixels" is the first frame in
which at least 1 % of those samples are not black, in the biggest canvas or in any other
canvas or loaded ``<img>`` that is rendered and covers at least a tenth of the window (a
page may show its first picture in an element of its own, above the canvas that takes over
later: ours does, frontend/first_preview.py); every frame whose biggest-canvas samples differ
from the previous one counts as one new image on screen. The biggest canvas's own first lit
frame is kept too (a viewer drawing what its socket brought). The same script records when
the page's first WebSocket opened and when an element first got a non-empty ``data-loaded``
attribute (our viewer sets it on a viewport once the server has sent everything for its
view). All times are ``performance.now()``: milliseconds since the navigation started.

While ``marking`` is on (MARKING), each frame's sample also leaves a User Timing mark named
with the canvas hash, so a Chromium trace can tell which of those images reached the screen
(presented_images).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

PROBE_SCRIPT = r"""
(() => {
  if (window.__bench) return;
  const bench = {
    firstPixels: null, canvasPixels: null, socketOpen: null, loaded: null, changes: [], frames: [],
    marking: false,
  };
  window.__bench = bench;
  const NativeSocket = window.WebSocket;
  if (NativeSocket) {
    window.WebSocket = class extends NativeSocket {
      constructor(...args) {
        super(...args);
        this.addEventListener('open', () => {
          if (bench.socketOpen === null) bench.socketOpen = performance.now();
        });
      }
    };
  }
  const ROWS = [0.3, 0.4, 0.5, 0.6, 0.7];
  const FRAME_MARK = 'bench-frame:';
  let lastHash = null;
  function biggestCanvas() {
    let best = null;
    let area = 0;
    for (const canvas of document.getElementsByTagName('canvas')) {
      const size = canvas.width * canvas.height;
      if (size > area) { best = canvas; area = size; }
    }
    return best;
  }
  function rows(ctx, width, height) {
    let hash = 0;
    let lit = 0;
    let total = 0;
    for (const row of ROWS) {
      const data = ctx.getImageData(0, Math.floor(height * row), width, 1).data;
      for (let i = 0; i < data.length; i += 4) {
        const value = data[i] + data[i + 1] + data[i + 2];
        if (value > 30) lit += 1;
        total += 1;
        hash = (Math.imul(hash, 31) + value) | 0;
      }
    }
    return { hash, lit: total > 0 && lit >= total * 0.01 };
  }
  // Before the first pixels: is any other big, rendered canvas or image lit?
  let scratch = null;
  function otherLit(biggest) {
    const least = window.innerWidth * window.innerHeight * 0.1;
    for (const element of document.querySelectorAll('canvas, img')) {
      if (element === biggest) continue;
      const box = element.getBoundingClientRect();
      if (box.width * box.height < least) continue;
      if (!element.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
      if (element.tagName === 'IMG') {
        if (!element.complete || !element.naturalWidth) continue;
        scratch = scratch || document.createElement('canvas');
        scratch.width = Math.max(2, Math.round(box.width));
        scratch.height = Math.max(2, Math.round(box.height));
        const ctx = scratch.getContext('2d', { willReadFrequently: true });
        ctx.fillStyle = '#000';
        ctx.fillRect(0, 0, scratch.width, scratch.height);
        // As the page fits it (object-fit: contain or the element's own box).
        const [nw, nh] = [element.naturalWidth, element.naturalHeight];
        const fit = getComputedStyle(element).objectFit === 'contain'
          ? Math.min(scratch.width / nw, scratch.height / nh) : 0;
        const w = fit ? nw * fit : scratch.width;
        const h = fit ? nh * fit : scratch.height;
        ctx.drawImage(element, (scratch.width - w) / 2, (scratch.height - h) / 2, w, h);
        if (rows(ctx, scratch.width, scratch.height).lit) return true;
      } else if (element.width >= 2 && element.height >= 2) {
        const ctx = element.getContext('2d');
        if (ctx && rows(ctx, element.width, element.height).lit) return true;
      }
    }
    return false;
  }
  function sample() {
    const now = performance.now();
    bench.frames.push(now);
    const canvas = biggestCanvas();
    if (bench.firstPixels === null && otherLit(canvas)) bench.firstPixels = now;
    if (!canvas || canvas.width < 2 || canvas.height < 2) return;
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    const { hash, lit } = rows(ctx, canvas.width, canvas.height);
    if (bench.firstPixels === null && lit) bench.firstPixels = now;
    if (bench.canvasPixels === null && lit) bench.canvasPixels = now;
    if (bench.firstPixels !== null && hash !== lastHash) bench.changes.push(now);
    lastHash = hash;
    // For a trace (presented_images): which frame showed which image.
    if (bench.marking) performance.mark(FRAME_MARK + hash);
  }
  const tick = () => {
    setTimeout(sample, 0);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  new MutationObserver(() => {
    if (bench.loaded === null && document.querySelector('[data-loaded]:not([data-loaded=""])')) {
      bench.loaded = performance.now();
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-loaded'] });
})();
"""

# One wheel step per animation frame, from inside the page: input as fast as a 60 Hz display
# would want it, without a round trip to the driver per step. Both the standard ``wheel``
# event (ours) and the legacy ``mousewheel`` one (Orthanc's jQuery handler reads its
# ``wheelDelta``); each viewer listens to one of them and moves one slice per event.
SCROLL_SCRIPT = r"""
([x, y, slices, duration]) => new Promise((resolve) => {
  const target = document.elementFromPoint(x, y);
  let position = 0;
  let step = 1;
  let events = 0;
  // The window runs from the first step's frame to the frame after the last step, by the
  // frames' own times (the animation frame's timestamp, on the display's clock): each step's
  // image is sampled just after its frame, inside the window. Opened before the first frame
  // and closed by performance.now() in the last callback (as it was), the window also held
  // the wait for the first frame and the last callback's lateness: a scroll that missed no
  // frame read 59.3-59.9 images/s at 60 Hz instead of 60.
  let start = null;
  const frame = (now) => {
    if (start === null) start = now;
    if (now - start >= duration) {
      resolve({ start, end: now, events });
      return;
    }
    if (position + step < 0 || position + step >= slices) step = -step;
    position += step;
    events += 1;
    const init = {
      deltaY: 100 * step, wheelDeltaY: -120 * step, clientX: x, clientY: y,
      bubbles: true, cancelable: true, composed: true, view: window,
    };
    target.dispatchEvent(new WheelEvent('wheel', init));
    target.dispatchEvent(new WheelEvent('mousewheel', init));
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})
"""

FIRST_PIXELS = "() => window.__bench && window.__bench.firstPixels !== null"
LOADED = "() => window.__bench && window.__bench.loaded !== null"
NOW = "() => performance.now()"


@dataclass(frozen=True)
class Snapshot:
    first_pixels: float | None
    canvas_pixels: float | None  # the biggest canvas's first lit frame
    socket_open: float | None
    loaded: float | None
    changes: list[float]
    frames: list[float]

    def changes_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.changes if start < t <= end)

    def frames_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.frames if start < t <= end)

    def last_change(self) -> float | None:
        return self.changes[-1] if self.changes else None


def snapshot(page) -> Snapshot:
    data = page.evaluate(
        "() => ({...window.__bench, changes: [...window.__bench.changes],"
        " frames: [...window.__bench.frames]})"
    )
    return Snapshot(
        first_pixels=data["firstPixels"],
        canvas_pixels=data["canvasPixels"],
        socket_open=data["socketOpen"],
        loaded=data["loaded"],
        changes=list(data["changes"]),
        frames=list(data["frames"]),
    )


# --- what was presented (a Chromium trace) ----------------------------------------------------

# The trace categories presented_images reads: the compositor's frame events (each main-thread
# frame's BeginMainThreadFrame and the PipelineReporter that says what became of each frame)
# and the page's own User Timing marks.
TRACE_CATEGORIES = ["disabled-by-default-devtools.timeline.frame", "blink.user_timing"]
FRAME_MARK = "bench-frame:"
MARKING = "(on) => { window.__bench.marking = on; if (!on) performance.clearMarks(); }"


@dataclass(frozen=True)
class Presented:
    images: int  # presented frames showing a canvas image other than the last presented one
    frames: int  # main-thread frames whose updates were presented
    sampled: int  # frames sampled in the window
    unknown: int  # sampled frames the trace says nothing about (counted as not presented)


def presented_images(events: list[dict], start: float, end: float) -> Presented:
    """Distinct canvas images the display really showed between ``start`` and ``end``
    (``performance.now()`` of the page), from a trace recorded with TRACE_CATEGORIES while
    the probe was marking (MARKING).

    After every animation frame the probe marks the hash of the biggest canvas: what that
    frame committed. The trace then follows each frame as Chromium's DevTools do: the mark
    falls in the main-thread frame of the last BeginMainThreadFrame before it; that frame's
    commit is activated on the compositor thread (ActivateLayerTree, same ``frameId``); the
    compositor frames drawn from then until the next activation (DrawFrame, ``frameSeqId``)
    carry its pixels, and the compositor's PipelineReporter of each says whether it reached
    the screen (STATE_PRESENTED_*) or was dropped (a newer frame replaced it before the
    display compositor drew). A frame is presented when one of its compositor frames was;
    a presented frame counts as an image when its hash differs from the previous presented
    frame's. An image drawn in a frame that never reached the screen counts for nothing."""
    marks = sorted(
        (event["ts"], event["pid"], event["tid"], event["args"]["data"]["startTime"], event["name"])
        for event in events
        if event.get("cat") == "blink.user_timing" and event.get("name", "").startswith(FRAME_MARK)
    )
    if not marks:
        return Presented(0, 0, 0, 0)
    pid, tid = marks[-1][1], marks[-1][2]
    ours = [event for event in events if event.get("pid") == pid]
    begins = sorted(
        (event["ts"], event["args"]["data"]["frameId"])
        for event in ours
        if event.get("name") == "BeginMainThreadFrame" and event.get("tid") == tid
    )
    activations = sorted(
        (event["ts"], event["args"]["frameId"])
        for event in ours
        if event.get("name") == "ActivateLayerTree"
    )
    draws = sorted(
        (event["ts"], event["args"]["frameSeqId"])
        for event in ours
        if event.get("name") == "DrawFrame"
    )
    presented_draws: set[int] = set()
    for event in ours:
        if event.get("name") == "PipelineReporter" and event.get("ph") == "b":
            reporter = event.get("args", {}).get("frame_reporter", {})
            if str(reporter.get("state", "")).startswith("STATE_PRESENTED"):
                presented_draws.add(reporter.get("frame_sequence"))
    # Each main-thread frame's pixels are on the compositor from its activation to the next.
    shown_frames: set[int] = set()
    activated: set[int] = set()
    draw_times = [ts for ts, _ in draws]
    for index, (ts, frame_id) in enumerate(activations):
        activated.add(frame_id)
        until = activations[index + 1][0] if index + 1 < len(activations) else float("inf")
        first = bisect_right(draw_times, ts)
        for draw_ts, sequence in draws[first:]:
            if draw_ts >= until:
                break
            if sequence in presented_draws:
                shown_frames.add(frame_id)
                break
    begin_times = [ts for ts, _ in begins]
    last_activation = activations[-1][0] if activations else 0
    images = frames = sampled = unknown = 0
    shown = None  # the hash of the last presented frame
    seen: set[int] = set()
    for ts, mark_pid, mark_tid, at, name in marks:
        if (mark_pid, mark_tid) != (pid, tid):
            continue
        index = bisect_right(begin_times, ts) - 1
        if index < 0:
            continue
        frame_id = begins[index][1]
        if frame_id in seen:  # a second sample of one frame: the first one stands
            continue
        seen.add(frame_id)
        inside = start < at <= end
        if inside:
            sampled += 1
            if frame_id not in activated and ts > last_activation:
                unknown += 1  # the trace ended before its activation
        if frame_id not in shown_frames:
            continue
        image = name[len(FRAME_MARK) :]
        if inside:
            frames += 1
            if image != shown:
                images += 1
        shown = image
    return Presented(images, frames, sampled, unknown)
