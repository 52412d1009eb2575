/**
 * One call for a burst of events, and at least one every `ms` while they keep coming.
 *
 * Debouncing (restarting the timer on every event) never fires while events arrive faster
 * than its delay: a modality storing one image every 250 ms would never refresh a 500 ms
 * debounced outline. Here the first event of a burst starts the timer; later ones ride on it.
 * Timers are injected so node can test it.
 * @module viewer/coalesce
 */

export class Coalescer {
  #fn;
  #ms;
  #setTimer;
  #clearTimer;
  /** @type {any} */
  #timer = null;

  /**
   * @param {() => void} fn
   * @param {number} ms
   * @param {{ setTimer?: (fn: () => void, ms: number) => any, clearTimer?: (handle: any) => void }} [timers]
   */
  constructor(fn, ms, { setTimer, clearTimer } = {}) {
    this.#fn = fn;
    this.#ms = ms;
    this.#setTimer = setTimer ?? ((callback, delay) => setTimeout(callback, delay));
    this.#clearTimer = clearTimer ?? ((handle) => clearTimeout(handle));
  }

  /** An event: `fn` runs at most `ms` from now (and not again for this burst's events so far). */
  poke() {
    if (this.#timer !== null) return;
    this.#timer = this.#setTimer(() => {
      this.#timer = null;
      this.#fn();
    }, this.#ms);
  }

  /** Forget a pending call (the viewer closed). */
  cancel() {
    if (this.#timer !== null) this.#clearTimer(this.#timer);
    this.#timer = null;
  }
}
