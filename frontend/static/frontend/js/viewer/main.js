/**
 * Entry point of the viewer page: reads the page's data attributes and starts the viewer,
 * its priors panel and the periodic refresh of the study outline.
 * (A module file, never an inline script: the page's CSP will forbid those.)
 * @module viewer/main
 */

import { early as booting } from './boot.js';
import { Viewer } from './viewer.js';

const root = /** @type {HTMLElement} */ (document.getElementById('image-viewer'));
const studyUid = root.dataset.studyInstanceUid ?? '';
const socketPath = root.dataset.socketPath ?? '/ws/viewer/';
const dicomweb = root.dataset.dicomwebRoot ?? '/dicomweb/';
const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';

// boot.js loads this module once it has created its socket (or found it could not).
const early = await booting;
const viewer = new Viewer(root, {
  studyUid,
  initialSeries: root.dataset.initialSeries ?? '',
  socketUrl: `${scheme}//${window.location.host}${socketPath}`,
  thumbnailUrl: (seriesUid) =>
    `${dicomweb}studies/${encodeURIComponent(studyUid)}/series/${encodeURIComponent(seriesUid)}/thumbnail`,
  early,
});
viewer.start();

// The panels load after the viewer has started: their modules (the PACS client among them)
// are not on the way to the first image.
const [{ PacsClient, pageCsrfToken }, { pacsRootFrom, viewerUrlFrom }, { PriorsPanel }, { ReportPanel }, { ReportsClient }, { StudyRefresh }] =
  await Promise.all([
    import('../pacs/pacs-client.js'),
    import('../pacs/urls.js'),
    import('./priors-panel.js'),
    import('./report-panel.js'),
    import('./reports-client.js'),
    import('./study-refresh.js'),
  ]);

// Save measurements / key images as DICOM SR, and show the study's saved ones again.
if (root.dataset.reportsRoot) {
  const reports = new ReportPanel(root, {
    client: new ReportsClient({ root: root.dataset.reportsRoot, csrfToken: pageCsrfToken() }),
    host: viewer,
  });
  viewer.reports = reports;
  reports.load();
}

const priors = root.querySelector('[data-role="priors"]');
if (priors instanceof HTMLElement) {
  const client = new PacsClient({ root: pacsRootFrom(priors.dataset.nodesUrl ?? ''), csrfToken: pageCsrfToken() });
  new PriorsPanel(priors, {
    client,
    studyUid,
    patientId: priors.dataset.patientId ?? '',
    issuer: priors.dataset.issuerOfPatientId ?? '',
    viewerUrl: viewerUrlFrom(priors.dataset.viewerUrl ?? ''),
  }).load();
  // Instances landing while the page is open show up even when no event reaches this process.
  const refresh = new StudyRefresh({
    activeRetrieve: async () => (await client.activeJobs(studyUid)).length > 0,
    refresh: () => viewer.refreshStudy(),
    visible: () => document.visibilityState !== 'hidden',
  });
  refresh.start();
  window.addEventListener('pagehide', () => refresh.stop());
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) refresh.start();
  });
}
