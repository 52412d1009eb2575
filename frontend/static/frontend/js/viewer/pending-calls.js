/**
 * Request/answer pairs over the socket (`frame_info` → `frame_info`, `measure` →
 * `measurement`): a promise per request id, settled by the answer, an `error` with that id, a
 * timeout, or the socket closing.
 *
 * Timers come from the caller so tests run without waiting; unit-tested with node.
 * @module viewer/pending-calls
 */

/** The server answered a request with an `error` message. */
export class CallError extends Error {
  name = 'CallError';

  /**
   * @param {string} message
   * @param {string} code  the protocol's error code, or `timeout` / `disconnected`
   */
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

export class PendingCalls {
  /** @type {Map<number, {resolve: (value: any) => void, reject: (error: Error) => void, timer: any}>} */
  #pending = new Map();
  #timeout;
  #setTimer;
  #clearTimer;

  /**
   * @param {{timeout?: number, setTimer?: typeof setTimeout, clearTimer?: typeof clearTimeout}} [options]
   */
  constructor({
    timeout = 30000,
    // Wrapped: browsers refuse setTimeout called as a method of another object.
    setTimer = (fn, ms) => setTimeout(fn, ms),
    clearTimer = (id) => clearTimeout(id),
  } = {}) {
    this.#timeout = timeout;
    this.#setTimer = setTimer;
    this.#clearTimer = clearTimer;
  }

  get size() {
    return this.#pending.size;
  }

  /**
   * Waits for the answer to request `id`.
   * @param {number} id
   * @returns {Promise<any>}
   */
  expect(id) {
    return new Promise((resolve, reject) => {
      const timer = this.#setTimer(() => {
        this.#pending.delete(id);
        reject(new CallError('the server did not answer in time', 'timeout'));
      }, this.#timeout);
      this.#pending.set(id, { resolve, reject, timer });
    });
  }

  /**
   * Settles the call of `message.request` with an answer or an error message.
   * @param {{type: string, request?: number | null, code?: string, message?: string}} message
   * @returns {boolean} whether a call was waiting for it
   */
  settle(message) {
    if (typeof message.request !== 'number') return false;
    const call = this.#pending.get(message.request);
    if (!call) return false;
    this.#pending.delete(message.request);
    this.#clearTimer(call.timer);
    if (message.type === 'error') {
      call.reject(new CallError(message.message || 'the request failed', message.code || 'server_error'));
    } else {
      call.resolve(message);
    }
    return true;
  }

  /**
   * Fails every waiting call (the socket closed: their answers will never come).
   * @param {string} reason
   */
  failAll(reason) {
    for (const [id, call] of this.#pending) {
      this.#clearTimer(call.timer);
      call.reject(new CallError(reason, 'disconnected'));
      this.#pending.delete(id);
    }
  }
}
