/**
 * The viewer's websocket (PROTOCOL.md): JSON text one way, JSON or binary pixels the other;
 * reconnects with backoff when the connection drops, and tells its owner so the owner can
 * resume (open the study again, re-send each viewport's current view).
 *
 * A dead connection is not always reported by the browser (a sleeping tablet, a NAT that
 * forgot us), so a `ping` goes out when the socket has been quiet and the socket is closed
 * and reopened when not even a `pong` comes back.
 *
 * The WebSocket class and the timers are injectable so node tests can drive it.
 * @module viewer/socket
 */

import { Backoff } from './backoff.js';
import { ProtocolError, parseServerMessage, pingMessage } from './protocol.js';

/**
 * @typedef {'connecting'|'open'|'waiting'|'closed'} SocketState
 *   waiting: disconnected, a reconnect is scheduled
 */

/**
 * @typedef {object} SocketHandlers
 * @property {(resumed: boolean, adopted: boolean) => void} [onOpen]
 *   connected (resumed: not the first time; adopted: on the socket given as `adopt`)
 * @property {(message: {type: string, [key: string]: any}) => void} [onMessage]
 * @property {(buffer: ArrayBuffer) => void} [onBinary]
 * @property {(state: SocketState, detail: {retryIn?: number, attempts: number}) => void} [onState]
 * @property {(error: Error) => void} [onProtocolError]
 */

export class ViewerSocket {
  #url;
  #handlers;
  #WebSocket;
  #timers;
  #backoff;
  #quietMs;
  #pongMs;
  /** @type {WebSocket | null} */
  #ws = null;
  /** @type {SocketState} */
  #state = 'closed';
  #openedOnce = false;
  #stopped = false;
  /** @type {any} */
  #retryTimer = null;
  /** @type {any} */
  #heartbeatTimer = null;
  #pingSentAt = 0;
  /** @type {{ws: any, heard: Array<string | ArrayBuffer>} | null} a socket opened before us */
  #adopted = null;
  /** @type {any} */
  #adoptedWs = null;

  /**
   * @param {string} url  ws:// or wss:// URL of the viewer socket
   * @param {SocketHandlers} handlers
   * @param {{WebSocket?: any, timers?: {set: typeof setTimeout, clear: typeof clearTimeout, now: () => number},
   *          backoff?: Backoff, quietMs?: number, pongMs?: number,
   *          adopt?: {ws: any, heard: Array<string | ArrayBuffer>}}} [options]
   *   adopt: a socket to this URL opened earlier (boot.js) and the messages it has already
   *   received; the first connect() uses it (replaying those messages after onOpen)
   *   instead of opening another
   */
  constructor(url, handlers, options = {}) {
    this.#url = url;
    this.#handlers = handlers;
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.#timers = options.timers ?? {
      set: (/** @type {() => void} */ fn, /** @type {number} */ ms) => setTimeout(fn, ms),
      clear: (/** @type {any} */ id) => clearTimeout(id),
      now: () => Date.now(),
    };
    this.#backoff = options.backoff ?? new Backoff();
    this.#quietMs = options.quietMs ?? 20000;
    this.#pongMs = options.pongMs ?? 10000;
    this.#adopted = options.adopt ?? null;
    this.#adoptedWs = this.#adopted?.ws ?? null;
  }

  /** @returns {SocketState} */
  get state() {
    return this.#state;
  }

  get isOpen() {
    return this.#state === 'open';
  }

  /** Open the connection (and keep it open until close()). */
  connect() {
    this.#stopped = false;
    if (this.#ws) return;
    this.#timers.clear(this.#retryTimer);
    this.#retryTimer = null;
    this.#setState('connecting');
    const adopted = this.#adopted;
    this.#adopted = null;
    let ws;
    try {
      ws = adopted?.ws ?? new this.#WebSocket(this.#url);
    } catch (error) {
      this.#handlers.onProtocolError?.(/** @type {Error} */ (error));
      this.#scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    ws.onopen = () => {
      if (ws !== this.#ws) return;
      const resumed = this.#openedOnce;
      this.#openedOnce = true;
      this.#backoff.reset();
      this.#heard();
      this.#setState('open');
      this.#handlers.onOpen?.(resumed, ws === this.#adoptedWs);
    };
    ws.onmessage = (/** @type {MessageEvent} */ event) => {
      if (ws !== this.#ws) return;
      this.#heard();
      if (typeof event.data === 'string') {
        let message;
        try {
          message = parseServerMessage(event.data);
        } catch (error) {
          this.#handlers.onProtocolError?.(/** @type {Error} */ (error));
          return;
        }
        if (message.type === 'pong') return;
        this.#handlers.onMessage?.(message);
      } else if (event.data instanceof ArrayBuffer) {
        this.#handlers.onBinary?.(event.data);
      } else {
        this.#handlers.onProtocolError?.(new ProtocolError('binary messages must arrive as ArrayBuffer'));
      }
    };
    ws.onclose = () => {
      if (ws !== this.#ws) return;
      this.#ws = null;
      this.#stopHeartbeat();
      if (this.#stopped) {
        this.#setState('closed');
      } else {
        this.#scheduleReconnect();
      }
    };
    // An error is always followed by close; reconnecting happens there.
    ws.onerror = () => {};
    if (adopted) this.#resumeAdopted(ws, adopted.heard);
  }

  /**
   * An adopted socket may already be open, and have heard messages: play them as if they
   * arrived now, after `onOpen` (so its owner knows it is connected); or already closed.
   * @param {any} ws
   * @param {Array<string | ArrayBuffer>} heard
   */
  #resumeAdopted(ws, heard) {
    const OPEN = 1;
    const CLOSING = 2;
    if (ws.readyState === OPEN) ws.onopen();
    for (const data of heard) {
      if (ws !== this.#ws) return;
      ws.onmessage({ data });
    }
    if (ws.readyState >= CLOSING && ws === this.#ws) ws.onclose();
  }

  /**
   * Sends a JSON message; false when the socket is not open (the caller re-sends on resume).
   * @param {object} message
   */
  send(message) {
    if (!this.#ws || this.#state !== 'open') return false;
    this.#ws.send(JSON.stringify(message));
    return true;
  }

  /** Drop the connection now and reconnect (after the backoff delay). */
  drop() {
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = null;
    this.#stopHeartbeat();
    try {
      ws.close();
    } catch {
      // Already closing.
    }
    this.#scheduleReconnect();
  }

  /** Close for good (page unload); no reconnect. */
  close() {
    this.#stopped = true;
    this.#timers.clear(this.#retryTimer);
    this.#retryTimer = null;
    this.#stopHeartbeat();
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      try {
        ws.close(1000, 'page closed');
      } catch {
        // Already closing.
      }
    }
    this.#setState('closed');
  }

  #scheduleReconnect() {
    if (this.#stopped) return;
    const delay = this.#backoff.next();
    this.#setState('waiting', delay);
    this.#retryTimer = this.#timers.set(() => {
      this.#retryTimer = null;
      this.connect();
    }, delay);
  }

  #heard() {
    this.#pingSentAt = 0;
    this.#stopHeartbeat();
    this.#heartbeatTimer = this.#timers.set(() => this.#checkAlive(), this.#quietMs);
  }

  #checkAlive() {
    this.#heartbeatTimer = null;
    if (!this.#ws || this.#state !== 'open') return;
    if (this.#pingSentAt === 0) {
      this.#pingSentAt = this.#timers.now();
      this.send(pingMessage());
      this.#heartbeatTimer = this.#timers.set(() => this.#checkAlive(), this.#pongMs);
      return;
    }
    // Nothing at all since the ping, not even the pong: the connection is gone.
    this.drop();
  }

  #stopHeartbeat() {
    if (this.#heartbeatTimer !== null) this.#timers.clear(this.#heartbeatTimer);
    this.#heartbeatTimer = null;
  }

  /**
   * @param {SocketState} state
   * @param {number} [retryIn]
   */
  #setState(state, retryIn) {
    this.#state = state;
    this.#handlers.onState?.(state, { retryIn, attempts: this.#backoff.attempts });
  }
}
