/**
 * Whether a viewport's rendering settings (window, VOI, invert) are on the move: a window
 * drag changes them on every pointer move, and each `view` carried a prefetch of twelve
 * neighbouring images rendered with a window the reader was only passing through. The server
 * rendered them between the drag's views and the browser decoded them, on the same two cores
 * as the drag itself (bench, interleaved A/B on a loaded 2-core machine: 15.1 -> 20.8 window
 * updates shown per second). While the settings move, views ask for no prefetch and go to the
 * server at most every MOVING_VIEW_MS (viewer.js); once they rest the stack's previews with
 * the final settings follow (viewer.js SETTINGS_REST_MS).
 *
 * No DOM; unit-tested with node.
 * @module viewer/settings-motion
 */

export class SettingsMotion {
  #restMs;
  /** @type {Map<number, {image: string, renderKey: string, at: number}>} */
  #last = new Map();

  /** @param {number} restMs  settings unchanged this long are at rest */
  constructor(restMs) {
    this.#restMs = restMs;
  }

  /**
   * Notes a view of `image` with `renderKey` asked for at `now` (ms); whether it changed the
   * settings of the same image as the viewport's previous one, less than `restMs` before.
   * @param {number} viewport
   * @param {string} image      instance/frame
   * @param {string} renderKey  the settings (request-ledger.js renderKey)
   * @param {number} now
   */
  moving(viewport, image, renderKey, now) {
    const last = this.#last.get(viewport);
    this.#last.set(viewport, { image, renderKey, at: now });
    return Boolean(last && last.image === image && last.renderKey !== renderKey && now - last.at < this.#restMs);
  }

  /** @param {number} viewport  emptied or reset: its next view starts afresh */
  forget(viewport) {
    this.#last.delete(viewport);
  }
}
