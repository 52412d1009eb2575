/**
 * Page addresses the server renders once with a placeholder (Django's `{% url %}` knows the
 * script prefix; the browser should not guess it). No DOM; unit-tested with node.
 * @module pacs/urls
 */

/** What the template puts where the study UID goes. */
export const UID_PLACEHOLDER = '0.0';

/**
 * @param {string} template  e.g. `/studies/0.0/view/`
 * @returns {(studyUid: string) => string}
 */
export function viewerUrlFrom(template) {
  const at = template.indexOf(`/${UID_PLACEHOLDER}/`);
  if (at < 0) return (uid) => `/studies/${encodeURIComponent(uid)}/view/`;
  const head = template.slice(0, at + 1);
  const tail = template.slice(at + 1 + UID_PLACEHOLDER.length);
  return (uid) => `${head}${encodeURIComponent(uid)}${tail}`;
}

/**
 * Where the PACS endpoints are mounted, from the address of its node list (`{% url 'pacs:nodes' %}`).
 * @param {string} nodesUrl  e.g. `/pacs/nodes/`
 */
export function pacsRootFrom(nodesUrl) {
  const match = /^(.*\/)nodes\/?$/.exec(nodesUrl);
  return match ? match[1] : '/pacs/';
}
