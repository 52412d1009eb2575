/**
 * Draws upload progress, running counts and one table row per file. Every name and reason
 * comes from a file or a server answer, so it is inserted as text, never as markup.
 * @module upload/results-view
 */

import { formatBytes, percent, plural } from './format.js';
import { STATUSES, addResults, emptyTally } from './summary.js';

/** Words shown for each status. */
const STATUS_LABELS = Object.freeze({
  stored: 'Stored',
  duplicate: 'Already archived',
  rejected: 'Rejected',
  failed: 'Not sent',
});

export class ResultsView {
  /** @type {HTMLElement} */
  #section;
  /** @type {HTMLProgressElement} */
  #progress;
  /** @type {HTMLElement} */
  #progressText;
  /** @type {HTMLTableSectionElement} */
  #rows;
  /** @type {Map<string, HTMLElement>} */
  #countCells = new Map();
  #tally = emptyTally();
  #skipped = 0;

  /**
   * @param {HTMLElement} section  the status panel (#upload-status)
   */
  constructor(section) {
    this.#section = section;
    this.#progress = section.querySelector('#upload-progress');
    this.#progressText = section.querySelector('#upload-progress-text');
    this.#rows = section.querySelector('#upload-results');
    for (const status of STATUSES) {
      this.#countCells.set(status, section.querySelector(`[data-count="${status}"]`));
    }
  }

  /** @param {number} count files left out on purpose (DICOMDIR, .DS_Store …) */
  addSkipped(count) {
    this.#skipped += count;
  }

  /** @param {import('./uploader.js').Progress} progress */
  showProgress(progress) {
    this.#section.hidden = false;
    this.#progress.max = Math.max(progress.totalBytes, 1);
    this.#progress.value = progress.sentBytes;
    const parts = [
      `${plural(progress.sentFiles, 'file')} of ${progress.totalFiles.toLocaleString('en')}`,
      `${formatBytes(progress.sentBytes)} of ${formatBytes(progress.totalBytes)}`,
      `${percent(progress.sentBytes, progress.totalBytes)}%`,
    ];
    if (this.#skipped) {
      parts.push(`${plural(this.#skipped, 'system file')} skipped`);
    }
    parts.push(progress.running ? 'uploading…' : 'done');
    this.#progressText.textContent = parts.join(' · ');
    this.#section.setAttribute('aria-busy', String(progress.running));
  }

  /** @param {import('./summary.js').FileResult[]} results */
  addResults(results) {
    this.#section.hidden = false;
    this.#tally = addResults(this.#tally, results);
    for (const [status, cell] of this.#countCells) {
      if (cell) cell.textContent = this.#tally[status].toLocaleString('en');
    }
    const fragment = document.createDocumentFragment();
    for (const result of results) {
      fragment.append(this.#row(result));
    }
    // Newest answers on top: that is where the eye is while a long upload runs.
    this.#rows.prepend(fragment);
  }

  /** @param {string} message */
  showStopped(message) {
    const row = document.createElement('tr');
    row.className = 'result-stopped';
    const cell = document.createElement('td');
    cell.colSpan = 3;
    cell.setAttribute('role', 'alert');
    cell.textContent = `Upload stopped: ${message}`;
    row.append(cell);
    this.#rows.prepend(row);
  }

  /**
   * @param {import('./summary.js').FileResult} result
   * @returns {HTMLTableRowElement}
   */
  #row(result) {
    const row = document.createElement('tr');
    row.className = `result-${result.status}`;
    const name = document.createElement('td');
    name.className = 'mono';
    name.textContent = result.name;
    const status = document.createElement('td');
    status.className = 'status';
    status.textContent = STATUS_LABELS[result.status] ?? result.status;
    const details = document.createElement('td');
    if (result.study_url) {
      const link = document.createElement('a');
      link.href = result.study_url;
      link.textContent = 'Open study';
      details.append(link);
    } else {
      details.textContent = result.reason || result.reason_code || '';
      if (result.reason_code) details.title = result.reason_code;
    }
    row.append(name, status, details);
    return row;
  }
}
