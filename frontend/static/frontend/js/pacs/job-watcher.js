/**
 * Follows one retrieve job until it ends, by asking `/pacs/jobs/<id>` every
 * `interval` ms. Polling, not the channel layer: with the default in-memory layer the
 * worker's progress messages never leave the worker's process (studies/pacs/progress.py),
 * and the job row is the truth either way. Timers are injected so node can test it.
 * @module pacs/job-watcher
 */

import { isActive } from './remote-format.js';

/** Polls while a job is active; 1.5 s is live enough for a progress bar and light on the server. */
export const POLL_MS = 1500;
/** After a failed poll, wait longer each time, up to this. */
export const MAX_BACKOFF_MS = 15000;

/**
 * @typedef {object} WatcherOptions
 * @property {(id: number) => Promise<import('./remote-format.js').Job>} fetchJob
 * @property {(job: import('./remote-format.js').Job) => void} onUpdate
 * @property {(error: Error) => void} [onError]   a poll failed; polling goes on
 * @property {number} [interval]
 * @property {(fn: () => void, ms: number) => any} [setTimer]
 * @property {(handle: any) => void} [clearTimer]
 */

export class JobWatcher {
  #fetchJob;
  #onUpdate;
  #onError;
  #interval;
  #setTimer;
  #clearTimer;
  /** @type {any} */
  #timer = null;
  #id = 0;
  #failures = 0;
  #stopped = true;

  /** @param {WatcherOptions} options */
  constructor({ fetchJob, onUpdate, onError, interval = POLL_MS, setTimer, clearTimer }) {
    this.#fetchJob = fetchJob;
    this.#onUpdate = onUpdate;
    this.#onError = onError ?? (() => {});
    this.#interval = interval;
    this.#setTimer = setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.#clearTimer = clearTimer ?? ((handle) => clearTimeout(handle));
  }

  /** Whether the watcher is still polling. */
  get watching() {
    return !this.#stopped;
  }

  /**
   * Shows `job` now and follows it while it is active.
   * @param {import('./remote-format.js').Job} job
   */
  watch(job) {
    this.stop();
    this.#id = job.id;
    this.#failures = 0;
    this.#stopped = false;
    this.#apply(job);
  }

  /** Asks again now (after a cancel, say) instead of at the next tick. */
  refresh() {
    if (this.#stopped) return;
    this.#clearTimer(this.#timer);
    this.#poll();
  }

  stop() {
    this.#stopped = true;
    this.#clearTimer(this.#timer);
    this.#timer = null;
  }

  /** @param {import('./remote-format.js').Job} job */
  #apply(job) {
    if (this.#stopped || job.id !== this.#id) return;
    this.#onUpdate(job);
    if (isActive(job)) this.#schedule(this.#interval);
    else this.stop();
  }

  /** @param {number} ms */
  #schedule(ms) {
    this.#clearTimer(this.#timer);
    this.#timer = this.#setTimer(() => this.#poll(), ms);
  }

  async #poll() {
    const id = this.#id;
    try {
      const job = await this.#fetchJob(id);
      if (id !== this.#id) return;
      this.#failures = 0;
      this.#apply(job);
    } catch (error) {
      if (this.#stopped || id !== this.#id) return;
      this.#failures += 1;
      this.#onError(/** @type {Error} */ (error));
      this.#schedule(Math.min(MAX_BACKOFF_MS, this.#interval * 2 ** this.#failures));
    }
  }
}
