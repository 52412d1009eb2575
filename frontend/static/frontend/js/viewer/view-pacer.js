/**
 * At most one `view` in flight per viewport, latest wins (PROTOCOL.md "Latest wins").
 *
 * A window drag or a fast scroll makes a request per animation frame. Sent as they come,
 * each one cancels the one before on the server, so the server starts many views and
 * finishes none while the reader moves, and every cancelled start still costs it a lookup
 * and a render slot. Here a request waits while the viewport's previous one has not shown
 * its first pixels yet; only the newest waiting request is kept, and it leaves as soon as
 * the previous one answers. The rate of requests is thus bounded by the round trip, never
 * queued; the reader still sees every move at once (cached previews, the window re-mapped
 * in the browser: window-remap.js).
 *
 * A request that gets no answer within `patienceMs` (lost in a reconnect, or a slow frame)
 * stops holding the next one back. A request sent as one that `yields` (a `diagnostic` view:
 * the first view of a stack, view-quality.js) holds nothing back: the next request leaves at
 * once and the server cancels the older one (latest wins). A drag or scroll started right
 * after opening a study otherwise waited for the opening view's answer, up to `patienceMs`,
 * with nothing sent. No DOM; the timers are injectable for node tests.
 * @module viewer/view-pacer
 */

/**
 * What a `send` callback returns: the request id (the request holds the next one back until
 * answered), `{id, yields: true}` for a request the next one replaces at once, or null when
 * nothing was sent.
 * @typedef {number | {id: number, yields?: boolean} | null} Sent
 */

export class ViewPacer {
  #patienceMs;
  #timers;
  /** @type {Map<number, {id: number, yields: boolean, timer: any}>} */
  #inFlight = new Map();
  /** @type {Map<number, () => Sent>} */
  #waiting = new Map();

  /**
   * @param {{patienceMs?: number, timers?: {set: typeof setTimeout, clear: typeof clearTimeout}}} [options]
   */
  constructor(options = {}) {
    this.#patienceMs = options.patienceMs ?? 400;
    this.#timers = options.timers ?? {
      set: (/** @type {() => void} */ fn, /** @type {number} */ ms) => setTimeout(fn, ms),
      clear: (/** @type {any} */ id) => clearTimeout(id),
    };
  }

  /**
   * Sends now, or keeps `send` as the viewport's waiting request (replacing an older one).
   * @param {number} viewport
   * @param {() => Sent} send  sends the request: its id, or `{id, yields}`; null if it did not go
   * @returns {boolean} whether it was sent now
   */
  offer(viewport, send) {
    const flight = this.#inFlight.get(viewport);
    if (flight && !flight.yields) {
      this.#waiting.set(viewport, send);
      return false;
    }
    if (flight) this.#timers.clear(flight.timer);
    this.#inFlight.delete(viewport);
    this.#waiting.delete(viewport);
    this.#send(viewport, send);
    return true;
  }

  /**
   * The first pixels, `done` or `error` of request `id` arrived: the viewport's waiting
   * request, if any, leaves now.
   * @param {number} viewport
   * @param {number} id
   */
  answered(viewport, id) {
    const flight = this.#inFlight.get(viewport);
    if (!flight || flight.id !== id) return;
    this.#release(viewport);
  }

  /**
   * Whether the viewport has a request in flight.
   * @param {number} viewport
   */
  busy(viewport) {
    return this.#inFlight.has(viewport);
  }

  /**
   * Forget the viewport's waiting request (cancelled, emptied).
   * @param {number} viewport
   */
  drop(viewport) {
    this.#waiting.delete(viewport);
    const flight = this.#inFlight.get(viewport);
    if (flight) this.#timers.clear(flight.timer);
    this.#inFlight.delete(viewport);
  }

  /** The connection dropped: nothing is in flight any more, nothing waits. */
  reset() {
    for (const flight of this.#inFlight.values()) this.#timers.clear(flight.timer);
    this.#inFlight.clear();
    this.#waiting.clear();
  }

  /**
   * @param {number} viewport
   * @param {() => Sent} send
   */
  #send(viewport, send) {
    const sent = send();
    if (sent === null) return;
    const { id, yields } = typeof sent === 'number' ? { id: sent, yields: false } : sent;
    const timer = this.#timers.set(() => {
      const flight = this.#inFlight.get(viewport);
      if (flight && flight.id === id) this.#release(viewport);
    }, this.#patienceMs);
    this.#inFlight.set(viewport, { id, yields: Boolean(yields), timer });
  }

  /** @param {number} viewport */
  #release(viewport) {
    const flight = this.#inFlight.get(viewport);
    if (flight) this.#timers.clear(flight.timer);
    this.#inFlight.delete(viewport);
    const next = this.#waiting.get(viewport);
    if (next) {
      this.#waiting.delete(viewport);
      this.#send(viewport, next);
    }
  }
}
