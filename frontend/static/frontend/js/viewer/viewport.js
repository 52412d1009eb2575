/**
 * One viewport: a canvas that composes the server's bitmaps by their image rectangles with
 * its own view transform, the corner overlays and orientation markers, a stack slider, the
 * measurement layer, and the pointer interactions (tools, wheel, pinch).
 *
 * The viewport never talks to the socket: it asks its host (the Viewer) for pixels, frame
 * information and measurements, and the host hands it what arrives.
 * @module viewer/viewport
 */

import { AnnotationLayer } from './annotation-layer.js';
import { LayerStack, displayKey } from './layer-stack.js';
import { isComplete, isMeasureTool, POINTS_NEEDED } from './measurement-geometry.js';
import { orientationMarkers } from './orientation.js';
import { overlayText } from './overlay-text.js';
import { dragSteps, pinchStep } from './pinch.js';
import { renderKey, renderSettings } from './request-ledger.js';
import { ViewTransform } from './view-transform.js';
import { dragSensitivity, dragWindow, startingWindow } from './window-presets.js';
import { applyTable, effectiveVoi, remapTable } from './window-remap.js';

/** Where the series browser puts the Series Instance UID of a dragged series. */
export const SERIES_DRAG_TYPE = 'application/x-dicom-series';

/** Pan and zoom redraw at once but ask for new tiles only when the view rests this long. */
const REGION_DEBOUNCE_MS = 120;
/** Frame information is asked for once the stack rests this long (not for every slice of
 * a fast scroll or a cine loop: the server decodes the frame to answer). */
const FRAME_INFO_DEBOUNCE_MS = 150;
/** The protocol's largest `scale` (PROTOCOL.md limits); beyond it the server sends full
 * resolution anyway and the browser magnifies. */
const MAX_SCALE = 64;
/** Wheel delta (pixels) that counts as one image. */
const WHEEL_STEP = 100;
/** While the reader scrolls through previews the browser holds, the sharp image is asked
 * for only once the stack rests this long (latest wins): the wheel never waits on the
 * server. */
const SCROLL_REST_MS = 120;
/** Longest side of the picture re-mapped in the browser during a window change. */
const REMAP_SIDE = 1024;

/**
 * @typedef {object} ViewportHost
 * @property {any} study
 * @property {string} tool
 * @property {(viewport: Viewport) => void} activate
 * @property {(viewport: Viewport, params: any) => void} requestPixels
 * @property {(viewport: Viewport) => void} cancelPixels
 * @property {(instance: string, frame: number) => Promise<any>} frameInfo
 * @property {(key: string) => ({bitmap: any, rect: [number, number, number, number]} | undefined)} cachedPreview
 * @property {(stack: import('./image-stack.js').ImageStack, renderKey: string) => number} cachedCount
 * @property {(instance: string, frame: number) => import('./annotation-layer.js').Measurement[]} measurementsFor
 * @property {(viewport: Viewport, tool: any, points: Array<[number, number]>) => void} addMeasurement
 * @property {(viewport: Viewport) => void} stackChanged
 * @property {(viewport: Viewport) => void} viewChanged
 * @property {(viewport: Viewport, seriesUid: string) => void} dropSeries
 * @property {(viewport: Viewport) => void} toggleMaximise
 */

export class Viewport {
  #index;
  /** @type {ViewportHost} */
  #host;
  /** @type {HTMLElement} */
  #root;
  /** @type {HTMLCanvasElement} */
  #canvas;
  /** @type {CanvasRenderingContext2D} */
  #ctx;
  #annotations;
  /** @type {Record<string, HTMLElement>} */
  #corners = {};
  /** @type {Record<string, HTMLElement>} */
  #markers = {};
  /** @type {HTMLElement} */
  #message;
  /** @type {HTMLElement} */
  #empty;
  /** @type {HTMLElement} */
  #progress;
  /** @type {HTMLElement} */
  #cacheBar;
  /** @type {HTMLInputElement} */
  #slider;

  /** @type {import('./image-stack.js').ImageStack | null} */
  #stack = null;
  /** @type {ViewTransform | null} */
  #transform = null;
  #layers = new LayerStack();
  /** @type {[number, number] | null} */
  #window = null;
  #voi = 0;
  #windowLabel = 'Default';
  #invert = false;
  /** @type {any} */
  #frameInfo = null;
  /** @type {import('./annotation-layer.js').ReferenceLine[]} */
  #referenceLines = [];
  /** @type {{tool: any, points: Array<[number, number]>, awaitingThird?: boolean} | null} */
  #drawing = null;
  #loading = false;
  #error = '';

  #drawQueued = false;
  #pixelsQueued = false;
  /** @type {any} */
  #restTimer = null;
  /** @type {Record<string, string>} what each corner shows, to touch the DOM only on change */
  #cornerText = {};
  /** @type {any} */
  #regionTimer = null;
  #cssWidth = 0;
  #cssHeight = 0;
  /** Bumped whenever a picture is added: the re-map snapshot knows when it is out of date. */
  #layerVersion = 0;
  /** @type {any} the pictures on show, read back once for re-mapping (window-remap.js) */
  #snapshot = null;

  /** @type {Map<number, [number, number]>} */
  #pointers = new Map();
  /** @type {any} */
  #gesture = null;
  #wheelRest = 0;
  /** @type {any} */
  #frameInfoTimer = null;

  /**
   * @param {HTMLElement} container  where the viewport's element goes
   * @param {number} index            0-based; the protocol's viewport number
   * @param {ViewportHost} host
   */
  constructor(container, index, host) {
    this.#index = index;
    this.#host = host;
    this.#root = document.createElement('div');
    this.#root.className = 'viewport';
    this.#root.dataset.viewport = String(index);
    this.#root.tabIndex = -1;
    this.#root.setAttribute('role', 'group');
    this.#root.setAttribute('aria-label', `Viewport ${index + 1}`);

    this.#canvas = document.createElement('canvas');
    this.#canvas.className = 'viewport-canvas';
    this.#root.append(this.#canvas);
    // Opaque: every draw starts with a black fill, so no pixel changes, but Chromium's
    // compositor then copies the canvas instead of blending it over the page, and the
    // software path (no GPU) spends about a quarter less of the renderer's main thread
    // and half less of the display compositor's time on each scroll step
    // (tests.bench viewer).
    // Not desynchronized (`desynchronized: true`): that took the canvas copy out of the
    // page's main-thread commit (Chromium trace of the bench's scroll, loaded 2-core machine:
    // Commit 9.9 -> 0.8 ms per frame), but scroll rates did not follow (alternating runs of
    // 10 scrolls each: images drawn/s medians 34 -> 48, 46 -> 39, 46 -> 50), and the DOM
    // overlays could then show a step one frame apart from the image.
    // Nor is a lone preview (a scroll step from memory) copied in at its own 256² and
    // magnified by a CSS transform: the main thread saved the canvas's magnifying raster
    // (LayerTreeHost::DoUpdateLayers 2.8 -> 0.4 ms a frame), but the display compositor's
    // software magnifying cost more (traced uncapped scroll of the bench's 200-slice CT, CPU
    // per presented frame, two runs each: 12.4-13.9 ms, 3.6-4.0 of it the display
    // compositor, vs 17.8-18.7 ms, 9-10; images presented/s, 6 alternating pairs: median 107
    // vs 100).
    this.#ctx = /** @type {CanvasRenderingContext2D} */ (this.#canvas.getContext('2d', { alpha: false }));
    this.#annotations = new AnnotationLayer(this.#root);

    const overlay = div('viewport-overlay');
    for (const corner of ['top-left', 'top-right', 'bottom-left', 'bottom-right']) {
      this.#corners[corner] = div(`corner corner-${corner}`);
      overlay.append(this.#corners[corner]);
    }
    for (const edge of ['top', 'right', 'bottom', 'left']) {
      this.#markers[edge] = div(`marker marker-${edge}`);
      overlay.append(this.#markers[edge]);
    }
    this.#root.append(overlay);

    this.#progress = div('viewport-progress');
    this.#progress.hidden = true;
    this.#progress.setAttribute('role', 'progressbar');
    this.#progress.setAttribute('aria-label', 'Loading image');
    this.#progress.append(div('viewport-progress-bar'));
    this.#root.append(this.#progress);

    this.#message = div('viewport-message');
    this.#message.setAttribute('role', 'alert');
    this.#message.hidden = true;
    this.#root.append(this.#message);

    this.#empty = div('viewport-empty');
    this.#empty.textContent = 'Drop a series here, or pick one from the list';
    this.#root.append(this.#empty);

    const rail = div('viewport-rail');
    this.#slider = document.createElement('input');
    this.#slider.type = 'range';
    this.#slider.className = 'viewport-slider';
    this.#slider.min = '0';
    this.#slider.max = '0';
    this.#slider.step = '1';
    this.#slider.setAttribute('aria-label', `Image in viewport ${index + 1}`);
    this.#slider.disabled = true;
    this.#cacheBar = div('viewport-cachebar');
    this.#cacheBar.title = 'Images ready for fast scrolling';
    rail.append(this.#slider, this.#cacheBar);
    this.#root.append(rail);

    container.append(this.#root);
    this.#listen();
    new ResizeObserver(() => this.#resize()).observe(this.#root);
  }

  // ------------------------------------------------------------------ state

  get index() {
    return this.#index;
  }

  get element() {
    return this.#root;
  }

  get stack() {
    return this.#stack;
  }

  get transform() {
    return this.#transform;
  }

  get frameInfo() {
    return this.#frameInfo;
  }

  get invert() {
    return this.#invert;
  }

  get windowLabel() {
    return this.#windowLabel;
  }

  /** The entry on show, if any. */
  get entry() {
    return this.#stack?.entry;
  }

  /** What the viewport shows now, for judging arriving pixels. */
  get showing() {
    const entry = this.entry;
    if (!entry) return undefined;
    return { instance: entry.instance.uid, frame: entry.frame, renderKey: this.renderKey };
  }

  /** Whether the pictures held show the image on show (whatever their settings). */
  get holdsShowing() {
    const showing = this.showing;
    return Boolean(showing && this.#layers.key?.startsWith(`${showing.instance}/${showing.frame}|`));
  }

  get renderKey() {
    return renderKey({ window: this.#window, voi: this.#voi, invert: this.#invert });
  }

  /** @param {boolean} active */
  set active(active) {
    this.#root.classList.toggle('is-active', active);
  }

  /**
   * Show a series (or nothing). The view and window start fresh.
   * @param {import('./image-stack.js').ImageStack | null} stack
   */
  setStack(stack) {
    this.#host.cancelPixels(this);
    this.#stack = stack;
    this.#layers.clear();
    this.#window = null;
    this.#voi = 0;
    this.#windowLabel = 'Default';
    this.#invert = false;
    this.#frameInfo = null;
    this.#drawing = null;
    this.#referenceLines = [];
    this.#error = '';
    this.#transform = null;
    this.#root.classList.toggle('is-empty', !stack || stack.length === 0);
    this.#root.dataset.series = stack?.series.uid ?? '';
    // The study's first stack arrives in the task that created the viewports, before the
    // ResizeObserver's first report: unmeasured, the first view left only after that report
    // and the pan/zoom debounce (REGION_DEBOUNCE_MS), 150-250 ms after the outline on
    // opening a study. One forced layout per stack instead, only while the size is unknown.
    if (stack && stack.length > 0 && this.#cssWidth < 2) this.#resize();
    if (stack && stack.length > 0) {
      const instance = /** @type {any} */ (stack.entry).instance;
      this.#transform = new ViewTransform({
        imageWidth: instance.columns,
        imageHeight: instance.rows,
        viewWidth: this.#cssWidth || 1,
        viewHeight: this.#cssHeight || 1,
        aspect: aspectOf(instance),
      });
      this.#slider.max = String(stack.length - 1);
      this.#slider.disabled = stack.length < 2;
    } else {
      this.#slider.max = '0';
      this.#slider.disabled = true;
    }
    this.#entryChanged();
  }

  /**
   * The series on show, grown (or shrunk) while it is on show, e.g. by a retrieve: keeps the
   * window, zoom, pan and, when it is still there, the image in view; only the stack and its
   * slider change. A viewport with nothing to keep takes the stack like setStack.
   * @param {import('./image-stack.js').ImageStack} stack  positioned on the image to show
   */
  updateStack(stack) {
    const before = this.entry;
    if (!this.#stack || !this.#transform || !before || stack.length === 0) {
      this.setStack(stack);
      return;
    }
    this.#stack = stack;
    this.#slider.max = String(stack.length - 1);
    this.#slider.disabled = stack.length < 2;
    const after = this.entry;
    if (after && after.instance.uid === before.instance.uid && after.frame === before.frame) {
      this.#slider.value = String(stack.index);
      this.#root.dataset.index = String(stack.index);
      this.#updateOverlay(); // "Im 2/6": the count changed
      return;
    }
    this.#entryChanged();
  }

  /**
   * @param {number} index
   * @returns {boolean} whether the image changed
   */
  scrollTo(index) {
    if (!this.#stack?.setIndex(index)) return false;
    this.#entryChanged(true);
    return true;
  }

  /**
   * @param {number} delta
   * @param {{wrap?: boolean}} [options]
   */
  scrollBy(delta, options) {
    if (!this.#stack?.step(delta, options)) return false;
    this.#entryChanged(true);
    return true;
  }

  /**
   * @param {[number, number] | null} window  null: the file's VOI number `voi`
   * @param {number} [voi]
   * @param {string} [label]
   */
  setWindow(window, voi = 0, label = window ? 'Custom' : 'Default') {
    if (this.#frameInfo?.is_color) return;
    this.#window = window;
    this.#voi = voi;
    this.#windowLabel = label;
    this.#pixelsChanged();
  }

  toggleInvert() {
    this.#invert = !this.#invert;
    this.#pixelsChanged();
  }

  /**
   * Applies a view operation (fit, zoom, rotate...), then redraws.
   * @param {(t: ViewTransform) => void} operation
   */
  changeView(operation) {
    if (!this.#transform) return;
    operation(this.#transform);
    this.#viewMoved();
  }

  /** Back to the fitted, unrotated view and the file's window. */
  reset() {
    if (!this.#transform) return;
    this.#transform.reset();
    this.#window = null;
    this.#voi = 0;
    this.#windowLabel = 'Default';
    this.#invert = false;
    this.#pixelsChanged();
  }

  /** @param {import('./annotation-layer.js').ReferenceLine[]} lines */
  setReferenceLines(lines) {
    // Every scroll step sets them, mostly none after none: no redraw for that.
    if (lines.length === 0 && this.#referenceLines.length === 0) return;
    this.#referenceLines = lines;
    this.#queueDraw();
  }

  /** Redraw measurements (one was added, answered or removed). */
  refreshAnnotations() {
    this.#queueDraw();
  }

  /** Stop drawing a shape. */
  cancelDrawing() {
    if (!this.#drawing) return false;
    this.#drawing = null;
    this.#queueDraw();
    return true;
  }

  /** The tool changed: a half-drawn shape of another tool is abandoned. */
  toolChanged() {
    if (this.#drawing && this.#drawing.tool !== this.#host.tool) this.cancelDrawing();
  }

  // --------------------------------------------------------------- pixels in

  /**
   * A decoded bitmap of this viewport's request arrived.
   * @param {import('./protocol.js').PixelMessage} message
   * @param {any} bitmap  ImageBitmap
   * @param {{instance: string, frame: number, renderKey: string}} issued
   */
  addPixels(message, bitmap, issued) {
    const key = displayKey(issued.instance, issued.frame, issued.renderKey);
    this.#layerVersion += 1;
    this.#layers.add(key, {
      bitmap,
      rect: message.rect,
      kind: /** @type {'preview'|'tile'|'lossless'} */ (message.kind),
      level: message.level,
      shared: message.kind === 'preview',
    });
    if (this.#error) this.#setError('');
    this.#root.classList.add('has-pixels');
    this.#root.dataset.shownInstance = issued.instance;
    this.#root.dataset.shownFrame = String(issued.frame);
    this.#setLoading(false);
    this.#queueDraw();
  }

  /** The request finished (`done`). */
  finished() {
    this.#setLoading(false);
    const mark = () => {
      this.#root.dataset.loaded = this.showing ? displayKey(this.showing.instance, this.showing.frame, this.showing.renderKey) : '';
    };
    // "Loaded" once on the canvas: after the frame that draws the newest pixels (queued by
    // addPixels; animation frame callbacks run in the order they were asked for).
    if (this.#drawQueued) requestAnimationFrame(mark);
    else mark();
  }

  /**
   * The server could not produce this viewport's image.
   * @param {string} code
   * @param {string} message
   */
  failed(code, message) {
    // An image that cannot be decoded or no longer exists must not stay on screen as if it
    // were this one; other failures (a request the server refused) keep the picture.
    if (code === 'decode_error' || code === 'not_found') this.#layers.clear();
    this.#setLoading(false);
    this.#setError(`This image cannot be shown: ${message} (${code})`);
    this.#queueDraw();
  }

  /** The cache of the viewer gained or lost previews. */
  updateCacheBar() {
    if (!this.#stack || this.#stack.length === 0) {
      this.#cacheBar.style.setProperty('--cached', '0');
      return;
    }
    const share = this.#host.cachedCount(this.#stack, this.renderKey) / this.#stack.length;
    this.#cacheBar.style.setProperty('--cached', share.toFixed(3));
  }

  /** Ask again for the current image (after a reconnect). */
  resume() {
    const entry = this.entry;
    if (entry && !this.#frameInfo) this.#loadFrameInfo(entry.instance.uid, entry.frame);
    if (entry) {
      this.#setLoading(true);
      this.#queuePixels();
    }
  }

  // ---------------------------------------------------------------- internals

  /** @param {boolean} [scrolled]  a step through the stack (not a new stack) */
  #entryChanged(scrolled = false) {
    const entry = this.entry;
    this.#drawing = null;
    if (entry && this.#transform) {
      this.#transform.setImage(entry.instance.columns, entry.instance.rows, aspectOf(entry.instance));
      this.#slider.value = String(/** @type {any} */ (this.#stack).index);
      clearTimeout(this.#frameInfoTimer);
      const { uid } = entry.instance;
      if (this.#frameInfo === null) this.#loadFrameInfo(uid, entry.frame);
      else this.#frameInfoTimer = setTimeout(() => this.#loadFrameInfo(uid, entry.frame), FRAME_INFO_DEBOUNCE_MS);
    }
    this.#root.dataset.index = String(this.#stack?.index ?? '');
    this.#pixelsChanged(scrolled);
    this.#host.stackChanged(this);
  }

  /**
   * @param {string} instance
   * @param {number} frame
   */
  #loadFrameInfo(instance, frame) {
    this.#host.frameInfo(instance, frame).then(
      (info) => {
        const entry = this.entry;
        if (!entry || entry.instance.uid !== instance || entry.frame !== frame) return;
        this.#frameInfo = info;
        this.#updateOverlay();
        this.#host.viewChanged(this);
      },
      () => {
        // The view request reports the failure in the viewport; nothing more to say here.
      },
    );
  }

  /**
   * Something that changes the pixels (image, window, invert) changed.
   * @param {boolean} [scrolled]  only the image changed (a step through the stack)
   */
  #pixelsChanged(scrolled = false) {
    delete this.#root.dataset.loaded;
    let drawn = false;
    const showing = this.showing;
    if (showing) {
      const key = displayKey(showing.instance, showing.frame, showing.renderKey);
      let fromMemory = false;
      if (this.#layers.key !== key) {
        const cached = this.#host.cachedPreview(key);
        if (cached) {
          this.#layers.add(key, { bitmap: cached.bitmap, rect: cached.rect, kind: 'preview', level: 99, shared: true });
          this.#setError('');
          fromMemory = true;
        }
      }
      this.#setLoading(true);
      clearTimeout(this.#restTimer);
      if (scrolled && fromMemory) {
        // Drawn in this very event from memory; the sharp image once the scrolling rests.
        this.#drawNow();
        drawn = true;
        this.#restTimer = setTimeout(() => this.#queuePixels(), SCROLL_REST_MS);
      } else {
        this.#queuePixels();
      }
    } else {
      this.#host.cancelPixels(this);
      this.#layers.clear();
      this.#setLoading(false);
    }
    this.#updateOverlay();
    // A step through the stack keeps the stack and its settings: the share of it in memory
    // is the same (and counting it walked the whole stack on every step).
    if (!scrolled) this.updateCacheBar();
    // Not drawn twice: the overlay and the cache bar are DOM, not the canvas.
    if (!drawn) this.#queueDraw();
    this.#host.viewChanged(this);
  }

  /** Pan, zoom, rotation or flip: redraw now, new tiles when the view rests. */
  #viewMoved() {
    this.#updateOverlay();
    this.#queueDraw();
    clearTimeout(this.#regionTimer);
    this.#regionTimer = setTimeout(() => this.#queuePixels(), REGION_DEBOUNCE_MS);
    this.#host.viewChanged(this);
  }

  #queuePixels() {
    if (this.#pixelsQueued) return;
    this.#pixelsQueued = true;
    requestAnimationFrame(() => {
      this.#pixelsQueued = false;
      this.#sendView();
    });
  }

  #sendView() {
    const entry = this.entry;
    const transform = this.#transform;
    if (!entry || !transform || this.#cssWidth < 2 || this.#cssHeight < 2) return;
    const region = transform.visibleRegion();
    if (!region) return; // panned off the image: nothing to ask for
    this.#host.requestPixels(this, {
      instance: entry.instance.uid,
      frame: entry.frame,
      region,
      scale: Math.min(MAX_SCALE, transform.requestScale(window.devicePixelRatio || 1)),
      window: this.#window,
      voi: this.#voi,
      invert: this.#invert,
      renderKey: this.renderKey,
    });
  }

  #resize() {
    const rect = this.#root.getBoundingClientRect();
    if (rect.width < 1 || rect.height < 1) return; // hidden by the layout
    const dpr = window.devicePixelRatio || 1;
    this.#cssWidth = rect.width;
    this.#cssHeight = rect.height;
    this.#canvas.width = Math.round(rect.width * dpr);
    this.#canvas.height = Math.round(rect.height * dpr);
    if (this.#transform) {
      this.#transform.resize(rect.width, rect.height);
      this.#viewMoved();
    }
    this.#draw();
  }

  #queueDraw() {
    if (this.#drawQueued) return;
    this.#drawQueued = true;
    requestAnimationFrame(() => {
      if (!this.#drawQueued) return; // drawn already (drawNow)
      this.#drawQueued = false;
      this.#draw();
    });
  }

  /** Draw at once (a scroll step from memory), instead of a frame later. */
  #drawNow() {
    this.#drawQueued = false;
    this.#draw();
  }

  #draw() {
    const ctx = this.#ctx;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, this.#canvas.width, this.#canvas.height);
    const transform = this.#transform;
    if (!transform) {
      this.#annotations.clear();
      return;
    }
    const [a, b, c, d, e, f] = transform.matrix;
    ctx.setTransform(a * dpr, b * dpr, c * dpr, d * dpr, e * dpr, f * dpr);
    ctx.imageSmoothingEnabled = true;
    const remapped = this.#remapped();
    // Bicubic smoothing costs a software canvas tens of ms per frame: kept for the sharp
    // pictures at rest; previews and re-mapped pictures (scrolling, window drags, a frame
    // each) are magnified bilinearly.
    ctx.imageSmoothingQuality = !remapped && this.#layers.layers.some((l) => l.kind !== 'preview') ? 'high' : 'low';
    if (remapped) {
      ctx.drawImage(remapped.canvas, 0, 0, remapped.imageWidth, remapped.imageHeight);
    } else {
      for (const layer of this.#layers.layers) {
        const [x, y, w, h] = layer.rect;
        try {
          ctx.drawImage(layer.bitmap, x, y, w, h);
        } catch {
          // A bitmap closed under us (evicted): the next one covers it.
        }
      }
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    const entry = this.entry;
    this.#annotations.render(transform, {
      measurements: entry ? this.#host.measurementsFor(entry.instance.uid, entry.frame) : [],
      drawing: this.#drawing,
      referenceLines: this.#referenceLines,
      spacing: this.#spacing(),
    });
    this.#updateMarkers();
  }

  /**
   * While the window changes, the pictures on show (rendered with an older window) re-mapped
   * to the current window in the browser, until the server's own rendering is as sharp
   * (window-remap.js). Null when the pictures already show the current settings, or they
   * cannot be re-mapped (VOI LUT, colour, no frame information yet).
   * @returns {{canvas: HTMLCanvasElement, imageWidth: number, imageHeight: number} | null}
   */
  #remapped() {
    const showing = this.showing;
    const layersKey = this.#layers.key;
    if (!showing || !layersKey || typeof document === 'undefined') return null;
    const image = `${showing.instance}/${showing.frame}|`;
    const wanted = displayKey(showing.instance, showing.frame, showing.renderKey);
    const layers = this.#layers.layers;
    const finest = Math.min(...layers.map((l) => l.level));
    let snapshot = this.#snapshot;
    if (snapshot && !snapshot.key.startsWith(image)) snapshot = this.#snapshot = null;
    if (layersKey === wanted && (!snapshot || finest <= snapshot.finest)) return null;
    if (!layersKey.startsWith(image)) return null;
    // Read the pictures back when they are newer and at least as sharp as the snapshot.
    if (!snapshot || (snapshot.version !== this.#layerVersion && finest <= snapshot.finest && layersKey !== wanted)) {
      snapshot = this.#snapshot = this.#takeSnapshot(layersKey, layers, finest) ?? snapshot;
    }
    if (!snapshot) return null;
    const to = effectiveVoi(this.#settings(), this.#frameInfo);
    if (!to || !snapshot.from) return null;
    const target = JSON.stringify(to);
    if (snapshot.shown !== target) {
      applyTable(snapshot.source.data, snapshot.output.data, remapTable(snapshot.from, to));
      snapshot.canvas.getContext('2d').putImageData(snapshot.output, 0, 0);
      snapshot.shown = target;
    }
    return snapshot;
  }

  /**
   * @param {string} key
   * @param {import('./layer-stack.js').Layer[]} layers
   * @param {number} finest
   */
  #takeSnapshot(key, layers, finest) {
    const settings = renderSettings(key.slice(key.indexOf('|') + 1));
    const entry = this.entry;
    if (!settings || !entry) return null;
    const from = effectiveVoi(settings, this.#frameInfo);
    if (!from) return null;
    const imageWidth = entry.instance.columns;
    const imageHeight = entry.instance.rows;
    const shrink = Math.min(1, REMAP_SIDE / Math.max(imageWidth, imageHeight));
    const width = Math.max(1, Math.round(imageWidth * shrink));
    const height = Math.max(1, Math.round(imageHeight * shrink));
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { willReadFrequently: true }));
    ctx.setTransform(width / imageWidth, 0, 0, height / imageHeight, 0, 0);
    for (const layer of layers) {
      const [x, y, w, h] = layer.rect;
      try {
        ctx.drawImage(/** @type {any} */ (layer.bitmap), x, y, w, h);
      } catch {
        return null;
      }
    }
    const source = ctx.getImageData(0, 0, width, height);
    return {
      key,
      version: this.#layerVersion,
      finest,
      from,
      canvas,
      source,
      output: new ImageData(width, height),
      shown: '',
      imageWidth,
      imageHeight,
    };
  }

  #settings() {
    return { window: this.#window, voi: this.#voi, invert: this.#invert };
  }

  /** @returns {[number, number] | null} the frame's pixel spacing [row, column] in mm */
  #spacing() {
    const spacing = this.#frameInfo?.pixel_spacing;
    if (spacing && spacing.row_mm > 0 && spacing.column_mm > 0) return [spacing.row_mm, spacing.column_mm];
    const fromStudy = this.entry?.instance.pixel_spacing;
    return Array.isArray(fromStudy) && fromStudy.length === 2 ? [fromStudy[0], fromStudy[1]] : null;
  }

  #updateOverlay() {
    const entry = this.entry;
    const stack = this.#stack;
    if (!entry || !stack || !this.#transform) {
      for (const corner of Object.values(this.#corners)) corner.replaceChildren();
      this.#cornerText = {};
      this.#updateMarkers();
      return;
    }
    const shownWindow = this.#window ?? this.#defaultWindow();
    const text = overlayText({
      study: this.#host.study,
      series: stack.series,
      instance: entry.instance,
      frame: entry.frame,
      position: stack.index,
      stackLength: stack.length,
      window: this.#frameInfo?.is_color ? null : shownWindow,
      windowLabel: this.#frameInfo?.is_color ? '' : this.#windowLabel,
      invert: this.#invert,
      zoom: this.#transform.zoom,
      rotation: this.#transform.rotation,
      flip: this.#transform.flip,
      unit: this.#frameInfo?.unit || '',
    });
    this.#fillCorner('top-left', text.topLeft);
    this.#fillCorner('top-right', text.topRight);
    this.#fillCorner('bottom-left', text.bottomLeft);
    this.#fillCorner('bottom-right', text.bottomRight);
  }

  /**
   * @param {string} corner
   * @param {string[]} lines
   */
  #fillCorner(corner, lines) {
    const joined = lines.join('\n');
    if (this.#cornerText[corner] === joined) return; // a scroll step changes one or two lines
    this.#cornerText[corner] = joined;
    fillLines(this.#corners[corner], lines);
  }

  /** @returns {[number, number] | null} */
  #defaultWindow() {
    const info = this.#frameInfo;
    if (!info) return null;
    if (this.#voi === 0) return info.default_window ?? null;
    const voi = info.vois?.[this.#voi];
    return voi && voi.kind === 'window' ? [voi.center, voi.width] : null;
  }

  #updateMarkers() {
    const entry = this.entry;
    const markers = entry && this.#transform
      ? orientationMarkers(entry.instance.orientation, this.#transform)
      : { top: '', right: '', bottom: '', left: '' };
    for (const [edge, label] of Object.entries(markers)) {
      if (this.#markers[edge].textContent !== label) this.#markers[edge].textContent = label;
    }
  }

  /** @param {boolean} loading */
  #setLoading(loading) {
    this.#loading = loading;
    this.#progress.hidden = !loading;
    this.#root.classList.toggle('is-loading', loading);
  }

  /** @param {string} text */
  #setError(text) {
    this.#error = text;
    this.#message.textContent = text;
    this.#message.hidden = !text;
    this.#root.classList.toggle('has-error', Boolean(text));
  }

  // ------------------------------------------------------------- interaction

  #listen() {
    const root = this.#root;
    root.addEventListener('pointerdown', (e) => this.#pointerDown(e));
    root.addEventListener('pointermove', (e) => this.#pointerMove(e));
    root.addEventListener('pointerup', (e) => this.#pointerUp(e));
    root.addEventListener('pointercancel', (e) => this.#pointerUp(e, true));
    root.addEventListener('wheel', (e) => this.#wheel(e), { passive: false });
    root.addEventListener('contextmenu', (e) => e.preventDefault());
    root.addEventListener('dblclick', (e) => {
      if (e.target === this.#slider) return;
      this.#host.toggleMaximise(this);
    });
    this.#slider.addEventListener('input', () => this.scrollTo(Number(this.#slider.value)));
    this.#slider.addEventListener('pointerdown', (e) => {
      e.stopPropagation();
      this.#host.activate(this);
    });
    root.addEventListener('dragover', (e) => {
      if (e.dataTransfer?.types.includes(SERIES_DRAG_TYPE)) {
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        root.classList.add('is-drop-target');
      }
    });
    root.addEventListener('dragleave', () => root.classList.remove('is-drop-target'));
    root.addEventListener('drop', (e) => {
      root.classList.remove('is-drop-target');
      const uid = e.dataTransfer?.getData(SERIES_DRAG_TYPE);
      if (uid) {
        e.preventDefault();
        this.#host.dropSeries(this, uid);
      }
    });
  }

  /** @param {PointerEvent} e @returns {[number, number]} */
  #local(e) {
    const rect = this.#root.getBoundingClientRect();
    return [e.clientX - rect.left, e.clientY - rect.top];
  }

  /** @param {PointerEvent} e */
  #pointerDown(e) {
    this.#host.activate(this);
    if (!this.#transform || !this.entry) return;
    e.preventDefault();
    try {
      this.#root.setPointerCapture(e.pointerId);
    } catch {
      // Synthetic or already-released pointers cannot be captured; the gesture still works.
    }
    const point = this.#local(e);
    this.#pointers.set(e.pointerId, point);

    if (this.#pointers.size === 2) {
      // A second finger: whatever the first started becomes a pinch.
      if (this.#drawing && !this.#drawing.awaitingThird) this.#drawing = null;
      this.#gesture = { kind: 'pinch' };
      this.#queueDraw();
      return;
    }
    if (this.#pointers.size > 2) return;

    const tool = e.button === 1 ? 'pan' : e.button === 2 ? 'zoom' : this.#host.tool;
    const image = this.#transform.screenToImage(...point);
    if (isMeasureTool(tool)) {
      if (this.#drawing?.awaitingThird) {
        this.#drawing.points[2] = image;
        this.#gesture = { kind: 'measure' };
        return;
      }
      this.#drawing = { tool, points: tool === 'probe' ? [image] : [image, image] };
      this.#gesture = { kind: 'measure' };
      this.#queueDraw();
      return;
    }
    const start = this.#window ?? startingWindow(this.#frameInfo);
    this.#gesture = {
      kind: tool,
      last: point,
      start: point,
      startWindow: start,
      sensitivity: dragSensitivity(this.#frameInfo, start),
      rest: 0,
    };
  }

  /** @param {PointerEvent} e */
  #pointerMove(e) {
    const point = this.#local(e);
    // A pending angle follows the pointer even with no button down.
    if (this.#drawing?.awaitingThird && this.#pointers.size === 0 && this.#transform) {
      this.#drawing.points[2] = this.#transform.screenToImage(...point);
      this.#queueDraw();
      return;
    }
    if (!this.#pointers.has(e.pointerId) || !this.#transform) return;
    const previous = /** @type {[number, number]} */ (this.#pointers.get(e.pointerId));
    this.#pointers.set(e.pointerId, point);
    const gesture = this.#gesture;
    if (!gesture) return;

    if (gesture.kind === 'pinch') {
      const ids = [...this.#pointers.keys()].slice(0, 2);
      if (ids.length < 2) return;
      const [a1, b1] = ids.map((id) => /** @type {[number, number]} */ (this.#pointers.get(id)));
      const a0 = ids[0] === e.pointerId ? previous : a1;
      const b0 = ids[1] === e.pointerId ? previous : b1;
      const step = pinchStep(a0, b0, a1, b1);
      this.#transform.zoomBy(step.scale, step.anchor[0], step.anchor[1]);
      this.#transform.panBy(step.dx, step.dy);
      this.#viewMoved();
      return;
    }
    if (gesture.kind === 'measure') {
      const drawing = this.#drawing;
      if (!drawing) return;
      const image = this.#transform.screenToImage(...point);
      if (drawing.tool === 'probe') drawing.points[0] = image;
      else if (drawing.awaitingThird) drawing.points[2] = image;
      else drawing.points[1] = image;
      this.#queueDraw();
      return;
    }
    const dx = point[0] - gesture.last[0];
    const dy = point[1] - gesture.last[1];
    gesture.last = point;
    switch (gesture.kind) {
      case 'window': {
        const window = dragWindow(
          gesture.startWindow,
          point[0] - gesture.start[0],
          point[1] - gesture.start[1],
          gesture.sensitivity,
        );
        this.setWindow(window, 0, 'Custom');
        break;
      }
      case 'scroll': {
        const length = this.#stack?.length ?? 1;
        const perImage = Math.min(20, Math.max(3, this.#cssHeight / Math.max(1, length)));
        const { steps, rest } = dragSteps(gesture.rest + dy, perImage);
        gesture.rest = rest;
        if (steps) this.scrollBy(steps);
        break;
      }
      case 'zoom':
        this.#transform.zoomBy(Math.exp(-dy * 0.01), gesture.start[0], gesture.start[1]);
        this.#viewMoved();
        break;
      case 'pan':
        this.#transform.panBy(dx, dy);
        this.#viewMoved();
        break;
      default:
        break;
    }
  }

  /**
   * @param {PointerEvent} e
   * @param {boolean} [cancelled]
   */
  #pointerUp(e, cancelled = false) {
    if (!this.#pointers.has(e.pointerId)) return;
    this.#pointers.delete(e.pointerId);
    const gesture = this.#gesture;
    if (gesture?.kind === 'pinch') {
      // Lifting one finger ends the pinch; the remaining finger does nothing until lifted.
      if (this.#pointers.size === 0) this.#gesture = null;
      return;
    }
    this.#gesture = null;
    if (gesture?.kind !== 'measure' || !this.#drawing) return;
    if (cancelled) {
      this.cancelDrawing();
      return;
    }
    const drawing = this.#drawing;
    if (drawing.tool === 'angle' && !drawing.awaitingThird) {
      if (!isComplete('length', drawing.points)) {
        this.cancelDrawing();
        return;
      }
      // First arm drawn (to the vertex); the third point follows the pointer until a click.
      drawing.awaitingThird = true;
      drawing.points[2] = drawing.points[1];
      this.#queueDraw();
      return;
    }
    const points = drawing.points.slice(0, POINTS_NEEDED[drawing.tool]);
    this.#drawing = null;
    const entry = this.entry;
    if (entry && isComplete(drawing.tool, points)) this.#host.addMeasurement(this, drawing.tool, points);
    this.#queueDraw();
  }

  /** @param {WheelEvent} e */
  #wheel(e) {
    if (!this.#transform || !this.entry) return;
    e.preventDefault();
    this.#host.activate(this);
    if (e.ctrlKey) {
      // Trackpad pinch arrives as a wheel with ctrlKey. Only a zoom needs the pointer's
      // place: measuring the element would force the layout the last step's overlay
      // text dirtied, once per wheel event.
      const [x, y] = this.#local(/** @type {any} */ (e));
      this.#transform.zoomBy(Math.exp(-e.deltaY * 0.01), x, y);
      this.#viewMoved();
      return;
    }
    const pixels = e.deltaMode === 1 ? e.deltaY * 33 : e.deltaMode === 2 ? e.deltaY * 400 : e.deltaY;
    // A mouse notch is about 100 px; a trackpad sends many small deltas that add up.
    const { steps, rest } = dragSteps(this.#wheelRest + pixels, WHEEL_STEP);
    this.#wheelRest = rest;
    if (steps === 0 && Math.abs(pixels) >= WHEEL_STEP / 2) {
      this.#wheelRest = 0;
      this.scrollBy(Math.sign(pixels));
    } else if (steps) {
      this.scrollBy(steps);
    }
  }
}

/**
 * @param {string} className
 */
function div(className) {
  const element = document.createElement('div');
  element.className = className;
  return element;
}

/**
 * @param {HTMLElement} element
 * @param {string[]} lines
 */
function fillLines(element, lines) {
  const nodes = lines.map((line) => {
    const node = document.createElement('div');
    node.textContent = line;
    return node;
  });
  element.replaceChildren(...nodes);
}

/**
 * Row spacing over column spacing (PS3.3 10.7.1.3): how much taller than wide a pixel is.
 * @param {{pixel_spacing?: number[] | null}} instance
 */
function aspectOf(instance) {
  const spacing = instance.pixel_spacing;
  if (Array.isArray(spacing) && spacing[0] > 0 && spacing[1] > 0) {
    const aspect = spacing[0] / spacing[1];
    // Ignore rounding noise; refuse absurd values rather than draw a needle.
    if (Math.abs(aspect - 1) > 1e-3 && aspect > 0.1 && aspect < 10) return aspect;
  }
  return 1;
}
