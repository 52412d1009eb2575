/**
 * Whole-frame previews kept for instant scrolling: least recently used entries leave first,
 * bounded in entries and in decoded bytes (a 256² preview is 256 KiB as RGBA). The viewer
 * asks the server for no more previews of a stack than fit (PROTOCOL.md `previews`).
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
  #maxBytes;
  #bytes = 0;
  /** @type {Map<string, CachedPreview>} */
  #entries = new Map();
  /** @type {Map<string, number>} bytes of each entry, as counted when it came in */
  #sizes = new Map();

  /**
   * @param {number} [limit]  entries kept
   * @param {number} [maxBytes]  decoded bytes kept (width × height × 4 per bitmap)
   */
  constructor(limit = 160, maxBytes = Infinity) {
    this.#limit = Math.max(1, Math.floor(limit));
    this.#maxBytes = maxBytes;
  }

  get size() {
    return this.#entries.size;
  }

  /** Decoded bytes held. */
  get bytes() {
    return this.#bytes;
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
    this.#drop(key);
    const size = bytesOf(entry);
    this.#entries.set(key, entry);
    this.#sizes.set(key, size);
    this.#bytes += size;
    while (this.#entries.size > 1 && (this.#entries.size > this.#limit || this.#bytes > this.#maxBytes)) {
      this.#drop(/** @type {string} */ (this.#entries.keys().next().value));
    }
  }

  clear() {
    this.#entries.clear();
    this.#sizes.clear();
    this.#bytes = 0;
  }

  /** @param {string} key */
  #drop(key) {
    if (!this.#entries.delete(key)) return;
    this.#bytes -= this.#sizes.get(key) ?? 0;
    this.#sizes.delete(key);
  }
}

/** @param {CachedPreview} entry */
function bytesOf(entry) {
  const width = Number(entry.bitmap?.width) || 0;
  const height = Number(entry.bitmap?.height) || 0;
  return width * height * 4;
}
