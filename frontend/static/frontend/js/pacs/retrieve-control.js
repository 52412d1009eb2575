/**
 * One Retrieve button with its live progress: click → POST /pacs/retrieve → a progress bar
 * (received / expected, failed, state) with Cancel, and an Open link to the viewer as soon
 * as the first instance has landed. Used by the study list's remote results and by the
 * viewer's priors panel. All text goes in with textContent.
 * @module pacs/retrieve-control
 */

import { JobWatcher } from './job-watcher.js';
import { jobProgress } from './remote-format.js';

/**
 * @typedef {object} RetrieveTarget
 * @property {string} node
 * @property {string} studyUid
 * @property {string} [seriesUid]
 * @property {string} [label]   what is retrieved, for the button's accessible name
 */

export class RetrieveControl {
  /** @type {HTMLElement} */
  element;
  #client;
  #target;
  #viewerUrl;
  #button;
  #bar;
  #text;
  #cancel;
  #open;
  /** @type {number | null} */
  #jobId = null;
  #watcher;
  #onJob;
  #hasLocal = false;

  /**
   * @param {import('./pacs-client.js').PacsClient} client
   * @param {RetrieveTarget} target
   * @param {(studyUid: string) => string} viewerUrl
   * @param {(job: import('./remote-format.js').Job) => void} [onJob]  each state of the job
   */
  constructor(client, target, viewerUrl, onJob) {
    this.#client = client;
    this.#onJob = onJob ?? (() => {});
    this.#target = target;
    this.#viewerUrl = viewerUrl;
    const root = document.createElement('div');
    root.className = 'retrieve';
    root.dataset.state = 'idle';
    this.element = root;

    this.#button = document.createElement('button');
    this.#button.type = 'button';
    this.#button.className = 'btn btn-primary retrieve-button';
    this.#button.textContent = 'Retrieve';
    if (target.label) this.#button.setAttribute('aria-label', `Retrieve ${target.label}`);
    this.#button.addEventListener('click', () => this.start());

    const status = document.createElement('div');
    status.className = 'retrieve-status';
    status.setAttribute('role', 'status');
    status.setAttribute('aria-live', 'polite');
    this.#bar = document.createElement('progress');
    this.#bar.className = 'retrieve-bar';
    this.#bar.max = 1;
    this.#bar.hidden = true;
    this.#text = document.createElement('span');
    this.#text.className = 'retrieve-text';
    status.append(this.#bar, this.#text);

    this.#cancel = document.createElement('button');
    this.#cancel.type = 'button';
    this.#cancel.className = 'btn btn-quiet retrieve-cancel';
    this.#cancel.textContent = 'Cancel';
    this.#cancel.hidden = true;
    this.#cancel.addEventListener('click', () => this.cancel());

    this.#open = document.createElement('a');
    this.#open.className = 'btn retrieve-open';
    this.#open.textContent = 'Open';
    this.#open.href = viewerUrl(target.studyUid);
    this.#open.hidden = true;

    root.append(this.#button, status, this.#cancel, this.#open);
    this.#watcher = new JobWatcher({
      fetchJob: (id) => this.#client.job(id),
      onUpdate: (job) => this.#show(job),
      onError: (error) => {
        this.#text.textContent = `Progress unknown: ${error.message}`;
      },
    });
  }

  /** Queues the retrieve (or joins the job already running for it) and follows it. */
  async start() {
    this.#button.disabled = true;
    this.element.dataset.state = 'requesting';
    this.#text.textContent = 'Asking…';
    try {
      const { job } = await this.#client.retrieve({
        node: this.#target.node,
        study_instance_uid: this.#target.studyUid,
        series_instance_uid: this.#target.seriesUid ?? '',
      });
      this.#jobId = job.id;
      this.#watcher.watch(job);
    } catch (error) {
      this.element.dataset.state = 'error';
      this.#text.textContent = /** @type {Error} */ (error).message;
      this.#button.disabled = false;
      this.#button.textContent = 'Retry';
    }
  }

  /**
   * What the archive already holds of the target, before any job: something → it can be
   * opened now; everything → Retrieve is no longer the obvious next step.
   * @param {'none' | 'partial' | 'all'} state  from remote-format.localShare
   */
  markLocal(state) {
    if (state === 'none') return;
    this.#hasLocal = true;
    this.#open.hidden = false;
    if (state === 'all') {
      this.#button.textContent = 'Retrieve again';
      this.#button.classList.remove('btn-primary');
    }
  }

  async cancel() {
    if (this.#jobId === null) return;
    this.#cancel.disabled = true;
    try {
      this.#show(await this.#client.cancel(this.#jobId));
      this.#watcher.refresh();
    } catch (error) {
      this.#text.textContent = `Could not cancel: ${/** @type {Error} */ (error).message}`;
      this.#cancel.disabled = false;
    }
  }

  stop() {
    this.#watcher.stop();
  }

  /** @param {import('./remote-format.js').Job} job */
  #show(job) {
    const view = jobProgress(job);
    this.element.dataset.state = job.state;
    this.element.dataset.tone = view.tone;
    this.element.dataset.jobId = String(job.id);
    this.#bar.hidden = false;
    // Unknown total: an indeterminate bar while it runs, an empty one once it has ended.
    if (view.fraction === null && view.active) this.#bar.removeAttribute('value');
    else this.#bar.value = view.fraction ?? 0;
    this.#text.textContent = view.text;
    // Why the last attempt failed, for a job waiting to retry (the sentence is long).
    this.#text.title = job.state === 'failed' ? '' : job.error || '';
    this.#cancel.hidden = !view.active;
    this.#cancel.disabled = view.active && job.cancel_requested;
    this.#open.hidden = !(view.openable || this.#hasLocal);
    // Running or queued: one click is enough. Ended: another click starts again
    // (a resumed retrieve fetches only what is still missing).
    this.#button.hidden = view.active || (job.state === 'done' && !job.failed);
    this.#button.disabled = view.active;
    this.#button.textContent = job.state === 'done' ? 'Retrieve again' : 'Retry';
    this.#onJob(job);
  }
}
