/**
 * The pictures a viewport draws for its current image, bottom to top: the whole-frame
 * preview, then tiles from coarse to fine pyramid levels, then the lossless region
 * (PROTOCOL.md: preview → tiles → lossless). Each covers an image rectangle; the viewport
 * draws them with its view transform, so a coarse preview fills the frame at once and sharper
 * pixels replace it where they arrive.
 *
 * Pictures belong to a display key (instance, frame, rendering settings). Pictures of a new
 * key replace the old ones only when they arrive, so scrolling or a window drag never blanks
 * the viewport while the next image is on its way.
 *
 * Bitmaps are opaque here (anything with an optional close()); no DOM, unit-tested with node.
 * @module viewer/layer-stack
 */

/**
 * @typedef {object} Layer
 * @property {{close?: () => void}} bitmap
 * @property {[number, number, number, number]} rect   image rectangle covered
 * @property {'preview'|'tile'|'lossless'} kind
 * @property {number} level                             pyramid level (0 = full resolution)
 * @property {boolean} [shared]                         owned by a cache: never closed here
 */

const KIND_ORDER = { preview: 0, tile: 1, lossless: 2 };
const MAX_LAYERS = 400;
const MAX_LOSSLESS = 2;

export class LayerStack {
  /** @type {string | null} */
  #key = null;
  /** @type {Layer[]} */
  #layers = [];

  /** The display key of the pictures held (null when empty). */
  get key() {
    return this.#key;
  }

  get size() {
    return this.#layers.length;
  }

  /** Layers in drawing order (bottom first). */
  get layers() {
    return [...this.#layers].sort(
      (a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || b.level - a.level,
    );
  }

  /**
   * Adds a picture; a picture of another key first clears the stack.
   * @param {string} key
   * @param {Layer} layer
   */
  add(key, layer) {
    if (key !== this.#key) {
      this.clear();
      this.#key = key;
    }
    // A picture of the same rectangle and resolution supersedes the older one.
    const same = this.#layers.findIndex(
      (l) => l.kind === layer.kind && l.level === layer.level && sameRect(l.rect, layer.rect),
    );
    if (same >= 0) this.#release(this.#layers.splice(same, 1)[0]);
    if (layer.kind === 'preview') {
      for (const old of this.#layers.filter((l) => l.kind === 'preview')) this.#remove(old);
    }
    this.#layers.push(layer);
    if (layer.kind === 'lossless') {
      const lossless = this.#layers.filter((l) => l.kind === 'lossless');
      for (const old of lossless.slice(0, Math.max(0, lossless.length - MAX_LOSSLESS))) this.#remove(old);
    }
    while (this.#layers.length > MAX_LAYERS) {
      const oldest = this.#layers.find((l) => l.kind !== 'preview');
      if (!oldest) break;
      this.#remove(oldest);
    }
  }

  /** Forget every picture (closing the ones this stack owns). */
  clear() {
    for (const layer of this.#layers) this.#release(layer);
    this.#layers = [];
    this.#key = null;
  }

  /** @param {Layer} layer */
  #remove(layer) {
    const index = this.#layers.indexOf(layer);
    if (index >= 0) this.#layers.splice(index, 1);
    this.#release(layer);
  }

  /** @param {Layer} layer */
  #release(layer) {
    if (!layer.shared) layer.bitmap.close?.();
  }
}

/**
 * @param {number[]} a
 * @param {number[]} b
 */
function sameRect(a, b) {
  return a.every((v, i) => Math.abs(v - b[i]) < 1e-3);
}

/**
 * The display key of a picture: what it shows and how it was rendered.
 * @param {string} instance
 * @param {number} frame
 * @param {string} renderKey
 */
export function displayKey(instance, frame, renderKey) {
  return `${instance}/${frame}|${renderKey}`;
}
