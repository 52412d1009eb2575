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
"""

from __future__ import annotations

from dataclasses import dataclass

PROBE_SCRIPT = r"""
(() => {
  if (window.__bench) return;
  const bench = {
    firstPixels: null, canvasPixels: null, socketOpen: null, loaded: null, changes: [], frames: [],
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
  const start = performance.now();
  const frame = () => {
    const now = performance.now();
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
