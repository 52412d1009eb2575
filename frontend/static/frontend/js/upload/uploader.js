/**
 * The upload queue: takes files as they are dropped or picked, sends them batch by batch,
 * one request at a time, and reports results and progress as each batch comes back.
 * Knows nothing of the DOM or of fetch: the sender and the listeners are passed in, which
 * keeps it runnable under `node --test`.
 * @module upload/uploader
 */

import { takeBatch, totalBytes } from './batcher.js';
import { failedResults } from './summary.js';

/**
 * @typedef {import('./walk-entries.js').QueuedFile} QueuedFile
 * @typedef {import('./summary.js').FileResult} FileResult
 * @typedef {import('./batcher.js').BatchLimits} BatchLimits
 */

/**
 * @typedef {object} Progress
 * @property {number} sentBytes   bytes of files that have an answer
 * @property {number} totalBytes  bytes of every file queued so far
 * @property {number} sentFiles
 * @property {number} totalFiles
 * @property {boolean} running
 */

/**
 * @callback SendBatch
 * @param {QueuedFile[]} batch
 * @returns {Promise<FileResult[]>}
 */

export class Uploader {
  /** @type {SendBatch} */
  #send;
  /** @type {BatchLimits} */
  #limits;
  /** @type {QueuedFile[]} */
  #queue = [];
  #running = false;
  /** @type {Promise<void>} */
  #drained = Promise.resolve();
  #stopped = '';
  #sentBytes = 0;
  #totalBytes = 0;
  #sentFiles = 0;
  #totalFiles = 0;
  /** @type {(results: FileResult[]) => void} */
  #onResults;
  /** @type {(progress: Progress) => void} */
  #onProgress;
  /** @type {(message: string) => void} */
  #onStop;

  /**
   * @param {object} options
   * @param {SendBatch} options.send
   * @param {BatchLimits} options.limits
   * @param {(results: FileResult[]) => void} [options.onResults]
   * @param {(progress: Progress) => void} [options.onProgress]
   * @param {(message: string) => void} [options.onStop]  the upload cannot go on
   */
  constructor({ send, limits, onResults = () => {}, onProgress = () => {}, onStop = () => {} }) {
    this.#send = send;
    this.#limits = limits;
    this.#onResults = onResults;
    this.#onProgress = onProgress;
    this.#onStop = onStop;
  }

  /** @returns {boolean} whether files are still waiting or in flight */
  get busy() {
    return this.#running || this.#queue.length > 0;
  }

  /**
   * Queues files and starts sending if idle. Resolves when the queue is empty again.
   * @param {QueuedFile[]} files
   * @returns {Promise<void>}
   */
  add(files) {
    if (this.#stopped) {
      this.#onResults(failedResults(files, this.#stopped));
      return Promise.resolve();
    }
    this.#queue.push(...files);
    this.#totalFiles += files.length;
    this.#totalBytes += totalBytes(files);
    this.#reportProgress();
    if (!this.#running) {
      // The running loop picks up files added while it works, so one promise covers all.
      this.#drained = this.#drain();
    }
    return this.#drained;
  }

  async #drain() {
    this.#running = true;
    this.#reportProgress();
    try {
      while (this.#queue.length > 0 && !this.#stopped) {
        const { batch, rest, oversize } = takeBatch(this.#queue, this.#limits);
        this.#queue = rest;
        if (oversize.length > 0) {
          this.#finish(oversize, failedResults(oversize, 'larger than the upload request limit'));
        }
        if (batch.length > 0) {
          await this.#sendOne(batch);
        }
      }
    } finally {
      this.#running = false;
      this.#reportProgress();
    }
  }

  /** @param {QueuedFile[]} batch */
  async #sendOne(batch) {
    let results;
    try {
      results = await this.#send(batch);
    } catch (error) {
      const message = error?.message ?? String(error);
      this.#finish(batch, failedResults(batch, message));
      if (error?.fatal) {
        this.#stop(message);
      }
      return;
    }
    this.#finish(batch, results);
  }

  /**
   * @param {QueuedFile[]} files
   * @param {FileResult[]} results
   */
  #finish(files, results) {
    this.#sentFiles += files.length;
    this.#sentBytes += totalBytes(files);
    this.#onResults(results);
    this.#reportProgress();
  }

  /** @param {string} message */
  #stop(message) {
    this.#stopped = message;
    const abandoned = this.#queue;
    this.#queue = [];
    if (abandoned.length > 0) {
      this.#finish(abandoned, failedResults(abandoned, message));
    }
    this.#onStop(message);
  }

  #reportProgress() {
    this.#onProgress({
      sentBytes: this.#sentBytes,
      totalBytes: this.#totalBytes,
      sentFiles: this.#sentFiles,
      totalFiles: this.#totalFiles,
      running: this.#running,
    });
  }
}
