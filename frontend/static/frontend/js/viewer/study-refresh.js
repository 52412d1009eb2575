/**
 * Keeps the open study's outline fresh when the server cannot tell us it changed.
 *
 * Instances arriving from a PACS are announced on the channel layer (`instance_stored`), but
 * with the default in-memory layer a retrieve worker in its own process is never heard by
 * the web process. So the viewer also asks itself: every `activeMs` while a retrieve of this
 * study is queued or running (`/pacs/jobs/?study=&active=1`), every `idleMs` otherwise, it
 * re-requests the outline (`open_study`, PROTOCOL.md), and the series browser and stacks
 * are updated in place. Timers are injected so node can test it.
 * @module viewer/study-refresh
 */

/** While a retrieve of this study runs: often enough that images appear as they land. */
export const ACTIVE_MS = 2000;
/** Otherwise: cheap (the outline is three queries) and soon enough for a late arrival. */
export const IDLE_MS = 12000;

/**
 * @typedef {object} RefreshOptions
 * @property {() => Promise<boolean>} activeRetrieve  whether a retrieve of the study is active
 * @property {() => void} refresh                     re-request the outline
 * @property {() => boolean} [visible]                 false while the page is hidden: skip the work
 * @property {number} [activeMs]
 * @property {number} [idleMs]
 * @property {(fn: () => void, ms: number) => any} [setTimer]
 * @property {(handle: any) => void} [clearTimer]
 */

export class StudyRefresh {
  #activeRetrieve;
  #refresh;
  #visible;
  #activeMs;
  #idleMs;
  #setTimer;
  #clearTimer;
  /** @type {any} */
  #timer = null;
  #running = false;
  #active = false;

  /** @param {RefreshOptions} options */
  constructor({ activeRetrieve, refresh, visible, activeMs = ACTIVE_MS, idleMs = IDLE_MS, setTimer, clearTimer }) {
    this.#activeRetrieve = activeRetrieve;
    this.#refresh = refresh;
    this.#visible = visible ?? (() => true);
    this.#activeMs = activeMs;
    this.#idleMs = idleMs;
    this.#setTimer = setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.#clearTimer = clearTimer ?? ((handle) => clearTimeout(handle));
  }

  /** Whether the last check found a retrieve of the study under way. */
  get retrieving() {
    return this.#active;
  }

  /** Starts with a check now (the page may have been opened mid-retrieve). */
  start() {
    if (this.#running) return;
    this.#running = true;
    this.#tick(false);
  }

  stop() {
    this.#running = false;
    this.#clearTimer(this.#timer);
    this.#timer = null;
  }

  /** @param {boolean} refresh  whether to re-request the outline on this tick */
  async #tick(refresh) {
    if (!this.#running) return;
    const wasActive = this.#active;
    if (this.#visible()) {
      try {
        this.#active = await this.#activeRetrieve();
      } catch {
        // Unknown: keep the pace we had; the outline is still worth asking for.
      }
      if (!this.#running) return;
      // One last refresh when a retrieve just ended, so its final instances show.
      if (refresh || (wasActive && !this.#active)) this.#refresh();
    }
    this.#clearTimer(this.#timer);
    this.#timer = this.#setTimer(() => this.#tick(true), this.#active ? this.#activeMs : this.#idleMs);
  }
}
