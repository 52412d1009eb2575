/**
 * Entry point of the viewer page: reads the page's data attributes and starts the viewer.
 * (A module file, never an inline script: the page's CSP will forbid those.)
 * @module viewer/main
 */

import { Viewer } from './viewer.js';

const root = /** @type {HTMLElement} */ (document.getElementById('image-viewer'));
const studyUid = root.dataset.studyInstanceUid ?? '';
const socketPath = root.dataset.socketPath ?? '/ws/viewer/';
const dicomweb = root.dataset.dicomwebRoot ?? '/dicomweb/';
const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';

const viewer = new Viewer(root, {
  studyUid,
  initialSeries: root.dataset.initialSeries ?? '',
  socketUrl: `${scheme}//${window.location.host}${socketPath}`,
  thumbnailUrl: (seriesUid) =>
    `${dicomweb}studies/${encodeURIComponent(studyUid)}/series/${encodeURIComponent(seriesUid)}/thumbnail`,
});
viewer.start();
