/**
 * The report endpoints of one study (studies/reports/urls.py) as promises: the saved
 * measurements and key images, and saving new ones as DICOM SR (optionally sent to a PACS
 * node by C-STORE). Every failure is a `ReportRequestError` carrying the server's sentence;
 * a report saved but not sent (502) still names the saved report (`answer`).
 * @module viewer/reports-client
 */

import { requestJson } from '../shared/json-request.js';

export class ReportRequestError extends Error {
  /**
   * @param {string} message
   * @param {number} status  HTTP status, 0 when the server was not reached
   * @param {any} [answer]   the server's JSON answer, if any
   */
  constructor(message, status, answer = null) {
    super(message);
    this.name = 'ReportRequestError';
    this.status = status;
    this.answer = answer;
  }
}

export class ReportsClient {
  #root;
  #csrf;
  #fetch;

  /**
   * @param {{root: string, csrfToken: string, fetch?: typeof fetch}} options
   *   root: the study's reports URL, e.g. `/studies/1.2.3/reports/`
   */
  constructor({ root, csrfToken, fetch: fetcher }) {
    this.#root = root.endsWith('/') ? root : `${root}/`;
    this.#csrf = csrfToken;
    this.#fetch = fetcher ?? globalThis.fetch.bind(globalThis);
  }

  /** @returns {Promise<{report: {sop_instance_uid: string, url: string, saved_at: string} | null,
   *           measurements: import('./report-payload.js').SavedMeasurement[],
   *           key_images: {sop_instance_uid: string, instances: string[]}}>} */
  saved() {
    return this.#request('GET', 'saved.json');
  }

  /**
   * @param {object[]} measurements  from report-payload.measurementsPayload
   * @param {string} [sendTo]        a PACS node name, or '' to keep it here only
   * @returns {Promise<{sop_instance_uid: string, url: string, sent_to: string | null}>}
   */
  saveMeasurements(measurements, sendTo = '') {
    return this.#request('POST', 'measurements', { measurements, ...(sendTo ? { send_to: sendTo } : {}) });
  }

  /**
   * @param {string[]} instances  SOP Instance UIDs of the key images
   * @param {string} [sendTo]
   */
  saveKeyImages(instances, sendTo = '') {
    return this.#request('POST', 'key-images', { instances, ...(sendTo ? { send_to: sendTo } : {}) });
  }

  /**
   * @param {'GET' | 'POST'} method
   * @param {string} path
   * @param {object} [body]
   */
  #request(method, path, body) {
    return requestJson(this.#fetch, this.#root + path, {
      method,
      body,
      csrfToken: this.#csrf,
      failure: (message, status, answer) => new ReportRequestError(message, status, answer),
    });
  }
}
