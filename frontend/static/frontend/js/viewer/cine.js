/**
 * Cine: steps the active viewport through its stack at a chosen frame rate, looping. Frames
 * the server has not delivered yet are skipped rather than waited for (latest wins), and the
 * preview cache fills up ahead through prefetch, so the loop settles at the chosen rate.
 * Timers are injectable for tests.
 * @module viewer/cine
 */

export const MIN_FPS = 1;
export const MAX_FPS = 60;

export class Cine {
  #onTick;
  #onState;
  #timers;
  #fps = 10;
  /** @type {any} */
  #timer = null;
  #next = 0;

  /**
   * @param {{onTick: () => boolean, onState?: (playing: boolean) => void,
   *          timers?: {set: typeof setTimeout, clear: typeof clearTimeout, now: () => number}}} options
   *   onTick advances one frame; returning false stops the cine (nothing to play)
   */
  constructor({ onTick, onState, timers }) {
    this.#onTick = onTick;
    this.#onState = onState;
    this.#timers = timers ?? {
      set: (/** @type {() => void} */ fn, /** @type {number} */ ms) => setTimeout(fn, ms),
      clear: (/** @type {any} */ id) => clearTimeout(id),
      now: () => performance.now(),
    };
  }

  get playing() {
    return this.#timer !== null;
  }

  get fps() {
    return this.#fps;
  }

  /** @param {number} value  frames per second, clamped to 1–60 */
  set fps(value) {
    const fps = Number(value);
    if (!Number.isFinite(fps)) return;
    this.#fps = Math.min(MAX_FPS, Math.max(MIN_FPS, Math.round(fps)));
  }

  play() {
    if (this.playing) return;
    this.#next = this.#timers.now();
    this.#schedule();
    this.#onState?.(true);
  }

  stop() {
    if (!this.playing) return;
    this.#timers.clear(this.#timer);
    this.#timer = null;
    this.#onState?.(false);
  }

  toggle() {
    if (this.playing) this.stop();
    else this.play();
  }

  #schedule() {
    // Aim at fixed instants so timer lateness does not slow the loop down.
    this.#next += 1000 / this.#fps;
    const now = this.#timers.now();
    if (this.#next < now) this.#next = now;
    this.#timer = this.#timers.set(() => this.#tick(), this.#next - now);
  }

  #tick() {
    if (!this.#onTick()) {
      this.#timer = null;
      this.#onState?.(false);
      return;
    }
    this.#schedule();
  }
}
