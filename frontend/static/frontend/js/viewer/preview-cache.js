/**
 * Whole-frame previews kept for instant scrolling: least recently used entries leave first.
 * Keys are display keys (instance, frame, rendering settings), so a window change never shows
 * a stale picture. Evicted bitmaps are not closed: a viewport may still be drawing one; the
 * garbage collector frees them once nothing refers to them.
 *
 * No DOM; unit-tested with node.
 * @module viewer/preview-cache
 */

/**
 * @typedef {object} CachedPreview
 * @property {any} bitmap
 * @property {[number, number, number, number]} rect
 */

export class PreviewCache {
  #limit;
  /** @type {Map<string, CachedPreview>} */
  #entries = new Map();

  /** @param {number} [limit]  entries kept (a 256² RGBA preview is about 256 KiB decoded) */
  constructor(limit = 160) {
    this.#limit = Math.max(1, Math.floor(limit));
  }

  get size() {
    return this.#entries.size;
  }

  /** @param {string} key */
  has(key) {
    return this.#entries.has(key);
  }

  /**
   * @param {string} key
   * @returns {CachedPreview | undefined}
   */
  get(key) {
    const entry = this.#entries.get(key);
    if (entry) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry;
  }

  /**
   * @param {string} key
   * @param {CachedPreview} entry
   */
  put(key, entry) {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#limit) {
      this.#entries.delete(/** @type {string} */ (this.#entries.keys().next().value));
    }
  }

  clear() {
    this.#entries.clear();
  }
}
