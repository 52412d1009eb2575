/**
 * Entry point of the upload page: connects the drop zone and the file pickers to the upload
 * queue, and the queue to the results view.
 * @module upload/main
 */

import { limitsForServer } from './batcher.js';
import { sendBatch } from './client.js';
import { ResultsView } from './results-view.js';
import { problemResults } from './summary.js';
import { Uploader } from './uploader.js';
import { queueFromFileList, takeDropped, walkEntries } from './walk-entries.js';

const form = /** @type {HTMLFormElement} */ (document.getElementById('upload-form'));
const dropZone = /** @type {HTMLElement} */ (document.getElementById('drop-zone'));
const view = new ResultsView(/** @type {HTMLElement} */ (document.getElementById('upload-status')));

const endpoint = form.dataset.endpoint;
const csrfToken = /** @type {HTMLInputElement} */ (form.elements.namedItem('csrfmiddlewaretoken')).value;

const uploader = new Uploader({
  send: (batch) => sendBatch(endpoint, csrfToken, batch),
  limits: limitsForServer(Number(form.dataset.maxRequestBytes), Number(form.dataset.maxFiles)),
  onResults: (results) => view.addResults(results),
  onProgress: (progress) => view.showProgress(progress),
  onStop: (message) => view.showStopped(message),
});

/** @param {{files: import('./walk-entries.js').QueuedFile[], skipped: number}} picked */
function enqueue(picked) {
  view.addSkipped(picked.skipped);
  if (picked.files.length > 0) uploader.add(picked.files);
}

for (const input of form.querySelectorAll('input[type=file]')) {
  input.addEventListener('change', () => {
    enqueue(queueFromFileList(input.files ?? []));
    // Picking the same folder again should upload it again.
    input.value = '';
  });
}

// The form is only a container: files go through the queue, never a full-page submit.
form.addEventListener('submit', (event) => event.preventDefault());

dropZone.addEventListener('dragover', (event) => {
  event.preventDefault();
  if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
  dropZone.classList.add('is-dragover');
});
dropZone.addEventListener('dragleave', (event) => {
  if (!dropZone.contains(/** @type {Node} */ (event.relatedTarget))) {
    dropZone.classList.remove('is-dragover');
  }
});
dropZone.addEventListener('drop', async (event) => {
  event.preventDefault();
  dropZone.classList.remove('is-dragover');
  if (!event.dataTransfer) return;
  // Synchronously, before any await: the browser empties the DataTransfer afterwards.
  const { entries, files } = takeDropped(event.dataTransfer);
  enqueue(queueFromFileList(files));
  const walked = await walkEntries(entries);
  if (walked.problems.length > 0) view.addResults(problemResults(walked.problems));
  enqueue(walked);
});

// Keyboard users reach the picker from the focused drop zone.
dropZone.addEventListener('keydown', (event) => {
  if (event.target === dropZone && (event.key === 'Enter' || event.key === ' ')) {
    event.preventDefault();
    /** @type {HTMLInputElement} */ (document.getElementById('file-input')).click();
  }
});

// A drop outside the zone would make the browser open the file and leave the page.
for (const type of ['dragover', 'drop']) {
  window.addEventListener(type, (event) => {
    if (!dropZone.contains(/** @type {Node} */ (event.target))) event.preventDefault();
  });
}

window.addEventListener('beforeunload', (event) => {
  if (uploader.busy) {
    event.preventDefault();
  }
});
