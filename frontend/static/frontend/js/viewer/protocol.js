/**
 * The viewer websocket protocol, version 1 (studies/streaming/PROTOCOL.md): building the JSON
 * requests and reading the server's answers, including the 44-byte little-endian header of a
 * binary pixel message. No DOM, no socket: pure functions, unit-tested with node.
 * @module viewer/protocol
 */

export const HEADER_BYTES = 44;
export const MAGIC = 'DVW1';
export const MAX_VIEWPORTS = 16;

/** Byte 9 of the header. */
export const KIND_NAMES = Object.freeze({ 1: 'preview', 2: 'tile', 3: 'lossless', 4: 'prefetch' });
/** Byte 10 of the header. */
export const ENCODING_TYPES = Object.freeze({ 1: 'image/jpeg', 2: 'image/png' });

const KIND_CODES = Object.freeze({ preview: 1, tile: 2, lossless: 3, prefetch: 4 });
const ENCODING_CODES = Object.freeze({ 'image/jpeg': 1, 'image/png': 2 });
const FUNCTIONS = new Set(['LINEAR', 'LINEAR_EXACT', 'SIGMOID']);
const QUALITIES = new Set(['interactive', 'diagnostic']);
const SHAPE_KINDS = new Set(['point', 'line', 'angle', 'rectangle', 'ellipse', 'polygon']);
const SERVER_TYPES = new Set([
  'study',
  'frame_info',
  'done',
  'error',
  'measurement',
  'instance_stored',
  'first_picture',
  'pong',
]);

/** A message that does not follow the protocol (a bug on one side, or a foreign server). */
export class ProtocolError extends Error {
  name = 'ProtocolError';
}

/**
 * @typedef {object} PixelMessage
 * @property {number} request
 * @property {number} viewport
 * @property {'preview'|'tile'|'lossless'|'prefetch'} kind
 * @property {'image/jpeg'|'image/png'} type   MIME type of the encoded image
 * @property {number} level      pyramid level, 0 = full resolution
 * @property {number} frame      0-based frame number
 * @property {number} item       for prefetch: index into the request's `prefetch` list
 * @property {[number, number, number, number]} rect  image rectangle [x, y, w, h] covered
 * @property {number} bitmapWidth
 * @property {number} bitmapHeight
 * @property {Uint8Array} data   the encoded image (a view into the message, not a copy)
 */

/**
 * Reads one binary pixel message.
 * @param {ArrayBuffer} buffer
 * @returns {PixelMessage}
 */
export function decodePixelMessage(buffer) {
  if (!(buffer instanceof ArrayBuffer)) throw new ProtocolError('a pixel message is binary');
  if (buffer.byteLength < HEADER_BYTES) {
    throw new ProtocolError(`a pixel message of ${buffer.byteLength} bytes has no full header`);
  }
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== MAGIC) throw new ProtocolError(`unknown pixel message magic ${JSON.stringify(magic)}`);
  const kind = KIND_NAMES[view.getUint8(9)];
  if (!kind) throw new ProtocolError(`unknown pixel kind ${view.getUint8(9)}`);
  const type = ENCODING_TYPES[view.getUint8(10)];
  if (!type) throw new ProtocolError(`unknown image encoding ${view.getUint8(10)}`);
  const length = view.getUint32(40, true);
  if (HEADER_BYTES + length !== buffer.byteLength) {
    throw new ProtocolError(
      `the header announces ${length} image bytes but ${buffer.byteLength - HEADER_BYTES} follow`,
    );
  }
  const rect = /** @type {[number, number, number, number]} */ ([
    view.getFloat32(20, true),
    view.getFloat32(24, true),
    view.getFloat32(28, true),
    view.getFloat32(32, true),
  ]);
  if (!rect.every(Number.isFinite) || rect[2] <= 0 || rect[3] <= 0) {
    throw new ProtocolError(`the image rectangle ${rect.join(', ')} is empty or not finite`);
  }
  return {
    request: view.getUint32(4, true),
    viewport: view.getUint8(8),
    kind: /** @type {PixelMessage['kind']} */ (kind),
    type: /** @type {PixelMessage['type']} */ (type),
    level: view.getUint8(11),
    frame: view.getUint32(12, true),
    item: view.getUint16(16, true),
    rect,
    bitmapWidth: view.getUint16(36, true),
    bitmapHeight: view.getUint16(38, true),
    data: new Uint8Array(buffer, HEADER_BYTES, length),
  };
}

/**
 * Writes a pixel message: the inverse of decodePixelMessage (tests and stand-in servers).
 * @param {Omit<PixelMessage, 'data'>} header
 * @param {Uint8Array} data
 * @returns {ArrayBuffer}
 */
export function encodePixelMessage(header, data) {
  const buffer = new ArrayBuffer(HEADER_BYTES + data.byteLength);
  const view = new DataView(buffer);
  for (let i = 0; i < 4; i += 1) view.setUint8(i, MAGIC.charCodeAt(i));
  view.setUint32(4, header.request, true);
  view.setUint8(8, header.viewport);
  view.setUint8(9, KIND_CODES[header.kind]);
  view.setUint8(10, ENCODING_CODES[header.type]);
  view.setUint8(11, header.level);
  view.setUint32(12, header.frame, true);
  view.setUint16(16, header.item, true);
  view.setUint16(18, 0, true);
  header.rect.forEach((value, i) => view.setFloat32(20 + 4 * i, value, true));
  view.setUint16(36, header.bitmapWidth, true);
  view.setUint16(38, header.bitmapHeight, true);
  view.setUint32(40, data.byteLength, true);
  new Uint8Array(buffer, HEADER_BYTES).set(data);
  return buffer;
}

/**
 * Parses one JSON text message from the server.
 * @param {string} text
 * @returns {{type: string, [key: string]: any}}
 */
export function parseServerMessage(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    throw new ProtocolError('the server sent text that is not JSON');
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    throw new ProtocolError('a server message is a JSON object');
  }
  if (!SERVER_TYPES.has(message.type)) {
    throw new ProtocolError(`unknown server message type ${JSON.stringify(message.type)}`);
  }
  return message;
}

/**
 * @typedef {object} ViewRequest
 * @property {number} request
 * @property {number} viewport
 * @property {string} instance           SOP Instance UID
 * @property {number} frame              0-based
 * @property {[number, number, number, number]} region  visible image rectangle
 * @property {number} scale              device pixels per image pixel
 * @property {[number, number] | null} [window]  [center, width]; null: the file's own (voi)
 * @property {number} [voi]
 * @property {string | null} [function]
 * @property {boolean} [invert]
 * @property {'interactive'|'diagnostic'} [quality]
 * @property {Array<[string, number]>} [prefetch]
 * @property {boolean} [preview]  false: the browser already shows this frame re-mapped to the
 *   new settings (a window drag), so the server sends no coarse preview, tiles first
 */

/**
 * A `view` message, checked so a bug shows here rather than as a server `bad_request`.
 * @param {ViewRequest} request
 */
export function viewMessage(request) {
  requestId(request.request);
  viewportIndex(request.viewport);
  uid(request.instance);
  frameIndex(request.frame);
  const region = request.region;
  if (!Array.isArray(region) || region.length !== 4 || !region.every(Number.isFinite)) {
    throw new RangeError('region is [x, y, width, height]');
  }
  if (region[2] <= 0 || region[3] <= 0) throw new RangeError('region is empty');
  if (!Number.isFinite(request.scale) || request.scale <= 0) {
    throw new RangeError('scale must be a positive number');
  }
  const window = request.window ?? null;
  if (window !== null) {
    if (!Array.isArray(window) || window.length !== 2 || !window.every(Number.isFinite)) {
      throw new RangeError('window is [center, width]');
    }
    // PS3.3 C.11.2.1.2.1: Window Width shall be ≥ 1 (LINEAR) or > 0 (LINEAR_EXACT).
    if (window[1] <= 0) throw new RangeError('window width must be positive');
  }
  const fn = request.function ?? null;
  if (fn !== null && !FUNCTIONS.has(fn)) throw new RangeError(`unknown VOI LUT function ${fn}`);
  const quality = request.quality ?? 'interactive';
  if (!QUALITIES.has(quality)) throw new RangeError(`unknown quality ${quality}`);
  const prefetch = request.prefetch ?? [];
  for (const entry of prefetch) {
    uid(entry[0]);
    frameIndex(entry[1]);
  }
  if (request.preview !== undefined && typeof request.preview !== 'boolean') {
    throw new RangeError('preview is true or false');
  }
  return {
    type: 'view',
    request: request.request,
    viewport: request.viewport,
    instance: request.instance,
    frame: request.frame,
    region: region.map((v) => Math.round(v * 1000) / 1000),
    scale: request.scale,
    window,
    voi: request.voi ?? 0,
    function: fn,
    invert: Boolean(request.invert),
    quality,
    prefetch,
    // Sent only when false: a view without the field is the protocol's v1 view.
    ...(request.preview === false ? { preview: false } : {}),
  };
}

/** The most frames one `previews` request may list (PROTOCOL.md). */
export const MAX_STACK_PREVIEWS = 512;

/**
 * A `previews` message: whole-frame previews of a stack, nearest first, at low priority.
 * @param {{request: number, viewport: number, items: Array<[string, number]>,
 *          window?: [number, number] | null, voi?: number, function?: string | null, invert?: boolean}} request
 */
export function previewsMessage(request) {
  requestId(request.request);
  viewportIndex(request.viewport);
  if (!Array.isArray(request.items) || request.items.length > MAX_STACK_PREVIEWS) {
    throw new RangeError(`items is a list of at most ${MAX_STACK_PREVIEWS} [instance, frame] pairs`);
  }
  for (const entry of request.items) {
    uid(entry[0]);
    frameIndex(entry[1]);
  }
  const window = request.window ?? null;
  if (window !== null && (!Array.isArray(window) || window.length !== 2 || !window.every(Number.isFinite) || window[1] <= 0)) {
    throw new RangeError('window is [center, width] with a positive width');
  }
  const fn = request.function ?? null;
  if (fn !== null && !FUNCTIONS.has(fn)) throw new RangeError(`unknown VOI LUT function ${fn}`);
  return {
    type: 'previews',
    request: request.request,
    viewport: request.viewport,
    items: request.items,
    window,
    voi: request.voi ?? 0,
    function: fn,
    invert: Boolean(request.invert),
  };
}

/** @param {string} study */
export function openStudyMessage(study) {
  return { type: 'open_study', study: uid(study) };
}

/** @param {number} viewport */
export function cancelMessage(viewport) {
  return { type: 'cancel', viewport: viewportIndex(viewport) };
}

/**
 * @param {number} request
 * @param {string} instance
 * @param {number} frame
 */
export function frameInfoMessage(request, instance, frame) {
  return {
    type: 'frame_info',
    request: requestId(request),
    instance: uid(instance),
    frame: frameIndex(frame),
  };
}

/**
 * @param {number} request
 * @param {string} instance
 * @param {number} frame
 * @param {{kind: string, [key: string]: any}} shape  in image coordinates (see PROTOCOL.md)
 */
export function measureMessage(request, instance, frame, shape) {
  if (!shape || !SHAPE_KINDS.has(shape.kind)) {
    throw new RangeError(`unknown measurement shape ${shape && shape.kind}`);
  }
  return {
    type: 'measure',
    request: requestId(request),
    instance: uid(instance),
    frame: frameIndex(frame),
    shape,
  };
}

export function pingMessage() {
  return { type: 'ping' };
}

/** @param {unknown} value */
function requestId(value) {
  if (!Number.isSafeInteger(value) || /** @type {number} */ (value) < 1) {
    throw new RangeError('request ids are positive integers');
  }
  return /** @type {number} */ (value);
}

/** @param {unknown} value */
function viewportIndex(value) {
  if (!Number.isInteger(value) || /** @type {number} */ (value) < 0 || /** @type {number} */ (value) >= MAX_VIEWPORTS) {
    throw new RangeError(`viewport must be 0–${MAX_VIEWPORTS - 1}`);
  }
  return /** @type {number} */ (value);
}

/** @param {unknown} value */
function frameIndex(value) {
  if (!Number.isInteger(value) || /** @type {number} */ (value) < 0) {
    throw new RangeError('frame numbers are 0-based integers');
  }
  return /** @type {number} */ (value);
}

/**
 * PS3.5 9.1: a UID is digits and dots, at most 64 characters.
 * @param {unknown} value
 */
function uid(value) {
  if (typeof value !== 'string' || !/^[0-9.]{1,64}$/.test(value)) {
    throw new RangeError(`${JSON.stringify(value)} is not a UID`);
  }
  return value;
}
