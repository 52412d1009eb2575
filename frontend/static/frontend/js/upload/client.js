/**
 * Sends one batch of files to the upload endpoint (POST multipart/form-data, session cookie,
 * CSRF token header) and returns the per-file results.
 * @module upload/client
 */

import { resultsFromResponse } from './summary.js';

/**
 * A request that failed as a whole. `fatal` means later batches would fail the same way
 * (signed out, CSRF token refused), so the upload should stop.
 */
export class UploadRequestError extends Error {
  /** @type {boolean} */
  fatal;
  /** @type {number} */
  status;

  /**
   * @param {string} message
   * @param {{status?: number, fatal?: boolean}} [options]
   */
  constructor(message, { status = 0, fatal = false } = {}) {
    super(message);
    this.name = 'UploadRequestError';
    this.status = status;
    this.fatal = fatal;
  }
}

/**
 * @param {string} endpoint  the upload URL (from the page's data-endpoint)
 * @param {string} csrfToken
 * @param {import('./walk-entries.js').QueuedFile[]} items
 * @returns {Promise<import('./summary.js').FileResult[]>}
 */
export async function sendBatch(endpoint, csrfToken, items) {
  const body = new FormData();
  for (const item of items) {
    body.append('file', item.file, item.file.name);
    // Browsers reduce a multipart file name to its last component; the path travels apart.
    body.append('path', item.path);
  }
  let response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      body,
      credentials: 'same-origin',
      headers: { 'X-CSRFToken': csrfToken, Accept: 'application/json' },
    });
  } catch (error) {
    throw new UploadRequestError(`network error (${error?.message ?? error})`);
  }
  const payload = await readJson(response);
  if (!response.ok) {
    throw errorFor(response.status, payload);
  }
  try {
    return resultsFromResponse(payload);
  } catch (error) {
    throw new UploadRequestError(error.message, { status: response.status });
  }
}

/**
 * @param {number} status
 * @param {unknown} payload
 * @returns {UploadRequestError}
 */
export function errorFor(status, payload) {
  const detail = payload && typeof payload.error === 'string' ? payload.error : '';
  if (status === 401) {
    return new UploadRequestError(detail || 'Your session has ended. Sign in again.', {
      status,
      fatal: true,
    });
  }
  if (status === 403) {
    return new UploadRequestError(
      'The server refused the request (security token). Reload the page and try again.',
      { status, fatal: true },
    );
  }
  return new UploadRequestError(detail || `the server answered HTTP ${status}`, { status });
}

/**
 * @param {Response} response
 * @returns {Promise<unknown>}
 */
async function readJson(response) {
  const type = response.headers.get('Content-Type') || '';
  if (!type.includes('application/json')) {
    return null;
  }
  try {
    return await response.json();
  } catch {
    return null;
  }
}
