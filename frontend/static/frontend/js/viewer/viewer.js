/**
 * The viewer: one socket, one study, up to four viewports. It routes the protocol's messages
 * to the viewports, keeps the shared state (tool, layout, synchronised scrolling, reference
 * lines, measurements, preview cache), and turns buttons, keys and drops into actions.
 * @module viewer/viewer
 */

import { Coalescer } from './coalesce.js';
import { Cine } from './cine.js';
import { ImageStack, syncedIndex } from './image-stack.js';
import { SHORTCUTS, actionForKey } from './keymap.js';
import { displayKey } from './layer-stack.js';
import { Layout } from './layout.js';
import { protocolShape } from './measurement-geometry.js';
import { PendingCalls } from './pending-calls.js';
import { PreviewCache } from './preview-cache.js';
import {
  cancelMessage,
  decodePixelMessage,
  frameInfoMessage,
  measureMessage,
  openStudyMessage,
  previewsMessage,
  viewMessage,
} from './protocol.js';
import { RequestLedger, renderKey } from './request-ledger.js';
import { SeriesBrowser } from './series-browser.js';
import { SettingsMotion } from './settings-motion.js';
import { ViewerSocket } from './socket.js';
import { Toolbar } from './toolbar.js';
import { ViewPacer } from './view-pacer.js';
import { viewQuality } from './view-quality.js';
import { Viewport } from './viewport.js';
import { windowChoices } from './window-presets.js';

const VIEWPORTS = 4;
/** Previews kept for scrolling: 384 of 256² (PROTOCOL.md `previews`: memory per stack). */
const PREVIEW_ENTRIES = 480;
const PREVIEW_BYTES = 96 * 1024 * 1024;
const STACK_PREVIEWS = 384;
/** A window drag changes the settings many times a second: the stack's previews with the
 * new settings are asked for once they rest this long. */
const SETTINGS_REST_MS = 400;
const PREFETCH = 12;
/** While a window drag moves the settings, the server renders the newest view this often (and
 * once more when the drag ends). A view per move halved the moves a loaded 2-core machine
 * could show: the server's render and the browser's decode of each took the cores the drag
 * needed (interleaved A/B, 4 drags of 2 s: 13.8 updates/s with a view per move, 23.6 with
 * none during the drag; Orthanc 23.5). */
const MOVING_VIEW_MS = 250;
const CINE_PREFETCH = 24;
/** Longest that prefetched previews wait for a diagnostic view's lossless image (below). */
const HOLD_PREFETCH_MS = 1000;
/** A viewport whose image changed this recently is scrolling: it asks for more neighbours. */
const SCROLLING_MS = 500;
const TOOLS = new Set(['window', 'scroll', 'zoom', 'pan', 'length', 'angle', 'ellipse', 'rectangle', 'probe']);

/**
 * @typedef {object} ViewerOptions
 * @property {string} studyUid
 * @property {string} socketUrl                            ws(s)://host/ws/viewer/
 * @property {(seriesUid: string) => string} thumbnailUrl
 * @property {string} [initialSeries]                     shown first in viewport 1
 * @property {import('./boot.js').EarlySocket | null} [early]  the socket boot.js opened
 */

/** What makes two view requests the same (a repeat is not sent). @param {any} params */
function viewSignature(params) {
  return JSON.stringify([params.instance, params.frame, params.region, params.scale.toFixed(4), params.renderKey]);
}

export class Viewer {
  /** @type {HTMLElement} */
  #root;
  #studyUid;
  #initialSeries;
  #ledger = new RequestLedger();
  #calls = new PendingCalls();
  #pacer = new ViewPacer();
  /** @type {Map<number, {image: string, at: number, stack: ImageStack | null}>} */
  #lastImage = new Map();
  #settingsMotion = new SettingsMotion(SETTINGS_REST_MS);
  /**
   * Previews of the stack arriving while a viewport's diagnostic view (view-quality.js) is in
   * flight wait, undecoded, until its lossless image is drawn (at most HOLD_PREFETCH_MS, or
   * until a newer view or an error): on opening a 200-slice CT the stack's previews arrive
   * beside the view's tiles and lossless image, and their decodes and callbacks held the
   * lossless image back from the screen (lossless arrival to last new image, loaded 2-core
   * machine, A/B/A/B of 4 visits: median about 335 -> 260 ms; noisy).
   * @type {{viewport: number, request: number, messages: import('./protocol.js').PixelMessage[], timer: ReturnType<typeof setTimeout>} | null}
   */
  #heldPrefetch = null;
  /** @type {Map<number, {params: any, coalescer: Coalescer}>} the newest view of a window drag, not yet sent */
  #movingViews = new Map();
  /** The `open_study` request whose answer includes a first picture (PROTOCOL.md `preview`). */
  #firstPicture = 0;
  #previews = new PreviewCache(PREVIEW_ENTRIES, PREVIEW_BYTES);
  /** @type {Map<number, {signature: string, timer: any}>} the stack previews asked per viewport */
  #stackAsked = new Map();
  /** @type {{instance: string, frame: number} | null} the image the first picture shows (`first_picture`) */
  #firstPictureName = null;
  /** @type {{message: import('./protocol.js').PixelMessage, decoded: Promise<ImageBitmap>} | null} a first picture that came before the outline */
  #earlyPicture = null;
  /** @type {Map<string, Promise<any>>} */
  #frameInfos = new Map();
  /** @type {any} */
  #study = null;
  /** @type {Map<string, any>} */
  #seriesByUid = new Map();
  /** @type {Viewport[]} */
  #viewports = [];
  #layout;
  #browser;
  #toolbar;
  #cine;
  #socket;
  #active = 0;
  #tool = 'window';
  #sync = true;
  #referenceLines = true;
  /** @type {Map<string, import('./annotation-layer.js').Measurement[]>} */
  #measurements = new Map();
  #syncing = false;
  /** @type {Map<number, string>} */
  #lastView = new Map();
  #toolbarQueued = false;
  #cacheBarsQueued = false;
  /** @type {import('./boot.js').EarlySocket | null} */
  #early = null;
  /**
   * The first `view` boot.js sent on its socket, not yet adopted, and what was heard for it
   * meanwhile (replayed on adoption, dropped otherwise): #adoptEarlyView.
   * @type {(import('./boot.js').EarlyView & {heard: Array<{binary?: ArrayBuffer, json?: any}>}) | null}
   */
  #earlyView = null;
  /** @type {{request: number, answers: any[]} | null} the early view's answers heard before any of its pixels */
  #earlyAnswers = null;
  /** @type {Map<number, Promise<void>>} request → its pixels decoded and placed (`done` waits) */
  #placing = new Map();
  #reopen = new Coalescer(() => this.#openStudy(), 500);
  /** @type {HTMLElement} */
  #status;
  /** @type {HTMLDialogElement | null} */
  #help;
  /** @type {import('./report-panel.js').ReportPanel | null} */
  #reports = null;

  /**
   * @param {HTMLElement} root  the viewer element of the page template
   * @param {ViewerOptions} options
   */
  constructor(root, { studyUid, socketUrl, thumbnailUrl, initialSeries = '', early = null }) {
    this.#root = root;
    this.#studyUid = studyUid;
    this.#initialSeries = initialSeries;
    this.#status = /** @type {HTMLElement} */ (root.querySelector('[data-role="status"]'));
    this.#help = root.querySelector('dialog[data-role="help"]');

    const grid = /** @type {HTMLElement} */ (root.querySelector('[data-role="viewports"]'));
    for (let i = 0; i < VIEWPORTS; i += 1) this.#viewports.push(new Viewport(grid, i, this));
    this.#layout = new Layout(grid, this.#viewports.map((v) => v.element));
    this.#browser = new SeriesBrowser(/** @type {HTMLElement} */ (root.querySelector('[data-role="series"]')), {
      thumbnailUrl,
      onPick: (uid) => this.#showSeries(this.#viewports[this.#active], uid),
    });
    this.#toolbar = new Toolbar(/** @type {HTMLElement} */ (root.querySelector('[data-role="toolbar"]')), {
      onAction: (action) => this.perform(action),
      onFps: (fps) => {
        this.#cine.fps = fps;
        this.#queueToolbar();
      },
    });
    this.#cine = new Cine({
      onTick: () => {
        const viewport = this.#viewports[this.#active];
        return Boolean(viewport.stack && viewport.stack.length > 1 && (viewport.scrollBy(1, { wrap: true }) || true));
      },
      onState: () => this.#queueToolbar(),
    });
    this.#early = early;
    const heard = early ? early.handOver() : [];
    this.#earlyView = early?.view ? { ...early.view, heard: [] } : null;
    // The early `open_study` (and `view`) used ids of ours: never use them again.
    if (early) while (this.#ledger.nextId() < Math.max(early.request, early.view?.request ?? 0));
    this.#socket = new ViewerSocket(socketUrl, {
      onOpen: (resumed, adopted) => this.#opened(resumed, adopted),
      onMessage: (message) => this.#message(message),
      onBinary: (buffer) => this.#pixels(buffer),
      onState: (state, detail) => this.#socketState(state, detail),
      onProtocolError: (error) => console.warn('viewer protocol:', error.message),
    }, early ? { adopt: { ws: early.ws, heard } } : {});
    this.#fillHelp();
    document.addEventListener('keydown', (e) => this.#key(e));
    window.addEventListener('pagehide', () => this.#socket.close());
    // Back/forward cache: the page comes back without its socket.
    window.addEventListener('pageshow', (e) => {
      if (e.persisted) this.#socket.connect();
    });
    this.#viewports[0].active = true;
  }

  start() {
    this.#setStatus('Connecting…', 'connecting');
    this.#socket.connect();
  }

  /**
   * Asks for the study outline again (instances may have arrived unannounced: the channel
   * layer does not always reach this process); the series browser and the stacks on show
   * are updated in place. Quiet: a failed refresh leaves the page as it was.
   */
  refreshStudy() {
    if (this.#socket.isOpen && this.#study !== null) this.#openStudy(true);
  }

  /**
   * Saving measurements and key images (report-panel.js); its actions come through perform().
   * @param {import('./report-panel.js').ReportPanel} panel
   */
  set reports(panel) {
    this.#reports = panel;
    this.keyImagesChanged();
  }

  /** Every measurement on every image, with the image it is on (for saving a report). */
  placedMeasurements() {
    const placed = [];
    for (const [key, list] of this.#measurements) {
      const cut = key.lastIndexOf('/');
      const instance = key.slice(0, cut);
      const frame = Number(key.slice(cut + 1));
      for (const measurement of list) placed.push({ instance, frame, measurement });
    }
    return placed;
  }

  /**
   * Shows measurements read back from a saved report on their images, as measured.
   * @param {Array<{instance: string, frame: number, tool: import('./measurement-geometry.js').MeasureTool,
   *                points: Array<[number, number]>, result: any}>} list
   */
  restoreMeasurements(list) {
    for (const { instance, frame, tool, points, result } of list) {
      const key = `${instance}/${frame}`;
      const measurements = this.#measurements.get(key) ?? [];
      measurements.push({ id: this.#ledger.nextId(), tool, points, status: 'done', result });
      this.#measurements.set(key, measurements);
      this.#refreshMeasurements(instance, frame);
    }
  }

  /** A key-image flag changed: each viewport's marker and the toolbar follow. */
  keyImagesChanged() {
    for (const viewport of this.#viewports) this.#markKeyImage(viewport);
    this.#queueToolbar();
  }

  // ------------------------------------------------------- the viewports' host

  get study() {
    return this.#study;
  }

  get tool() {
    return this.#tool;
  }

  /** @param {Viewport} viewport */
  activate(viewport) {
    if (this.#active === viewport.index) return;
    this.#viewports[this.#active].active = false;
    this.#active = viewport.index;
    viewport.active = true;
    this.#updateReferenceLines();
    this.#queueToolbar();
  }

  /**
   * @param {Viewport} viewport
   * @param {{instance: string, frame: number, region: [number, number, number, number], scale: number,
   *          window: [number, number] | null, voi: number, invert: boolean, renderKey: string}} params
   */
  requestPixels(viewport, params) {
    const signature = viewSignature(params);
    if (this.#lastView.get(viewport.index) === signature && this.#socket.isOpen) return;
    if (this.#earlyView?.viewport === viewport.index && this.#adoptEarlyView(viewport, params, signature)) return;
    const index = viewport.index;
    const image = `${params.instance}/${params.frame}`;
    const held = this.#movingViews.get(index);
    if (this.#settingsMotion.moving(index, image, params.renderKey, performance.now())) {
      // A window drag: every move is shown at once, re-mapped in the browser
      // (window-remap.js); the server renders the newest settings every MOVING_VIEW_MS.
      if (held) {
        held.params = params;
        held.coalescer.poke();
        return;
      }
      const entry = {
        params,
        coalescer: new Coalescer(() => {
          if (this.#movingViews.get(index) !== entry) return;
          this.#movingViews.delete(index);
          const latest = entry.params;
          this.#pacer.offer(index, () => this.#sendView(viewport, latest, viewSignature(latest), true));
        }, MOVING_VIEW_MS),
      };
      this.#movingViews.set(index, entry);
      entry.coalescer.poke();
      return;
    }
    if (held) {
      held.coalescer.cancel();
      this.#movingViews.delete(index);
    }
    // At most one view in flight per viewport; the newest waits for its answer (view-pacer.js).
    this.#pacer.offer(index, () => this.#sendView(viewport, params, signature, false));
  }

  /**
   * @param {Viewport} viewport
   * @param {any} params  as for requestPixels
   * @param {string} signature
   * @param {boolean} moving  a view of a window drag (settings-motion.js): no prefetch
   * @returns {{id: number, yields: boolean} | null} the request id (a diagnostic view yields to
   *   the next view at once: view-pacer.js), or null when the socket is closed
   */
  #sendView(viewport, params, signature, moving) {
    const stack = viewport.stack;
    const image = `${params.instance}/${params.frame}`;
    const now = performance.now();
    const last = this.#lastImage.get(viewport.index);
    const scrolling = last !== undefined && last.image !== image && now - last.at < SCROLLING_MS;
    const newStack = !last || last.stack !== stack;
    if (!last || last.image !== image || newStack) this.#lastImage.set(viewport.index, { image, at: now, stack });
    const fast = scrolling || (this.#cine.playing && viewport.index === this.#active);
    const wanted = fast ? CINE_PREFETCH : PREFETCH;
    // No neighbours at a window the reader is dragging through (settings-motion.js).
    const prefetch = (moving ? [] : (stack?.prefetchList(wanted) ?? [])).filter(
      ([instance, frame]) => !this.#previews.has(displayKey(instance, frame, params.renderKey)),
    );
    const issued = this.#ledger.issue({
      viewport: viewport.index,
      instance: params.instance,
      frame: params.frame,
      renderKey: params.renderKey,
      prefetch,
    });
    const quality = viewQuality({ newStack, moving, fast });
    if (this.#heldPrefetch?.viewport === viewport.index) this.#releasePrefetch();
    if (quality === 'diagnostic') this.#holdPrefetch(viewport.index, issued.id);
    const sent = this.#socket.send(
      viewMessage({
        request: issued.id,
        viewport: viewport.index,
        instance: params.instance,
        frame: params.frame,
        region: params.region,
        scale: params.scale,
        window: params.window,
        voi: params.voi,
        invert: params.invert,
        quality,
        prefetch,
        // A drag's frame is on show re-mapped in the browser (window-remap.js): the
        // server's coarse preview would come after it and add nothing; tiles come sooner.
        preview: !moving,
      }),
    );
    if (!sent) {
      this.#releasePrefetch();
      return null;
    }
    this.#lastView.set(viewport.index, signature);
    this.#askStackPreviews(viewport, params);
    return { id: issued.id, yields: quality === 'diagnostic' };
  }

  /**
   * The viewport's first view, when boot.js already asked the server for this very view on
   * its socket (boot.js `fittedView`): that request becomes ours (same id), and its pixels
   * heard so far are played now. Any other first view drops it; our own view then replaces it
   * on the server (latest wins).
   * @param {Viewport} viewport
   * @param {any} params  as for requestPixels
   * @param {string} signature
   * @returns {boolean} adopted
   */
  #adoptEarlyView(viewport, params, signature) {
    const early = this.#earlyView;
    this.#earlyView = null;
    if (!early) return false;
    const same =
      early.instance === params.instance &&
      early.frame === params.frame &&
      early.region.every((v, i) => v === params.region[i]) &&
      early.scale.toFixed(4) === params.scale.toFixed(4) &&
      params.window === null &&
      params.voi === 0 &&
      !params.invert &&
      !this.#lastImage.has(viewport.index) &&
      !this.#pacer.busy(viewport.index) &&
      this.#socket.isOpen;
    if (!same) return false;
    this.#lastImage.set(viewport.index, { image: `${params.instance}/${params.frame}`, at: performance.now(), stack: viewport.stack });
    this.#ledger.issue(
      { viewport: viewport.index, instance: params.instance, frame: params.frame, renderKey: params.renderKey, prefetch: [] },
      early.request,
    );
    this.#holdPrefetch(viewport.index, early.request);
    this.#pacer.offer(viewport.index, () => ({ id: early.request, yields: true }));
    this.#lastView.set(viewport.index, signature);
    this.#askStackPreviews(viewport, params);
    // Its `done` (or `error`) once the pixels heard before it are decoded and placed, as when
    // they come over the wire one by one (`done` marks the viewport loaded); if none were
    // heard yet, once the first one is.
    const placed = [];
    for (const message of early.heard) if (message.binary) placed.push(this.#pixels(message.binary));
    const answers = early.heard.filter((message) => message.json).map((message) => message.json);
    if (answers.length > 0 && placed.length > 0) {
      Promise.allSettled(placed).then(() => {
        for (const answer of answers) this.#message(answer);
      });
    } else if (answers.length > 0) {
      this.#earlyAnswers = { request: early.request, answers };
    }
    return true;
  }

  /**
   * Asks for previews of the viewport's whole stack (PROTOCOL.md `previews`), nearest the
   * image on show first, so that scrolling draws from memory: once per stack and settings;
   * after a settings change only once the settings rest.
   * @param {Viewport} viewport
   * @param {{window: [number, number] | null, voi: number, invert: boolean, renderKey: string}} params
   */
  #askStackPreviews(viewport, params) {
    const stack = viewport.stack;
    if (!stack || stack.length < 2) return;
    const series = `${stack.series.uid}|${stack.length}`;
    const signature = `${series}|${params.renderKey}`;
    const asked = this.#stackAsked.get(viewport.index);
    if (asked?.signature === signature) return;
    clearTimeout(asked?.timer);
    const send = () => {
      const current = viewport.stack;
      if (!current || current !== stack || viewport.renderKey !== params.renderKey) return;
      const sharing = this.#viewports.filter((v) => v.stack && this.#layout.isVisible(v.index)).length;
      const wanted = Math.min(stack.length, Math.floor(STACK_PREVIEWS / Math.max(1, sharing)));
      const items = [...(stack.entry ? [[stack.entry.instance.uid, stack.entry.frame]] : []), ...stack.prefetchList(wanted - 1)]
        .filter(([instance, frame]) => !this.#previews.has(displayKey(/** @type {string} */ (instance), /** @type {number} */ (frame), params.renderKey)));
      if (items.length === 0) return;
      const issued = this.#ledger.issueList({
        viewport: viewport.index,
        renderKey: params.renderKey,
        items: /** @type {Array<[string, number]>} */ (items),
      });
      this.#socket.send(
        previewsMessage({
          request: issued.id,
          viewport: viewport.index,
          items: /** @type {Array<[string, number]>} */ (items),
          window: params.window,
          voi: params.voi,
          invert: params.invert,
        }),
      );
    };
    // A new stack is asked for at once; new settings of the same stack once they rest.
    const sameStack = asked !== undefined && asked.signature.startsWith(`${series}|`);
    this.#stackAsked.set(viewport.index, { signature, timer: sameStack ? setTimeout(send, SETTINGS_REST_MS) : null });
    if (!sameStack) send();
  }

  /** @param {Viewport} viewport */
  cancelPixels(viewport) {
    this.#lastView.delete(viewport.index);
    this.#pacer.drop(viewport.index);
    if (this.#ledger.current(viewport.index)) {
      this.#ledger.forget(viewport.index);
      this.#socket.send(cancelMessage(viewport.index));
    }
  }

  /**
   * @param {string} instance
   * @param {number} frame
   */
  frameInfo(instance, frame) {
    const key = `${instance}/${frame}`;
    const known = this.#frameInfos.get(key);
    if (known) return known;
    const id = this.#ledger.nextId();
    const answer = this.#calls.expect(id);
    if (!this.#socket.send(frameInfoMessage(id, instance, frame))) {
      this.#calls.settle({ type: 'error', request: id, code: 'disconnected', message: 'not connected' });
      return answer;
    }
    this.#frameInfos.set(key, answer);
    answer.catch(() => this.#frameInfos.delete(key));
    return answer;
  }

  /** @param {string} key */
  cachedPreview(key) {
    return this.#previews.get(key);
  }

  /**
   * @param {ImageStack} stack
   * @param {string} renderKey
   */
  cachedCount(stack, renderKey) {
    let count = 0;
    for (let i = 0; i < stack.length; i += 1) {
      const entry = /** @type {any} */ (stack.entryAt(i));
      if (this.#previews.has(displayKey(entry.instance.uid, entry.frame, renderKey))) count += 1;
    }
    return count;
  }

  /**
   * @param {string} instance
   * @param {number} frame
   */
  measurementsFor(instance, frame) {
    return this.#measurements.get(`${instance}/${frame}`) ?? [];
  }

  /**
   * @param {Viewport} viewport
   * @param {import('./measurement-geometry.js').MeasureTool} tool
   * @param {Array<[number, number]>} points
   */
  addMeasurement(viewport, tool, points) {
    const entry = viewport.entry;
    if (!entry) return;
    const key = `${entry.instance.uid}/${entry.frame}`;
    const id = this.#ledger.nextId();
    /** @type {import('./annotation-layer.js').Measurement} */
    const measurement = { id, tool, points, status: 'pending' };
    const list = this.#measurements.get(key) ?? [];
    list.push(measurement);
    this.#measurements.set(key, list);
    const answer = this.#calls.expect(id);
    if (!this.#socket.send(measureMessage(id, entry.instance.uid, entry.frame, protocolShape(tool, points)))) {
      this.#calls.settle({ type: 'error', request: id, code: 'disconnected', message: 'not connected: draw it again' });
    }
    answer.then(
      (result) => {
        measurement.status = 'done';
        measurement.result = result;
      },
      (error) => {
        measurement.status = 'failed';
        measurement.error = error.message;
      },
    ).finally(() => this.#refreshMeasurements(entry.instance.uid, entry.frame));
    this.#refreshMeasurements(entry.instance.uid, entry.frame);
  }

  /** @param {Viewport} viewport */
  stackChanged(viewport) {
    this.#markKeyImage(viewport);
    if (this.#sync && !this.#syncing && viewport.stack) {
      this.#syncing = true;
      try {
        for (const other of this.#viewports) {
          if (other === viewport || !other.stack || !this.#layout.isVisible(other.index)) continue;
          const index = syncedIndex(viewport.stack, other.stack);
          if (index !== null) other.scrollTo(index);
        }
      } finally {
        this.#syncing = false;
      }
    }
    this.#updateReferenceLines();
    if (viewport.index === this.#active) this.#queueToolbar();
  }

  /** @param {Viewport} viewport */
  viewChanged(viewport) {
    if (viewport.index === this.#active) this.#queueToolbar();
  }

  /**
   * @param {Viewport} viewport
   * @param {string} seriesUid
   */
  dropSeries(viewport, seriesUid) {
    this.activate(viewport);
    this.#showSeries(viewport, seriesUid);
  }

  /** @param {Viewport} viewport */
  toggleMaximise(viewport) {
    this.#layout.toggleMaximise(viewport.index);
    this.#updateReferenceLines();
  }

  // ------------------------------------------------------------------ actions

  /** @param {string} action  a keymap/toolbar action name */
  perform(action) {
    const viewport = this.#viewports[this.#active];
    const stack = viewport.stack;
    const [verb, argument] = action.split(':');
    switch (verb) {
      case 'previous':
        viewport.scrollBy(-1);
        break;
      case 'next':
        viewport.scrollBy(1);
        break;
      case 'previous-page':
        viewport.scrollBy(-10);
        break;
      case 'next-page':
        viewport.scrollBy(10);
        break;
      case 'first':
        viewport.scrollTo(0);
        break;
      case 'last':
        if (stack) viewport.scrollTo(stack.length - 1);
        break;
      case 'cine':
        this.#cine.toggle();
        break;
      case 'tool':
        if (TOOLS.has(argument)) {
          this.#tool = argument;
          for (const v of this.#viewports) v.toolChanged();
          this.#root.dataset.tool = argument;
        }
        break;
      case 'invert':
        viewport.toggleInvert();
        break;
      case 'fit':
        viewport.changeView((t) => t.fit());
        break;
      case 'actual-size':
        viewport.changeView((t) => t.actualSize(window.devicePixelRatio || 1));
        break;
      case 'zoom-in':
        viewport.changeView((t) => t.zoomBy(1.25));
        break;
      case 'zoom-out':
        viewport.changeView((t) => t.zoomBy(0.8));
        break;
      case 'rotate-right':
        viewport.changeView((t) => t.rotate(1));
        break;
      case 'rotate-left':
        viewport.changeView((t) => t.rotate(-1));
        break;
      case 'flip-horizontal':
        viewport.changeView((t) => t.flipHorizontal());
        break;
      case 'flip-vertical':
        viewport.changeView((t) => t.flipVertical());
        break;
      case 'reset':
        viewport.reset();
        break;
      case 'window': {
        const choice = this.#windowChoices(viewport)[Number(argument)];
        if (choice) viewport.setWindow(choice.window, choice.voi, choice.label);
        break;
      }
      case 'layout':
        this.#setLayout(() => this.#layout.set(argument));
        break;
      case 'next-layout':
        this.#setLayout(() => this.#layout.next());
        break;
      case 'next-viewport':
      case 'previous-viewport': {
        const visible = this.#viewports.filter((v) => this.#layout.isVisible(v.index));
        const at = visible.indexOf(viewport);
        const step = verb === 'next-viewport' ? 1 : -1;
        const next = visible[(at + step + visible.length) % visible.length];
        if (next) this.activate(next);
        break;
      }
      case 'toggle-sync':
        this.#sync = !this.#sync;
        if (this.#sync) this.stackChanged(viewport);
        break;
      case 'toggle-reference-lines':
        this.#referenceLines = !this.#referenceLines;
        this.#updateReferenceLines();
        break;
      case 'delete-measurement':
        this.#deleteMeasurements(viewport, false);
        break;
      case 'clear-measurements':
        this.#deleteMeasurements(viewport, true);
        break;
      case 'save-measurements':
      case 'toggle-key-image':
      case 'save-key-images':
        this.#reports?.perform(verb, viewport.entry ?? null);
        break;
      case 'escape':
        if (!viewport.cancelDrawing() && this.#help?.open) this.#help.close();
        break;
      case 'help':
        if (this.#help && !this.#help.open) this.#help.showModal();
        break;
      default:
        console.warn('unknown viewer action', action);
        return;
    }
    this.#queueToolbar();
  }

  // ---------------------------------------------------------------- internals

  /** @param {boolean} resumed */
  /**
   * @param {boolean} resumed
   * @param {boolean} [adopted]  on boot.js's socket, which has asked for the study already
   */
  #opened(resumed, adopted = false) {
    this.#setStatus(resumed ? 'Reconnected' : 'Connected', 'open');
    // boot.js's view died with its socket.
    if (!adopted) {
      this.#earlyView = null;
      this.#earlyAnswers = null;
    }
    this.#lastView.clear();
    for (const asked of this.#stackAsked.values()) clearTimeout(asked.timer);
    this.#stackAsked.clear();
    this.#pacer.reset();
    for (const viewport of this.#viewports) this.#settingsMotion.forget(viewport.index);
    for (const held of this.#movingViews.values()) held.coalescer.cancel();
    this.#movingViews.clear();
    this.#openStudy(false, adopted && this.#early ? this.#early.request : 0);
    if (resumed) {
      // Everything in flight died with the old connection; ask again for what is on show.
      for (const viewport of this.#viewports) viewport.resume();
    }
  }

  /** @param {boolean} [quiet]  a background refresh: a failure is only logged */
  /**
   * @param {boolean} [quiet]  a background refresh: a failure is only logged
   * @param {number} [sentAs]  the request id boot.js sent it as (0: send it now)
   */
  #openStudy(quiet = false, sentAs = 0) {
    const id = sentAs || this.#ledger.nextId();
    const answer = this.#calls.expect(id);
    // The first time, the server pushes the first picture right after the outline, so it
    // does not wait for our first view: one round trip less to first pixels.
    const first = this.#study === null;
    if (first) this.#firstPicture = id;
    if (!sentAs) {
      this.#socket.send({
        ...openStudyMessage(this.#studyUid),
        request: id,
        ...(first ? { preview: this.#initialSeries || true } : {}),
      });
    }
    answer.then(
      (study) => this.#studyArrived(study),
      (error) => {
        if (quiet) console.warn('viewer: study refresh failed:', error.message);
        else if (error.code !== 'disconnected') this.#setStatus(`The study cannot be opened: ${error.message}`, 'error');
      },
    );
  }

  /** @param {any} study */
  #studyArrived(study) {
    const first = this.#study === null;
    const hadImages = !first && this.#study.series.some((/** @type {any} */ s) => s.instances.length > 0);
    this.#study = study;
    this.#seriesByUid = new Map(study.series.map((/** @type {any} */ s) => [s.uid, s]));
    this.#browser.show(study);
    this.#root.classList.add('has-study');
    if (first) {
      const withImages = study.series.filter((/** @type {any} */ s) => s.instances.length > 0);
      if (withImages.length === 0) this.#setStatus('This study has no images to show.', 'error');
      this.#fillVisibleViewports();
    } else {
      // A new instance arrived or we reconnected: refresh the stacks in place.
      for (const viewport of this.#viewports) {
        const stack = viewport.stack;
        if (!stack) continue;
        const series = this.#seriesByUid.get(stack.series.uid);
        if (!series) {
          viewport.setStack(null);
          continue;
        }
        if (series.instances.length === stack.series.instances.length) continue;
        const entry = stack.entry;
        const fresh = new ImageStack(series);
        const at = entry ? fresh.indexOf(entry.instance.uid, entry.frame) : 0;
        if (at > 0) fresh.setIndex(at);
        // Keep the reader's window, zoom and image: only the stack grew.
        viewport.updateStack(fresh);
      }
      // The first images of a study that was opened while still arriving.
      if (!hadImages && study.series.some((/** @type {any} */ s) => s.instances.length > 0)) {
        if (this.#root.dataset.connection === 'error') this.#setStatus('Connected', 'open');
        this.#fillVisibleViewports();
      }
    }
    this.#markShown();
    const early = this.#earlyPicture;
    this.#earlyPicture = null;
    if (early) this.#firstPictureArrived(early.message, early.decoded);
    // boot.js's picture (or the page's own, without an early socket) stays until the
    // viewport has drawn (its draws wait for a frame).
    const boot = this.#early;
    const page = this.#root.querySelector('[data-role="boot-picture"]');
    if (boot || page) {
      requestAnimationFrame(() =>
        requestAnimationFrame(() => {
          boot?.dispose();
          page?.remove();
        }),
      );
    }
  }

  /** Gives each visible empty viewport a series not yet on show (else the first one). */
  #fillVisibleViewports() {
    if (!this.#study) return;
    const withImages = this.#study.series.filter((/** @type {any} */ s) => s.instances.length > 0);
    if (withImages.length === 0) return;
    // The series asked for in the page address goes first.
    withImages.sort((/** @type {any} */ a, /** @type {any} */ b) => Number(b.uid === this.#initialSeries) - Number(a.uid === this.#initialSeries));
    for (const viewport of this.#viewports) {
      if (viewport.stack || !this.#layout.isVisible(viewport.index)) continue;
      const shown = new Set(this.#viewports.map((v) => v.stack?.series.uid).filter(Boolean));
      const series = withImages.find((/** @type {any} */ s) => !shown.has(s.uid)) ?? withImages[0];
      viewport.setStack(new ImageStack(series));
    }
    this.#markShown();
  }

  /**
   * @param {Viewport} viewport
   * @param {string} seriesUid
   */
  #showSeries(viewport, seriesUid) {
    const series = this.#seriesByUid.get(seriesUid);
    if (!series || series.instances.length === 0) return;
    viewport.setStack(new ImageStack(series));
    // Join the others where they are, if they share the frame of reference.
    const source = this.#viewports.find((v) => v !== viewport && v.stack && this.#layout.isVisible(v.index));
    if (this.#sync && source?.stack && viewport.stack) {
      const index = syncedIndex(source.stack, viewport.stack);
      if (index !== null) viewport.scrollTo(index);
    }
    this.#markShown();
    this.#queueToolbar();
  }

  /** @param {() => void} change */
  #setLayout(change) {
    change();
    if (!this.#layout.isVisible(this.#active)) this.activate(this.#viewports[0]);
    this.#fillVisibleViewports();
    this.#updateReferenceLines();
  }

  #markShown() {
    /** @type {Map<string, number[]>} */
    const shown = new Map();
    for (const viewport of this.#viewports) {
      const uid = viewport.stack?.series.uid;
      if (!uid || !this.#layout.isVisible(viewport.index)) continue;
      shown.set(uid, [...(shown.get(uid) ?? []), viewport.index]);
    }
    this.#browser.markShown(shown);
  }

  #updateReferenceLines() {
    const source = this.#viewports[this.#active];
    const plane = source.entry?.plane;
    for (const viewport of this.#viewports) {
      if (viewport === source || !this.#referenceLines || !plane || !viewport.entry?.plane) {
        viewport.setReferenceLines([]);
        continue;
      }
      const sameFrame =
        source.stack?.frameOfReference && source.stack.frameOfReference === viewport.stack?.frameOfReference;
      const line = sameFrame ? viewport.entry.plane.referenceLineOf(plane) : null;
      viewport.setReferenceLines(line ? [{ points: line, label: String(source.index + 1) }] : []);
    }
  }

  /** @param {Viewport} viewport */
  #windowChoices(viewport) {
    return windowChoices(viewport.stack?.series.modality ?? '', viewport.frameInfo);
  }

  /** @param {Viewport} viewport */
  #markKeyImage(viewport) {
    const key = String(Boolean(this.#reports?.isKeyImage(viewport.entry?.instance.uid)));
    // Asked on every scroll step: an attribute written, even unchanged, restyles the viewport.
    if (viewport.element.dataset.keyImage !== key) viewport.element.dataset.keyImage = key;
  }

  /**
   * @param {Viewport} viewport
   * @param {boolean} all
   */
  #deleteMeasurements(viewport, all) {
    const entry = viewport.entry;
    if (!entry) return;
    const key = `${entry.instance.uid}/${entry.frame}`;
    const list = this.#measurements.get(key);
    if (!list || list.length === 0) return;
    if (all) this.#measurements.delete(key);
    else list.pop();
    this.#refreshMeasurements(entry.instance.uid, entry.frame);
  }

  /**
   * @param {string} instance
   * @param {number} frame
   */
  #refreshMeasurements(instance, frame) {
    for (const viewport of this.#viewports) {
      const entry = viewport.entry;
      if (entry && entry.instance.uid === instance && entry.frame === frame) viewport.refreshAnnotations();
    }
  }

  /** @param {{type: string, [key: string]: any}} message */
  #message(message) {
    if (this.#earlyView && message.request === this.#earlyView.request && (message.type === 'done' || message.type === 'error')) {
      this.#earlyView.heard.push({ json: message });
      return;
    }
    switch (message.type) {
      case 'study':
      case 'frame_info':
      case 'measurement':
        if (!this.#calls.settle(message) && message.type === 'study') this.#studyArrived(message);
        break;
      case 'done': {
        this.#pacer.answered(message.viewport, message.request);
        const viewport = this.#viewports[message.viewport];
        const issued = this.#ledger.current(message.viewport);
        if (!viewport || !this.#ledger.finish(message.request, message.viewport)) break;
        // `done` follows the request's last pixel message on the socket, but those are still
        // decoding (createImageBitmap): full quality is claimed once they are placed.
        const placed = this.#placing.get(message.request) ?? Promise.resolve();
        placed.then(() => {
          const showing = viewport.showing;
          // Done for the image on show, not for one the reader has scrolled away from.
          const here = Boolean(issued && showing && issued.instance === showing.instance && issued.frame === showing.frame);
          if (here) viewport.finished();
        });
        break;
      }
      case 'error': {
        if (this.#heldPrefetch?.request === message.request) this.#releasePrefetch();
        if (typeof message.viewport === 'number') this.#pacer.answered(message.viewport, message.request);
        const viewport = this.#viewports[message.viewport];
        if (viewport && typeof message.request === 'number' && this.#ledger.isCurrent(message.request, message.viewport)) {
          this.#ledger.finish(message.request, message.viewport);
          this.#lastView.delete(message.viewport);
          viewport.failed(message.code, message.message);
        } else if (!this.#calls.settle(message) && message.viewport === null) {
          console.warn('viewer server error:', message.code, message.message);
        }
        break;
      }
      case 'first_picture':
        if (message.request === this.#firstPicture && typeof message.instance === 'string') {
          this.#firstPictureName = { instance: message.instance, frame: Number(message.frame) || 0 };
        }
        break;
      case 'instance_stored':
        if (message.study === this.#studyUid) {
          // Several instances usually arrive together: one refresh for the burst, and one
          // every 500 ms while they keep coming (coalesce.js).
          this.#reopen.poke();
        }
        break;
      default:
        break;
    }
  }

  /**
   * @param {ArrayBuffer} buffer
   * @returns {Promise<void> | undefined} settles once its pixels are decoded and placed, if
   *   they are decoded here (#adoptEarlyView waits for it)
   */
  #pixels(buffer) {
    let message;
    try {
      message = decodePixelMessage(buffer);
    } catch (error) {
      console.warn('viewer protocol:', /** @type {Error} */ (error).message);
      return;
    }
    if (this.#earlyView && message.request === this.#earlyView.request) {
      this.#earlyView.heard.push({ binary: buffer });
      return;
    }
    if (message.kind === 'prefetch' && message.request === this.#firstPicture && this.#firstPicture) {
      // Before the outline when the server had it ready: decoding starts now, drawing
      // once the outline says which image it is.
      if (this.#study === null && !this.#firstPictureName) {
        const decoded = decodeBitmap(message);
        decoded.catch(() => {}); // reported when it is drawn
        this.#earlyPicture = { message, decoded };
      }
      else this.#firstPictureArrived(message);
      return;
    }
    const held = this.#heldPrefetch;
    if (message.kind === 'prefetch' && held && held.viewport === message.viewport) {
      // Not the image on show: the server sends no preview for a frame it prefetched.
      const verdict = this.#ledger.judge(message, this.#viewports[message.viewport]?.showing);
      const [instance, frame] = verdict.target ?? [];
      const showing = this.#viewports[message.viewport]?.showing;
      if (!showing || showing.instance !== instance || showing.frame !== frame) {
        held.messages.push(message);
        return;
      }
    }
    const placed = this.#decodePixels(message);
    if (placed) this.#trackPlacing(message.request, placed);
    const pending = this.#earlyAnswers;
    if (pending?.request === message.request) {
      this.#earlyAnswers = null;
      Promise.resolve(placed).finally(() => {
        for (const answer of pending.answers) this.#message(answer);
      });
    }
    return placed;
  }

  /**
   * Remember that pixels of `request` are being decoded and placed, so its `done` waits for them.
   * @param {number} request
   * @param {Promise<void>} placed
   */
  #trackPlacing(request, placed) {
    const all = Promise.allSettled([this.#placing.get(request), placed]).then(() => {});
    this.#placing.set(request, all);
    all.then(() => {
      if (this.#placing.get(request) === all) this.#placing.delete(request);
    });
  }

  /**
   * From now on the viewport's previews wait for diagnostic view `request`'s lossless image.
   * @param {number} viewport
   * @param {number} request
   */
  #holdPrefetch(viewport, request) {
    this.#releasePrefetch();
    const timer = setTimeout(() => this.#releasePrefetch(), HOLD_PREFETCH_MS);
    this.#heldPrefetch = { viewport, request, messages: [], timer };
  }

  /** Decodes the previews held for a diagnostic view (#heldPrefetch), in arrival order. */
  #releasePrefetch() {
    const held = this.#heldPrefetch;
    if (!held) return;
    this.#heldPrefetch = null;
    clearTimeout(held.timer);
    for (const message of held.messages) this.#decodePixels(message);
  }

  /**
   * @param {import('./protocol.js').PixelMessage} message
   * @returns {Promise<void> | undefined} settles once decoded and placed
   */
  #decodePixels(message) {
    // The first pixels of a view let the viewport's next view go (view-pacer.js).
    if (message.kind !== 'prefetch') this.#pacer.answered(message.viewport, message.request);
    const viewport = this.#viewports[message.viewport];
    if (!viewport || this.#ledger.judge(message, viewport.showing).action === 'drop') return;
    // The held previews follow the diagnostic view's lossless image once it is drawn.
    const release = () => {
      if (message.kind === 'lossless' && this.#heldPrefetch?.request === message.request) {
        // After the frame that draws it (viewport.js queues the draw for the next frame).
        requestAnimationFrame(() => setTimeout(() => this.#releasePrefetch(), 0));
      }
    };
    return createImageBitmap(new Blob([message.data], { type: message.type })).then(
      (bitmap) => {
        release();
        // Decoding took time: judge again against what the viewport shows now.
        const verdict = this.#ledger.judge(message, viewport.showing);
        const issued = verdict.issued;
        const showing = viewport.showing;
        // The viewport's newest view may be of an image the reader scrolled away from (the
        // next view waits for the scrolling to rest): its pixels must not replace a picture
        // of the image on show.
        const elsewhere = Boolean(issued && showing && (issued.instance !== showing.instance || issued.frame !== showing.frame));
        if (verdict.action === 'draw' && issued && elsewhere && viewport.holdsShowing) {
          if (message.kind === 'preview') {
            this.#previews.put(displayKey(issued.instance, issued.frame, issued.renderKey), { bitmap, rect: message.rect });
          } else {
            bitmap.close();
          }
        } else if (verdict.action === 'draw' && issued) {
          if (message.kind === 'preview') {
            this.#previews.put(displayKey(issued.instance, issued.frame, issued.renderKey), { bitmap, rect: message.rect });
          }
          viewport.addPixels(message, bitmap, issued);
          if (message.kind === 'preview') this.#queueCacheBars();
        } else if (verdict.action === 'cache' && issued && verdict.target) {
          const [instance, frame] = verdict.target;
          this.#previews.put(displayKey(instance, frame, issued.renderKey), { bitmap, rect: message.rect });
          // The server sends no preview for a frame it prefetched (PROTOCOL.md): a prefetch
          // of the image on show is its preview.
          const showing = viewport.showing;
          if (showing && showing.instance === instance && showing.frame === frame) {
            viewport.addPixels({ ...message, kind: 'preview' }, bitmap, { instance, frame, renderKey: issued.renderKey });
          }
          this.#queueCacheBars();
        } else {
          bitmap.close();
        }
      },
      () => {
        release();
        if (message.kind !== 'prefetch' && this.#ledger.isCurrent(message.request, message.viewport)) {
          viewport.failed('decode_error', 'the browser could not decode the image the server sent');
        }
      },
    );
  }

  /**
   * The picture the server pushed after the outline (PROTOCOL.md `open_study` `preview`):
   * frame 0 of the first instance of the series asked for (else the first with images), with
   * the file's own rendering. It arrives after the outline, so the series is known.
   * @param {import('./protocol.js').PixelMessage} message
   * @param {Promise<ImageBitmap>} [decoded]
   */
  #firstPictureArrived(message, decoded = decodeBitmap(message)) {
    // Named by the server (`first_picture`); from an older server, the outline's first image.
    const named = this.#firstPictureName;
    const withImages = (/** @type {any} */ s) => s && s.instances.length > 0;
    const asked = this.#seriesByUid.get(this.#initialSeries);
    const series = withImages(asked) ? asked : this.#study?.series.find(withImages);
    if (!named && !series) return;
    const instance = named ? named.instance : series.instances[0].uid;
    const key = renderKey({ window: null, voi: 0, invert: false });
    decoded.then(
      (bitmap) => {
        this.#previews.put(displayKey(instance, 0, key), { bitmap, rect: message.rect });
        for (const viewport of this.#viewports) {
          const showing = viewport.showing;
          if (showing && showing.instance === instance && showing.frame === 0 && showing.renderKey === key) {
            viewport.addPixels({ ...message, kind: 'preview' }, bitmap, { instance, frame: 0, renderKey: key });
          }
          if (viewport.stack) viewport.updateCacheBar();
        }
      },
      () => {}, // the first view of that frame reports what cannot be decoded
    );
  }

  /**
   * @param {import('./socket.js').SocketState} state
   * @param {{retryIn?: number, attempts: number}} detail
   */
  #socketState(state, detail) {
    if (state === 'waiting') {
      this.#calls.failAll('the connection dropped');
      this.#lastView.clear();
      this.#pacer.reset();
      const seconds = Math.max(1, Math.round((detail.retryIn ?? 0) / 1000));
      this.#setStatus(`Connection lost — reconnecting in ${seconds} s…`, 'waiting');
    } else if (state === 'connecting' && detail.attempts > 0) {
      this.#setStatus('Reconnecting…', 'connecting');
    }
  }

  /**
   * @param {string} text
   * @param {string} state
   */
  #setStatus(text, state) {
    this.#status.textContent = text;
    this.#root.dataset.connection = state;
  }

  /** Previews arrive by the hundred: the cache bars follow once per frame. */
  #queueCacheBars() {
    if (this.#cacheBarsQueued) return;
    this.#cacheBarsQueued = true;
    requestAnimationFrame(() => {
      this.#cacheBarsQueued = false;
      for (const viewport of this.#viewports) if (viewport.stack) viewport.updateCacheBar();
    });
  }

  #queueToolbar() {
    if (this.#toolbarQueued) return;
    this.#toolbarQueued = true;
    requestAnimationFrame(() => {
      this.#toolbarQueued = false;
      const viewport = this.#viewports[this.#active];
      const choices = this.#windowChoices(viewport);
      this.#toolbar.update({
        tool: this.#tool,
        layout: this.#layout.maximised === null ? this.#layout.name : '',
        sync: this.#sync,
        referenceLines: this.#referenceLines,
        playing: this.#cine.playing,
        fps: this.#cine.fps,
        invert: viewport.invert,
        keyImage: Boolean(this.#reports?.isKeyImage(viewport.entry?.instance.uid)),
        windowChoices: choices,
        windowIndex: choices.findIndex((c) => c.label === viewport.windowLabel),
      });
    });
  }

  /** @param {KeyboardEvent} e */
  #key(e) {
    const target = /** @type {HTMLElement} */ (e.target);
    if (target.closest('input, select, textarea, [contenteditable]') || this.#help?.open) return;
    if (e.key === 'Tab' && !(target === document.body || target.classList.contains('viewport'))) return;
    if ((e.key === ' ' || e.key === 'Enter') && target.closest('button, a, [role="button"]')) return;
    const action = actionForKey(e);
    if (!action) return;
    e.preventDefault();
    this.perform(action);
  }

  #fillHelp() {
    const body = this.#help?.querySelector('tbody');
    if (!body) return;
    const rows = SHORTCUTS.map((shortcut) => {
      const row = document.createElement('tr');
      const key = document.createElement('td');
      const kbd = document.createElement('kbd');
      kbd.textContent = shortcut.key === ' ' ? 'Space' : /^[A-Z]$/.test(shortcut.key) ? `Shift+${shortcut.key}` : shortcut.key;
      key.append(kbd);
      const label = document.createElement('td');
      label.textContent = shortcut.label;
      row.append(key, label);
      return row;
    });
    body.replaceChildren(...rows);
  }
}

/**
 * @param {import('./protocol.js').PixelMessage} message
 * @returns {Promise<ImageBitmap>}
 */
function decodeBitmap(message) {
  return createImageBitmap(new Blob([message.data], { type: message.type }));
}
