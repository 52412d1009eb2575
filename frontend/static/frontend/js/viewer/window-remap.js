/**
 * Immediate window/level feedback: the 8-bit picture on screen, rendered by the server with
 * one VOI window, re-mapped to another window in the browser while the server renders the
 * new one (which then replaces it). A window drag thus answers every pointer move at once
 * instead of once per round trip.
 *
 * The math inverts the first window and applies the second (PS3.3 C.11.2.1.2.1 LINEAR,
 * C.11.2.1.3.1 SIGMOID, C.11.2.1.3.2 LINEAR_EXACT), per display value 0–255, so it is one
 * 256-entry table per move. It is exact inside the first window's range up to its 8-bit
 * quantisation; values the first window clipped to black or white stay at its edges, which
 * is why the server's rendering still follows. VOI LUT tables and colour images are not
 * re-mapped (effectiveVoi answers null): the viewer waits for the server as before.
 *
 * No DOM; unit-tested with node.
 * @module viewer/window-remap
 */

/**
 * @typedef {object} EffectiveVoi
 * @property {number} center
 * @property {number} width
 * @property {'LINEAR'|'LINEAR_EXACT'|'SIGMOID'} fn
 * @property {boolean} invert   whether the displayed picture is inverted (MONOCHROME1 xor invert)
 */

const FUNCTIONS = new Set(['LINEAR', 'LINEAR_EXACT', 'SIGMOID']);

/**
 * The VOI transform the server applies for these settings, from the frame's information.
 * @param {{window: [number, number] | null, voi: number, invert: boolean}} settings
 * @param {any} frameInfo  the `frame_info` answer (vois, default_window, default_function, inverted, is_color)
 * @returns {EffectiveVoi | null}  null when the picture cannot be re-mapped
 */
export function effectiveVoi(settings, frameInfo) {
  if (!frameInfo || frameInfo.is_color) return null;
  const vois = Array.isArray(frameInfo.vois) ? frameInfo.vois : [];
  // A window the client chose takes the file's VOI LUT Function (the server does the same).
  const fileFunction = vois.find((v) => v && v.kind === 'window')?.function ?? 'LINEAR';
  let center;
  let width;
  let fn;
  if (settings.window) {
    [center, width] = settings.window;
    fn = fileFunction;
  } else if ((settings.voi ?? 0) === 0 && Array.isArray(frameInfo.default_window)) {
    [center, width] = frameInfo.default_window;
    fn = frameInfo.default_function ?? fileFunction;
  } else {
    const option = vois[settings.voi ?? 0];
    if (!option || option.kind !== 'window') return null;
    center = option.center;
    width = option.width;
    fn = option.function ?? 'LINEAR';
  }
  fn = String(fn).toUpperCase();
  if (!FUNCTIONS.has(fn) || !Number.isFinite(center) || !Number.isFinite(width) || width <= 0) return null;
  return {
    center,
    width,
    fn: /** @type {EffectiveVoi['fn']} */ (fn),
    invert: Boolean(frameInfo.inverted) !== Boolean(settings.invert),
  };
}

/**
 * VOI output 0..1 of a modality value x.
 * @param {number} x
 * @param {EffectiveVoi} voi
 */
export function voiForward(x, { center: c, width: w, fn }) {
  if (fn === 'SIGMOID') return 1 / (1 + Math.exp((-4 * (x - c)) / w));
  if (fn === 'LINEAR_EXACT') {
    if (x <= c - w / 2) return 0;
    if (x > c + w / 2) return 1;
    return (x - c) / w + 0.5;
  }
  const low = c - 0.5 - (w - 1) / 2;
  const high = c - 0.5 + (w - 1) / 2;
  if (x <= low) return 0;
  if (x > high) return 1;
  return w <= 1 ? 1 : (x - (c - 0.5)) / (w - 1) + 0.5;
}

/**
 * The modality value whose VOI output is y (0..1); at the clipped ends, the window's edge.
 * @param {number} y
 * @param {EffectiveVoi} voi
 */
export function voiInverse(y, { center: c, width: w, fn }) {
  if (fn === 'SIGMOID') {
    const t = Math.min(1 - 1e-6, Math.max(1e-6, y));
    return c - (w / 4) * Math.log(1 / t - 1);
  }
  if (fn === 'LINEAR_EXACT') return c + (y - 0.5) * w;
  return c - 0.5 + (y - 0.5) * Math.max(0, w - 1);
}

/**
 * Display value (0–255) under `from` → display value under `to`.
 * @param {EffectiveVoi} from
 * @param {EffectiveVoi} to
 * @returns {Uint8ClampedArray}  256 entries
 */
export function remapTable(from, to) {
  const table = new Uint8ClampedArray(256);
  for (let v = 0; v < 256; v += 1) {
    const y = (from.invert ? 255 - v : v) / 255;
    const out = voiForward(voiInverse(y, from), to);
    table[v] = Math.round((to.invert ? 1 - out : out) * 255);
  }
  return table;
}

/**
 * Applies a table to RGBA pixels (grey pictures: R = G = B), alpha kept.
 * @param {Uint8ClampedArray} source
 * @param {Uint8ClampedArray} target  same length
 * @param {Uint8ClampedArray} table
 */
export function applyTable(source, target, table) {
  for (let i = 0; i < source.length; i += 4) {
    target[i] = table[source[i]];
    target[i + 1] = table[source[i + 1]];
    target[i + 2] = table[source[i + 2]];
    target[i + 3] = source[i + 3];
  }
}
