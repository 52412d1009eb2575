/**
 * Reports from the viewer: "Save measurements" (a TID 1500 Measurement Report), the
 * "Key image" flag of the image on show and "Save key images" (a Key Object Selection,
 * PS3.3 A.59), optionally sent to a PACS node. On opening, the study's newest saved report is
 * read back (saved.json) and its measurements drawn again on their images, its key images
 * flagged again. The toolbar's buttons and keys reach it through Viewer.perform().
 *
 * What happened is said in the toolbar's report status (role="status"), with a link to the
 * saved report; `data-state` on it (loading, idle, saving, saved, error) lets tests wait.
 * @module viewer/report-panel
 */

import { measurementsPayload, restoredMeasurement, savedSentence } from './report-payload.js';
import { ReportRequestError } from './reports-client.js';

/**
 * @typedef {object} ReportHost  what the panel needs of the viewer
 * @property {() => import('./report-payload.js').PlacedMeasurement[]} placedMeasurements
 * @property {(list: Array<{instance: string, frame: number, tool: any, points: Array<[number, number]>, result: object}>) => void} restoreMeasurements
 * @property {() => void} keyImagesChanged
 */

export class ReportPanel {
  #client;
  /** @type {ReportHost} */
  #host;
  /** @type {HTMLElement} */
  #status;
  /** @type {HTMLSelectElement | null} */
  #sendTo;
  /** @type {Set<string>} */
  #keyImages = new Set();
  #busy = false;

  /**
   * @param {HTMLElement} root  the viewer element (holds the toolbar's report controls)
   * @param {{client: import('./reports-client.js').ReportsClient, host: ReportHost}} options
   */
  constructor(root, { client, host }) {
    this.#client = client;
    this.#host = host;
    this.#status = /** @type {HTMLElement} */ (root.querySelector('[data-role="report-status"]'));
    this.#sendTo = root.querySelector('select[data-control="send-to"]');
  }

  /** Reads the study's saved report back onto its images. Quiet when there is none. */
  async load() {
    this.#say('', 'loading');
    let saved;
    try {
      saved = await this.#client.saved();
    } catch (error) {
      this.#say(`Saved measurements could not be read: ${/** @type {Error} */ (error).message}`, 'error');
      return;
    }
    const restored = (saved.measurements ?? []).map(restoredMeasurement).filter((m) => m !== null);
    this.#host.restoreMeasurements(/** @type {any} */ (restored));
    this.#keyImages = new Set(saved.key_images?.instances ?? []);
    this.#host.keyImagesChanged();
    if (saved.report && restored.length > 0) {
      const count = `${restored.length} saved measurement${restored.length === 1 ? '' : 's'}`;
      this.#say(`Showing ${count} of the last report.`, 'idle', saved.report.url);
    } else {
      this.#say('', 'idle');
    }
  }

  /** @param {string | undefined} instanceUid */
  isKeyImage(instanceUid) {
    return Boolean(instanceUid && this.#keyImages.has(instanceUid));
  }

  get keyImageCount() {
    return this.#keyImages.size;
  }

  /**
   * @param {string} action  save-measurements, toggle-key-image or save-key-images
   * @param {{instance: {uid: string}} | null} entry  the image on show in the active viewport
   */
  perform(action, entry) {
    if (action === 'toggle-key-image') {
      if (!entry) return;
      const uid = entry.instance.uid;
      if (!this.#keyImages.delete(uid)) this.#keyImages.add(uid);
      this.#host.keyImagesChanged();
      const count = this.#keyImages.size;
      this.#say(`${count} key image${count === 1 ? '' : 's'} flagged (not saved yet).`, 'idle');
    } else if (action === 'save-measurements') {
      this.#saveMeasurements();
    } else if (action === 'save-key-images') {
      this.#saveKeyImages();
    }
  }

  async #saveMeasurements() {
    if (this.#busy) return;
    const { items, left } = measurementsPayload(this.#host.placedMeasurements());
    if (items.length === 0) {
      const waiting = left.pending ? ' Some are still being measured; try again in a moment.' : '';
      this.#say(`No measurements to save: draw a length, angle or region first.${waiting}`, 'error');
      return;
    }
    await this.#save('measurements', items.length, left, (sendTo) => this.#client.saveMeasurements(items, sendTo));
  }

  async #saveKeyImages() {
    if (this.#busy) return;
    if (this.#keyImages.size === 0) {
      this.#say('No key images flagged: flag the images with "Key image" (K) first.', 'error');
      return;
    }
    const uids = [...this.#keyImages].sort();
    await this.#save('key images', uids.length, undefined, (sendTo) => this.#client.saveKeyImages(uids, sendTo));
  }

  /**
   * @param {'measurements' | 'key images'} what
   * @param {number} count
   * @param {{pending: number, failed: number, probe: number} | undefined} left
   * @param {(sendTo: string) => Promise<{sop_instance_uid: string, url: string, sent_to: string | null}>} call
   */
  async #save(what, count, left, call) {
    this.#busy = true;
    const sendTo = this.#sendTo?.value ?? '';
    this.#say(sendTo ? `Saving and sending to ${sendTo}…` : 'Saving…', 'saving');
    try {
      const answer = await call(sendTo);
      this.#say(savedSentence({ what, count, sentTo: answer.sent_to, left }), 'saved', answer.url, answer.sop_instance_uid);
    } catch (error) {
      const failure = /** @type {ReportRequestError} */ (error);
      const saved = failure instanceof ReportRequestError ? failure.answer : null;
      if (saved?.sop_instance_uid) {
        // Archived here, but the PACS did not take it (502): say both.
        this.#say(`Saved here, but not sent: ${failure.message}`, 'error', saved.url, saved.sop_instance_uid);
      } else {
        this.#say(`Not saved: ${failure.message}`, 'error');
      }
    } finally {
      this.#busy = false;
    }
  }

  /**
   * @param {string} text
   * @param {string} state
   * @param {string} [url]   the saved report's page
   * @param {string} [uid]   its SOP Instance UID
   */
  #say(text, state, url = '', uid = '') {
    if (!this.#status) return;
    this.#status.dataset.state = state;
    this.#status.dataset.sopInstanceUid = uid;
    const parts = /** @type {Node[]} */ ([document.createTextNode(text)]);
    if (url) {
      const link = document.createElement('a');
      link.href = url;
      link.textContent = 'Open the report';
      link.dataset.role = 'report-link';
      parts.push(document.createTextNode(' '), link);
    }
    this.#status.replaceChildren(...parts);
    this.#status.hidden = text === '';
    this.#status.classList.toggle('is-error', state === 'error');
  }
}
