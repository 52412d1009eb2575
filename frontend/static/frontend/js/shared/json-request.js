/**
 * One request to a JSON endpoint of ours: same origin with the session cookie, Django's CSRF
 * header on POST, and every failure turned into a sentence a clinician can read. Each client
 * keeps its own error type through `failure`.
 * @module shared/json-request
 */

/**
 * @callback Failure
 * @param {string} message  the server's own `{"error": ...}`, or what went wrong on the way
 * @param {number} status   HTTP status, 0 when the server was not reached
 * @param {any} answer      the server's JSON answer, if any
 * @returns {Error}
 */

/**
 * @param {typeof fetch} fetcher
 * @param {string} url
 * @param {{method?: 'GET' | 'POST', body?: object, csrfToken?: string, failure: Failure}} options
 * @returns {Promise<object>} the JSON object answered
 */
export async function requestJson(fetcher, url, { method = 'GET', body, csrfToken = '', failure }) {
  /** @type {RequestInit} */
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method === 'POST') {
    init.headers = { ...init.headers, 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken };
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetcher(url, init);
  } catch {
    throw failure('The server could not be reached.', 0, null);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const reason = data && typeof data.error === 'string' ? data.error : `HTTP ${response.status}`;
    throw failure(reason, response.status, data);
  }
  if (data === null || typeof data !== 'object') {
    throw failure('The server sent an answer that is not JSON.', response.status, null);
  }
  return data;
}
