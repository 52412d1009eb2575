/**
 * The PACS JSON endpoints (studies/pacs/urls.py) as promises. Every failure becomes a
 * `PacsRequestError` with a sentence a clinician can read: the server's own `{"error": ...}`
 * (PACS down, association refused, bad search), or what went wrong on the way.
 * @module pacs/pacs-client
 */

import { requestJson } from '../shared/json-request.js';

export class PacsRequestError extends Error {
  /**
   * @param {string} message
   * @param {number} status  HTTP status, 0 when the server was not reached
   */
  constructor(message, status) {
    super(message);
    this.name = 'PacsRequestError';
    this.status = status;
  }
}

/**
 * @typedef {object} ClientOptions
 * @property {string} root        where the endpoints are mounted, e.g. `/pacs/`
 * @property {string} csrfToken   sent as `X-CSRFToken` on POSTs (Django's CSRF check)
 * @property {typeof fetch} [fetch]
 */

export class PacsClient {
  #root;
  #csrf;
  #fetch;

  /** @param {ClientOptions} options */
  constructor({ root, csrfToken, fetch: fetcher }) {
    this.#root = root.endsWith('/') ? root : `${root}/`;
    this.#csrf = csrfToken;
    this.#fetch = fetcher ?? globalThis.fetch.bind(globalThis);
  }

  /** @returns {Promise<Array<{name: string, ae_title: string, retrieve_method: string}>>} */
  async nodes() {
    return (await this.#request('GET', 'nodes/')).nodes;
  }

  /**
   * @param {string} node
   * @param {string} query  from remote-format.searchQuery
   * @returns {Promise<{node: string, level: string, truncated: boolean, results: any[]}>}
   */
  search(node, query) {
    return this.#request('GET', `nodes/${encodeURIComponent(node)}/search?${query}`);
  }

  /**
   * The patient's studies here and on the PACS. A patient is its ID with its Issuer of Patient
   * ID (0010,0021), when known: the same ID of another issuer is another patient.
   * @param {string} patientId
   * @param {string} [issuer]
   */
  priors(patientId, issuer = '') {
    const params = new URLSearchParams({ patient_id: patientId });
    if (issuer) params.set('issuer', issuer);
    return this.#request('GET', `priors?${params}`);
  }

  /**
   * @param {{node: string, study_instance_uid: string, series_instance_uid?: string}} request
   * @returns {Promise<{job: import('./remote-format.js').Job, created: boolean}>}
   */
  retrieve(request) {
    return this.#request('POST', 'retrieve', request);
  }

  /**
   * @param {number} id
   * @returns {Promise<import('./remote-format.js').Job>}
   */
  async job(id) {
    return (await this.#request('GET', `jobs/${encodeURIComponent(String(id))}`)).job;
  }

  /**
   * Running and queued jobs of one study.
   * @param {string} studyUid
   * @returns {Promise<import('./remote-format.js').Job[]>}
   */
  async activeJobs(studyUid) {
    const query = new URLSearchParams({ study: studyUid, active: '1' });
    return (await this.#request('GET', `jobs/?${query}`)).jobs;
  }

  /** @param {number} id */
  async cancel(id) {
    return (await this.#request('POST', `jobs/${encodeURIComponent(String(id))}/cancel`, {})).job;
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
      // 502 is how our PACS views say the PACS itself did not answer.
      failure: (message, status) =>
        new PacsRequestError(status === 502 ? `The PACS did not answer: ${message}` : message, status),
    });
  }
}

/**
 * Django's CSRF token from the page: the logout form every signed-in page carries.
 * @param {ParentNode} [scope]
 */
export function pageCsrfToken(scope = document) {
  const input = /** @type {HTMLInputElement | null} */ (scope.querySelector('input[name="csrfmiddlewaretoken"]'));
  return input?.value ?? '';
}
