/**
 * The viewer page's first module, with no imports: it opens the viewer socket with an address
 * that asks for the study and its first picture (PROTOCOL.md "Opening with the handshake")
 * while the rest of the viewer (some forty modules) is still loading, and draws that picture
 * as soon as it arrives. Then it loads the viewer, which adopts the socket and everything heard on it
 * (socket.js `adopt`), so nothing is asked twice.
 *
 * Without this the socket opened only once every module had loaded and run: on a busy
 * server or a slow line that is most of the time to first pixels.
 *
 * Once the socket has named the first picture and sent the outline, this module also asks for
 * that image's first `view` (viewport 0, fitted, the file's own window, `diagnostic`) as the
 * viewer would, so the server renders its tiles and lossless image while the modules still
 * load; the viewer adopts that request when its first view of viewport 0 is the same (viewer.js
 * `#adoptEarlyView`), else its own view replaces it (latest wins). Without it the first view
 * left only once the modules had loaded and run, 350-450 ms after the socket opened.
 *
 * When the server had the first image's preview ready, the page itself carries it (an
 * `<img data-role="boot-picture">` in the viewport grid, frontend/first_preview.py), on screen
 * before any module runs; then the socket's first picture is not drawn here, and `dispose`
 * removes that image too.
 * @module viewer/boot
 */

/** The request id of the early `open_study`: the viewer's first id (request-ledger.js). */
export const EARLY_REQUEST = 1;

/** The request id of the early `view` (EARLY_REQUEST + 1: the viewer's second id). */
export const EARLY_VIEW = 2;

/**
 * @typedef {object} EarlyView
 * @property {number} request
 * @property {number} viewport   0
 * @property {string} instance
 * @property {number} frame
 * @property {[number, number, number, number]} region
 * @property {number} scale
 */

/**
 * @typedef {object} EarlySocket
 * @property {WebSocket} ws
 * @property {number} request     the request id the socket's address opened the study as
 * @property {EarlyView | null} view  the `view` sent on it, if any (read after `handOver`)
 * @property {() => Array<string | ArrayBuffer>} handOver  stops listening; what was heard
 * @property {() => void} dispose  removes the early picture (the viewer draws its own now)
 */

/**
 * The page loads this module `async`: it runs as soon as it has arrived, without waiting
 * for the style sheets or the parser, so the page may still be parsing.
 * @type {Promise<EarlySocket | null>}
 */
export const early = domReady().then(() => openEarly(document.getElementById('image-viewer')));

// Evaluating the viewer's forty modules holds the main thread for tens of ms: when the page
// carries its own first picture, the browser paints it first (interleaved A/B, 8 visits each
// on a loaded 2-core machine: first pixels 697 vs 932 ms median, 8 of 8 pairs earlier).
early
  .then(() => (document.querySelector('[data-role="boot-picture"]') ? painted() : undefined))
  .then(() => {
    preloadModules();
    return import('./main.js');
  });

/**
 * The page's `modulepreload` links wait in a `<template>`: in the page head, forty module
 * fetches and compiles held the main thread before this module ran (the socket opened, and
 * the page painted, 150–200 ms later on a loaded 2-core machine). Now they all start here.
 */
function preloadModules() {
  const waiting = document.querySelector('template[data-role="module-preloads"]');
  if (waiting instanceof HTMLTemplateElement) {
    document.head.append(waiting.content);
    waiting.remove();
  }
}

/** After the next frame (or 100 ms: a hidden tab paints none). */
function painted() {
  return new Promise((resolve) => {
    const done = () => resolve(undefined);
    requestAnimationFrame(() => setTimeout(done, 0));
    setTimeout(done, 100);
  });
}

function domReady() {
  if (document.readyState !== 'loading') return Promise.resolve();
  return new Promise((resolve) => document.addEventListener('DOMContentLoaded', () => resolve(undefined), { once: true }));
}

/** Resolves once every style sheet of the page has loaded (the layout is final). */
function stylesReady() {
  const pending = [...document.querySelectorAll('link[rel="stylesheet"]')].filter(
    (link) => !(/** @type {HTMLLinkElement} */ (link).sheet),
  );
  return Promise.all(
    pending.map(
      (link) =>
        new Promise((resolve) => {
          link.addEventListener('load', resolve, { once: true });
          link.addEventListener('error', resolve, { once: true });
        }),
    ),
  );
}

/**
 * @param {HTMLElement | null} root
 * @returns {EarlySocket | null}
 */
function openEarly(root) {
  const study = root?.dataset.studyInstanceUid;
  if (!root || !study || typeof WebSocket === 'undefined') return null;
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  // The address opens the study with the handshake (PROTOCOL.md): the server checks access
  // before the socket opens and sends the first picture the moment it does.
  const query = new URLSearchParams({ open: study, request: String(EARLY_REQUEST), preview: root.dataset.initialSeries || 'true' });
  let ws;
  try {
    ws = new WebSocket(`${scheme}//${window.location.host}${root.dataset.socketPath ?? '/ws/viewer/'}?${query}`);
  } catch {
    return null; // the viewer connects by itself
  }
  ws.binaryType = 'arraybuffer';
  /** @type {Array<string | ArrayBuffer>} */
  let heard = [];
  let listening = true;
  /** @type {string | null} */
  let named = null;
  /** @type {HTMLCanvasElement | null} */
  let canvas = null;
  /** @type {HTMLElement | null} the page's own first picture, if it carries one */
  let picture = root.querySelector('[data-role="boot-picture"]');
  /** @type {{frame: number, columns: number, rows: number} | null} the first picture's image */
  let image = null;
  /** @type {any} the `study` answer */
  let outline = null;
  let viewAsked = false;
  /** @type {EarlySocket} */
  const socket = {
    ws,
    request: EARLY_REQUEST,
    view: null,
    handOver() {
      listening = false;
      ws.removeEventListener('message', onMessage);
      const taken = heard;
      heard = [];
      return taken;
    },
    dispose() {
      picture?.remove();
      picture = null;
      if (canvas) {
        canvas.dataset.disposed = '1';
        canvas.remove();
      }
      canvas = null;
    },
  };
  const askView = () => {
    if (viewAsked || !named || !image || !outline) return;
    viewAsked = true;
    const instance = findInstance(outline, named);
    if (!instance) return;
    // The viewport's box: the layout is final once the style sheets are in.
    stylesReady().then(() => {
      if (!listening || ws.readyState !== WebSocket.OPEN || !image) return;
      const view = fittedView(root, /** @type {string} */ (named), image, instance);
      if (!view) return;
      ws.send(
        JSON.stringify({
          type: 'view',
          ...view,
          window: null,
          voi: 0,
          function: null,
          invert: false,
          quality: 'diagnostic',
          prefetch: [],
        }),
      );
      socket.view = view;
    });
  };
  /** @param {MessageEvent} event */
  const onMessage = (event) => {
    if (!listening) return;
    heard.push(event.data);
    if (typeof event.data === 'string') {
      if (event.data.includes('"first_picture"') || (!outline && event.data.includes('"study"'))) {
        try {
          const message = JSON.parse(event.data);
          if (message.request !== EARLY_REQUEST) return;
          if (message.type === 'first_picture') named = message.instance;
          else if (message.type === 'study') outline = message;
          askView();
        } catch {
          // The viewer reports what it cannot read.
        }
      }
    } else if (named && event.data instanceof ArrayBuffer) {
      image ??= pictureImage(event.data);
      askView();
      if (!picture) canvas = drawFirst(root, event.data) ?? canvas;
    }
  };
  ws.addEventListener('message', onMessage);
  return socket;
}

/**
 * The image the first picture shows: the binary header's rectangle (PROTOCOL.md, binary
 * messages) of a whole-frame `prefetch` item 0 of EARLY_REQUEST is the whole image.
 * @param {ArrayBuffer} buffer
 * @returns {{frame: number, columns: number, rows: number} | null}
 */
function pictureImage(buffer) {
  if (buffer.byteLength < 44) return null;
  const header = new DataView(buffer);
  if (header.getUint8(9) !== 4 || header.getUint32(4, true) !== EARLY_REQUEST || header.getUint16(16, true) !== 0) return null;
  const columns = header.getFloat32(28, true);
  const rows = header.getFloat32(32, true);
  if (!(columns > 0) || !(rows > 0)) return null;
  return { frame: header.getUint32(12, true), columns, rows };
}

/**
 * @param {any} outline  the `study` message
 * @param {string} uid
 * @returns {any} the outline's instance
 */
function findInstance(outline, uid) {
  for (const series of Array.isArray(outline?.series) ? outline.series : []) {
    for (const instance of Array.isArray(series?.instances) ? series.instances : []) {
      if (instance?.uid === uid) return instance;
    }
  }
  return null;
}

/**
 * The `view` the viewer's viewport 0 asks for first: the whole image fitted into the
 * viewport grid (one viewport fills it), as viewport.js and view-transform.js compute it
 * (fit, visibleRegion, requestScale; square orientation). A mismatch costs only this request:
 * the viewer then sends its own.
 * @param {HTMLElement} root
 * @param {string} uid
 * @param {{frame: number, columns: number, rows: number}} image
 * @param {any} instance  from the outline
 * @returns {EarlyView | null}
 */
function fittedView(root, uid, image, instance) {
  const grid = root.querySelector('[data-role="viewports"]');
  if (!(grid instanceof HTMLElement) || grid.dataset.layout !== '1x1') return null;
  const box = grid.getBoundingClientRect();
  if (box.width < 2 || box.height < 2) return null;
  if (instance.columns !== image.columns || instance.rows !== image.rows) return null;
  const aspect = aspectOf(instance);
  const zoom = Math.min(64, Math.max(0.01, Math.min(box.width / image.columns, box.height / (image.rows * aspect))));
  const scale = Math.min(64, zoom * Math.max(1, aspect) * (window.devicePixelRatio || 1));
  return { request: EARLY_VIEW, viewport: 0, instance: uid, frame: image.frame, region: [0, 0, image.columns, image.rows], scale };
}

/**
 * Row over column spacing, as viewport.js `aspectOf` (PS3.3 10.7.1.3).
 * @param {{pixel_spacing?: number[] | null}} instance
 */
function aspectOf(instance) {
  const spacing = instance.pixel_spacing;
  if (Array.isArray(spacing) && spacing[0] > 0 && spacing[1] > 0) {
    const aspect = spacing[0] / spacing[1];
    if (Math.abs(aspect - 1) > 1e-3 && aspect > 0.1 && aspect < 10) return aspect;
  }
  return 1;
}

/**
 * Draws the first picture (a `prefetch` message, PROTOCOL.md binary header) fitted into the
 * viewport area, on a canvas of its own above it.
 * @param {HTMLElement} root
 * @param {ArrayBuffer} buffer
 * @returns {HTMLCanvasElement | null}
 */
function drawFirst(root, buffer) {
  if (buffer.byteLength < 44) return null;
  const header = new DataView(buffer);
  // Kind 4 (prefetch), request EARLY_REQUEST, item 0: the picture `first_picture` named.
  if (header.getUint8(9) !== 4 || header.getUint32(4, true) !== EARLY_REQUEST || header.getUint16(16, true) !== 0) return null;
  const imageWidth = header.getFloat32(28, true);
  const imageHeight = header.getFloat32(32, true);
  const type = header.getUint8(10) === 2 ? 'image/png' : 'image/jpeg';
  const grid = root.querySelector('[data-role="viewports"]');
  if (!(grid instanceof HTMLElement) || !(imageWidth > 0) || !(imageHeight > 0)) return null;
  const canvas = document.createElement('canvas');
  canvas.className = 'viewport-boot';
  canvas.setAttribute('aria-hidden', 'true');
  Promise.all([createImageBitmap(new Blob([new Uint8Array(buffer, 44)], { type })), stylesReady()]).then(
    ([bitmap]) => {
      const box = grid.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      canvas.width = Math.round(box.width * dpr);
      canvas.height = Math.round(box.height * dpr);
      Object.assign(canvas.style, {
        position: 'fixed',
        left: `${box.left}px`,
        top: `${box.top}px`,
        width: `${box.width}px`,
        height: `${box.height}px`,
        pointerEvents: 'none',
      });
      const ctx = canvas.getContext('2d');
      if (canvas.dataset.disposed || !ctx || box.width < 2 || box.height < 2) {
        bitmap.close();
        return;
      }
      // Fitted and centred, as the viewport's own first view (view-transform.js fit).
      const scale = Math.min(canvas.width / imageWidth, canvas.height / imageHeight);
      const width = imageWidth * scale;
      const height = imageHeight * scale;
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(bitmap, (canvas.width - width) / 2, (canvas.height - height) / 2, width, height);
      bitmap.close();
      document.body.append(canvas);
    },
    () => {},
  );
  return canvas;
}
