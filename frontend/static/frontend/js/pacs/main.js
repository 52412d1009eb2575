/**
 * Entry point of the study list's PACS panel (a module file: no inline scripts).
 * @module pacs/main
 */

import { PacsClient, pageCsrfToken } from './pacs-client.js';
import { RemoteSearch } from './remote-search.js';
import { pacsRootFrom, viewerUrlFrom } from './urls.js';

const root = document.querySelector('[data-role="pacs-search"]');
const form = document.querySelector('form.searchbar');
if (root instanceof HTMLElement && form instanceof HTMLFormElement) {
  const client = new PacsClient({ root: pacsRootFrom(root.dataset.nodesUrl ?? ''), csrfToken: pageCsrfToken() });
  const search = new RemoteSearch(root, form, client, viewerUrlFrom(root.dataset.viewerUrl ?? ''));
  search.loadNodes();
}
