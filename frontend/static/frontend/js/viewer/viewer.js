/**
 * The viewer: one socket, one study, up to four viewports. It routes the protocol's messages
 * to the viewports, keeps the shared state (tool, layout, synchronised scrolling, reference
 * lines, measurements, preview cache), and turns buttons, keys and drops into actions.
 * @module viewer/viewer
 */

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
  viewMessage,
} from './protocol.js';
import { RequestLedger, renderKey } from './request-ledger.js';
import { SeriesBrowser } from './series-browser.js';
import { ViewerSocket } from './socket.js';
import { Toolbar } from './toolbar.js';
import { ViewPacer } from './view-pacer.js';
import { Viewport } from './viewport.js';
import { windowChoices } from './window-presets.js';

const VIEWPORTS = 4;
const PREFETCH = 12;
const CINE_PREFETCH = 24;
/** A viewport whose image changed this recently is scrolling: it asks for more neighbours. */
const SCROLLING_MS = 500;
const TOOLS = new Set(['window', 'scroll', 'zoom', 'pan', 'length', 'angle', 'ellipse', 'rectangle', 'probe']);

/**
 * @typedef {object} ViewerOptions
 * @property {string} studyUid
 * @property {string} socketUrl                            ws(s)://host/ws/viewer/
 * @property {(seriesUid: string) => string} thumbnailUrl
 * @property {string} [initialSeries]                     shown first in viewport 1
 */

export class Viewer {
  /** @type {HTMLElement} */
  #root;
  #studyUid;
  #initialSeries;
  #ledger = new RequestLedger();
  #calls = new PendingCalls();
  #pacer = new ViewPacer();
  /** @type {Map<number, {image: string, at: number}>} */
  #lastImage = new Map();
  /** The `open_study` request whose answer includes a first picture (PROTOCOL.md `preview`). */
  #firstPicture = 0;
  #previews = new PreviewCache(240);
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
  /** @type {any} */
  #reopenTimer = null;
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
  constructor(root, { studyUid, socketUrl, thumbnailUrl, initialSeries = '' }) {
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
    this.#socket = new ViewerSocket(socketUrl, {
      onOpen: (resumed) => this.#opened(resumed),
      onMessage: (message) => this.#message(message),
      onBinary: (buffer) => this.#pixels(buffer),
      onState: (state, detail) => this.#socketState(state, detail),
      onProtocolError: (error) => console.warn('viewer protocol:', error.message),
    });
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
    const signature = JSON.stringify([params.instance, params.frame, params.region, params.scale.toFixed(4), params.renderKey]);
    if (this.#lastView.get(viewport.index) === signature && this.#socket.isOpen) return;
    // At most one view in flight per viewport; the newest waits for its answer (view-pacer.js).
    this.#pacer.offer(viewport.index, () => this.#sendView(viewport, params, signature));
  }

  /**
   * @param {Viewport} viewport
   * @param {any} params  as for requestPixels
   * @param {string} signature
   * @returns {number | null} the request id, or null when the socket is closed
   */
  #sendView(viewport, params, signature) {
    const stack = viewport.stack;
    const image = `${params.instance}/${params.frame}`;
    const now = performance.now();
    const last = this.#lastImage.get(viewport.index);
    const scrolling = last !== undefined && last.image !== image && now - last.at < SCROLLING_MS;
    if (!last || last.image !== image) this.#lastImage.set(viewport.index, { image, at: now });
    const fast = scrolling || (this.#cine.playing && viewport.index === this.#active);
    const wanted = fast ? CINE_PREFETCH : PREFETCH;
    const prefetch = (stack?.prefetchList(wanted) ?? []).filter(
      ([instance, frame]) => !this.#previews.has(displayKey(instance, frame, params.renderKey)),
    );
    const issued = this.#ledger.issue({
      viewport: viewport.index,
      instance: params.instance,
      frame: params.frame,
      renderKey: params.renderKey,
      prefetch,
    });
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
        quality: 'interactive',
        prefetch,
      }),
    );
    if (!sent) return null;
    this.#lastView.set(viewport.index, signature);
    return issued.id;
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
  #opened(resumed) {
    this.#setStatus(resumed ? 'Reconnected' : 'Connected', 'open');
    this.#lastView.clear();
    this.#pacer.reset();
    this.#openStudy();
    if (resumed) {
      // Everything in flight died with the old connection; ask again for what is on show.
      for (const viewport of this.#viewports) viewport.resume();
    }
  }

  /** @param {boolean} [quiet]  a background refresh: a failure is only logged */
  #openStudy(quiet = false) {
    const id = this.#ledger.nextId();
    const answer = this.#calls.expect(id);
    // The first time, the server pushes the first picture right after the outline, so it
    // does not wait for our first view: one round trip less to first pixels.
    const first = this.#study === null;
    if (first) this.#firstPicture = id;
    this.#socket.send({
      ...openStudyMessage(this.#studyUid),
      request: id,
      ...(first ? { preview: this.#initialSeries || true } : {}),
    });
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
    const key = Boolean(this.#reports?.isKeyImage(viewport.entry?.instance.uid));
    viewport.element.dataset.keyImage = String(key);
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
    switch (message.type) {
      case 'study':
      case 'frame_info':
      case 'measurement':
        if (!this.#calls.settle(message) && message.type === 'study') this.#studyArrived(message);
        break;
      case 'done': {
        this.#pacer.answered(message.viewport, message.request);
        const viewport = this.#viewports[message.viewport];
        if (viewport && this.#ledger.finish(message.request, message.viewport)) viewport.finished();
        break;
      }
      case 'error': {
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
      case 'instance_stored':
        if (message.study === this.#studyUid) {
          // Several instances usually arrive together: one refresh for the burst.
          clearTimeout(this.#reopenTimer);
          this.#reopenTimer = setTimeout(() => this.#openStudy(), 500);
        }
        break;
      default:
        break;
    }
  }

  /** @param {ArrayBuffer} buffer */
  #pixels(buffer) {
    let message;
    try {
      message = decodePixelMessage(buffer);
    } catch (error) {
      console.warn('viewer protocol:', /** @type {Error} */ (error).message);
      return;
    }
    if (message.kind === 'prefetch' && message.request === this.#firstPicture && this.#firstPicture) {
      this.#firstPictureArrived(message);
      return;
    }
    // The first pixels of a view let the viewport's next view go (view-pacer.js).
    if (message.kind !== 'prefetch') this.#pacer.answered(message.viewport, message.request);
    const viewport = this.#viewports[message.viewport];
    if (!viewport || this.#ledger.judge(message, viewport.showing).action === 'drop') return;
    createImageBitmap(new Blob([message.data], { type: message.type })).then(
      (bitmap) => {
        // Decoding took time: judge again against what the viewport shows now.
        const verdict = this.#ledger.judge(message, viewport.showing);
        const issued = verdict.issued;
        if (verdict.action === 'draw' && issued) {
          if (message.kind === 'preview') {
            this.#previews.put(displayKey(issued.instance, issued.frame, issued.renderKey), { bitmap, rect: message.rect });
          }
          viewport.addPixels(message, bitmap, issued);
          if (message.kind === 'preview') viewport.updateCacheBar();
        } else if (verdict.action === 'cache' && issued && verdict.target) {
          const [instance, frame] = verdict.target;
          this.#previews.put(displayKey(instance, frame, issued.renderKey), { bitmap, rect: message.rect });
          // The server sends no preview for a frame it prefetched (PROTOCOL.md): a prefetch
          // of the image on show is its preview.
          const showing = viewport.showing;
          if (showing && showing.instance === instance && showing.frame === frame) {
            viewport.addPixels({ ...message, kind: 'preview' }, bitmap, { instance, frame, renderKey: issued.renderKey });
          }
          viewport.updateCacheBar();
        } else {
          bitmap.close();
        }
      },
      () => {
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
   */
  #firstPictureArrived(message) {
    const withImages = (/** @type {any} */ s) => s && s.instances.length > 0;
    const asked = this.#seriesByUid.get(this.#initialSeries);
    const series = withImages(asked) ? asked : this.#study?.series.find(withImages);
    if (!series) return;
    const instance = series.instances[0].uid;
    const key = renderKey({ window: null, voi: 0, invert: false });
    createImageBitmap(new Blob([message.data], { type: message.type })).then(
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

