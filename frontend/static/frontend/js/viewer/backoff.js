/**
 * Reconnect delays: exponential backoff with jitter, so a restarted server is not hit by every
 * open viewer at the same instant, and a flapping network does not spin.
 *
 * No DOM, no timers (the caller schedules); unit-tested with node.
 * @module viewer/backoff
 */

export class Backoff {
  #initial;
  #max;
  #factor;
  #jitter;
  #random;
  #attempts = 0;

  /**
   * @param {{initial?: number, max?: number, factor?: number, jitter?: number, random?: () => number}} [options]
   *   delays in ms; jitter is the ± share of each delay drawn at random
   */
  constructor({ initial = 500, max = 15000, factor = 2, jitter = 0.2, random = Math.random } = {}) {
    if (!(initial > 0) || !(max >= initial) || !(factor >= 1) || !(jitter >= 0 && jitter < 1)) {
      throw new RangeError('backoff needs 0 < initial ≤ max, factor ≥ 1 and 0 ≤ jitter < 1');
    }
    this.#initial = initial;
    this.#max = max;
    this.#factor = factor;
    this.#jitter = jitter;
    this.#random = random;
  }

  /** Failed attempts since the last success. */
  get attempts() {
    return this.#attempts;
  }

  /** The delay before the next attempt (ms); each call counts one more failed attempt. */
  next() {
    const base = Math.min(this.#max, this.#initial * this.#factor ** this.#attempts);
    this.#attempts += 1;
    const spread = base * this.#jitter * (2 * this.#random() - 1);
    return Math.round(Math.min(this.#max, Math.max(0, base + spread)));
  }

  /** A connection succeeded: start again from the initial delay. */
  reset() {
    this.#attempts = 0;
  }
}
