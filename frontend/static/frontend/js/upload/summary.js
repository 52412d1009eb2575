/**
 * Per-file upload results and their running totals. Pure functions, no DOM.
 *
 * The server answers each file with `stored`, `duplicate` (already archived, nothing to do)
 * or `rejected` (kept in quarantine with a reason). `failed` is the page's own status for a
 * file that never got an answer (network error, refused request).
 * @module upload/summary
 */

/** @typedef {'stored' | 'duplicate' | 'rejected' | 'failed'} Status */

/**
 * @typedef {object} FileResult
 * @property {string} name  the file's name or relative path, as the user knows it
 * @property {Status} status
 * @property {string} [reason_code]
 * @property {string} [reason]
 * @property {string} [study_instance_uid]
 * @property {string} [study_url]
 */

/** @typedef {{stored: number, duplicate: number, rejected: number, failed: number}} Tally */

/** @type {readonly Status[]} */
export const STATUSES = Object.freeze(['stored', 'duplicate', 'rejected', 'failed']);

/** @returns {Tally} */
export function emptyTally() {
  return { stored: 0, duplicate: 0, rejected: 0, failed: 0 };
}

/**
 * A new tally with the results added; an unknown status counts as failed, so nothing the
 * server says is dropped from the totals.
 * @param {Tally} tally
 * @param {FileResult[]} results
 * @returns {Tally}
 */
export function addResults(tally, results) {
  const next = { ...tally };
  for (const result of results) {
    const status = STATUSES.includes(result.status) ? result.status : 'failed';
    next[status] += 1;
  }
  return next;
}

/**
 * Results for files a request could not deliver, so each still shows up with a reason.
 * @param {{path: string}[]} items
 * @param {string} reason
 * @returns {FileResult[]}
 */
export function failedResults(items, reason) {
  return items.map((item) => ({ name: item.path, status: 'failed', reason_code: 'not_sent', reason }));
}

/**
 * Results for files the browser itself could not read (a folder walk that hit an error).
 * @param {{path: string, reason: string}[]} problems
 * @returns {FileResult[]}
 */
export function problemResults(problems) {
  return problems.map((p) => ({ name: p.path, status: 'failed', reason_code: 'unreadable', reason: p.reason }));
}

/**
 * Checks a server answer's shape and returns its results; throws with a readable message
 * when the answer is not what the upload endpoint sends.
 * @param {unknown} body
 * @returns {FileResult[]}
 */
export function resultsFromResponse(body) {
  if (!body || typeof body !== 'object' || !Array.isArray(body.results)) {
    throw new Error('the server answered without per-file results');
  }
  return body.results.map((raw) => ({
    name: String(raw?.name ?? ''),
    status: STATUSES.includes(raw?.status) ? raw.status : 'failed',
    reason_code: String(raw?.reason_code ?? ''),
    reason: String(raw?.reason ?? ''),
    study_instance_uid: String(raw?.study_instance_uid ?? ''),
    study_url: isSameSitePath(raw?.study_url) ? raw.study_url : '',
  }));
}

/**
 * Only a path on this site may become a link (not "javascript:" nor "//elsewhere").
 * @param {unknown} value
 * @returns {value is string}
 */
function isSameSitePath(value) {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//');
}

/**
 * One line for the status area.
 * @param {Tally} tally
 * @returns {string} e.g. "12 stored, 3 already archived, 1 rejected"
 */
export function describeTally(tally) {
  const parts = [];
  if (tally.stored) parts.push(`${tally.stored} stored`);
  if (tally.duplicate) parts.push(`${tally.duplicate} already archived`);
  if (tally.rejected) parts.push(`${tally.rejected} rejected`);
  if (tally.failed) parts.push(`${tally.failed} not sent`);
  return parts.length ? parts.join(', ') : 'nothing yet';
}

/**
 * The distinct studies that received files, in first-seen order, for "open study" links.
 * @param {FileResult[]} results
 * @returns {{uid: string, url: string}[]}
 */
export function studiesTouched(results) {
  const seen = new Map();
  for (const result of results) {
    if ((result.status === 'stored' || result.status === 'duplicate') && result.study_url) {
      if (!seen.has(result.study_instance_uid)) {
        seen.set(result.study_instance_uid, result.study_url);
      }
    }
  }
  return [...seen].map(([uid, url]) => ({ uid, url }));
}
