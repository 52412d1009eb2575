/**
 * The study list's "Search a PACS" panel: the same search fields as the local list, sent as
 * a C-FIND (PS3.4 C.4.1) to the chosen node at patient, study or series level. Results go in
 * their own table marked Remote with the node's name and how much is already here; each
 * study and series has a one-click Retrieve. DICOM text only ever goes in via textContent.
 * @module pacs/remote-search
 */

import { formatDate, personName } from '../viewer/dicom-text.js';
import { PacsRequestError } from './pacs-client.js';
import { hasTerms, localShare, searchQuery } from './remote-format.js';
import { RetrieveControl } from './retrieve-control.js';

/**
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * @param {HTMLElement} row
 * @param {Array<string | Node>} cells
 */
function cellsInto(row, cells) {
  for (const cell of cells) {
    const td = el('td');
    if (typeof cell === 'string') td.textContent = cell;
    else td.append(cell);
    row.append(td);
  }
}

/** @param {string} node */
function remoteBadge(node) {
  const badge = el('span', 'remote-badge');
  badge.append(el('span', 'remote-badge-label', 'Remote'), el('span', 'remote-badge-node', node));
  badge.title = `On the PACS ${node}, not in this archive`;
  return badge;
}

/**
 * @param {HTMLElement} span
 * @param {{local_instances?: number | null, number_of_instances?: number | null}} row
 */
function describeLocal(span, row) {
  const share = localShare(row);
  span.className = `local-share local-${share.state}`;
  span.textContent = share.text;
}

/** @param {{local_instances?: number | null, number_of_instances?: number | null}} row */
function localCell(row) {
  const span = el('span');
  describeLocal(span, row);
  return span;
}

/**
 * Keeps a row's "Here" cell true while its retrieve runs: the job counts what is here.
 * @param {HTMLElement} cell
 * @param {any} row
 */
function followLocal(cell, row) {
  return (/** @type {import('./remote-format.js').Job} */ job) => {
    const here = Math.max(Number(row.local_instances) || 0, Number(job.received) || 0);
    describeLocal(cell, { local_instances: here, number_of_instances: row.number_of_instances ?? job.expected });
  };
}

export class RemoteSearch {
  #root;
  #form;
  #client;
  #viewerUrl;
  #nodeSelect;
  #levelSelect;
  #modalityInput;
  #button;
  #message;
  #results;
  /** @type {RetrieveControl[]} */
  #controls = [];
  #generation = 0;

  /**
   * @param {HTMLElement} root  the panel (data-role="pacs-search")
   * @param {HTMLFormElement} form  the study list's search form, whose fields are reused
   * @param {import('./pacs-client.js').PacsClient} client
   * @param {(studyUid: string) => string} viewerUrl
   */
  constructor(root, form, client, viewerUrl) {
    this.#root = root;
    this.#form = form;
    this.#client = client;
    this.#viewerUrl = viewerUrl;
    const q = (/** @type {string} */ selector) => /** @type {any} */ (root.querySelector(selector));
    this.#nodeSelect = /** @type {HTMLSelectElement} */ (q('[data-control="node"]'));
    this.#levelSelect = /** @type {HTMLSelectElement} */ (q('[data-control="level"]'));
    this.#modalityInput = /** @type {HTMLInputElement | null} */ (q('[data-control="modality"]'));
    this.#button = /** @type {HTMLButtonElement} */ (q('[data-action="search-pacs"]'));
    this.#message = /** @type {HTMLElement} */ (q('[data-role="pacs-message"]'));
    this.#results = /** @type {HTMLElement} */ (q('[data-role="pacs-results"]'));
    this.#button.addEventListener('click', () => this.search());
  }

  /** Fills the node choice from GET /pacs/nodes/. */
  async loadNodes() {
    this.#button.disabled = true;
    try {
      const nodes = await this.#client.nodes();
      const options = nodes.map((node) => {
        const option = el('option', undefined, `${node.name} (${node.ae_title})`);
        /** @type {HTMLOptionElement} */ (option).value = node.name;
        return option;
      });
      this.#nodeSelect.replaceChildren(...options);
      this.#root.dataset.nodes = String(nodes.length);
      if (nodes.length === 0) {
        this.#nodeSelect.append(el('option', undefined, 'No PACS configured'));
        this.#say('No PACS is configured; an administrator adds one (manage.py pacs add).', 'info');
        return;
      }
      this.#button.disabled = false;
    } catch (error) {
      this.#say(`The PACS list could not be loaded: ${/** @type {Error} */ (error).message}`, 'error');
    }
  }

  /** The search form's fields (with the panel's own modality, when typed). */
  fields() {
    const data = new FormData(this.#form);
    const value = (/** @type {string} */ name) => String(data.get(name) ?? '');
    const typedModality = this.#modalityInput?.value.trim() ?? '';
    return {
      patient_name: value('patient_name'),
      patient_id: value('patient_id'),
      accession_number: value('accession_number'),
      date_from: value('date_from'),
      date_to: value('date_to'),
      modality: typedModality || value('modality'),
    };
  }

  /**
   * @param {{level?: string, fields?: import('./remote-format.js').SearchFields}} [override]
   */
  async search(override = {}) {
    const node = this.#nodeSelect.value;
    const level = override.level ?? this.#levelSelect.value;
    const fields = override.fields ?? this.fields();
    if (!node) return;
    if (!hasTerms(fields)) {
      this.#say('Fill in at least one search field above (name, ID, accession, dates or modality).', 'error');
      return;
    }
    const generation = ++this.#generation;
    this.#button.disabled = true;
    this.#root.dataset.state = 'searching';
    this.#say(`Searching ${node}…`, 'info');
    try {
      const answer = await this.#client.search(node, searchQuery(fields, level));
      if (generation !== this.#generation) return;
      this.#show(answer);
      this.#root.dataset.state = 'done';
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#root.dataset.state = 'error';
      const message = /** @type {Error} */ (error).message;
      const unreachable = error instanceof PacsRequestError && error.status === 502;
      this.#say(unreachable ? `${node}: ${message}` : `The search failed: ${message}`, 'error');
    } finally {
      if (generation === this.#generation) this.#button.disabled = false;
    }
  }

  /**
   * @param {string} text
   * @param {'info' | 'error'} kind
   */
  #say(text, kind) {
    this.#message.textContent = text;
    this.#message.className = kind === 'error' ? 'notice notice-error pacs-message' : 'pacs-message dim';
    this.#message.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    this.#message.hidden = text === '';
  }

  /** @param {{node: string, level: string, truncated: boolean, results: any[]}} answer */
  #show(answer) {
    for (const control of this.#controls) control.stop();
    this.#controls = [];
    const count = answer.results.length;
    const noun = answer.level === 'PATIENT' ? 'patient' : answer.level === 'SERIES' ? 'series' : 'study';
    const plural = count === 1 || noun === 'series' ? noun : noun === 'study' ? 'studies' : 'patients';
    this.#say(
      count === 0
        ? `No ${noun === 'study' ? 'studies' : `${noun}s`} on ${answer.node} match.`
        : `${count} ${plural} on ${answer.node}${answer.truncated ? ' (more matched; narrow the search to see them)' : ''}.`,
      'info',
    );
    const heading = el('h2', 'remote-heading');
    heading.append(el('span', undefined, 'Remote results '), remoteBadge(answer.node));
    const table =
      answer.level === 'PATIENT'
        ? this.#patientTable(answer.node, answer.results)
        : this.#studyTable(answer.node, answer.results);
    const scroll = el('div', 'table-scroll');
    scroll.append(table);
    this.#results.replaceChildren(heading, scroll);
    this.#results.hidden = count === 0;
    this.#results.dataset.node = answer.node;
    this.#results.dataset.level = answer.level;
  }

  /**
   * @param {string[]} labels
   * @param {string} className
   */
  #table(labels, className) {
    const table = el('table', `grid remote-table ${className}`);
    const head = el('thead');
    const row = el('tr');
    for (const label of labels) {
      const th = el('th', undefined, label);
      th.setAttribute('scope', 'col');
      row.append(th);
    }
    head.append(row);
    table.append(head, el('tbody'));
    return table;
  }

  /**
   * @param {string} node
   * @param {any[]} rows
   */
  #patientTable(node, rows) {
    const table = this.#table(['', 'Patient', 'Patient ID', 'Birth date', 'Sex', 'Studies', ''], 'remote-patients');
    const body = /** @type {HTMLElement} */ (table.querySelector('tbody'));
    for (const row of rows) {
      const tr = el('tr');
      tr.dataset.remote = 'true';
      const studies = el('button', 'btn', 'Studies');
      /** @type {HTMLButtonElement} */ (studies).type = 'button';
      studies.addEventListener('click', () =>
        this.search({ level: 'STUDY', fields: { patient_id: row.patient_id } }),
      );
      cellsInto(tr, [
        remoteBadge(node),
        personName(row.patient_name) || '(no name)',
        row.patient_id,
        formatDate(row.patient_birth_date),
        row.patient_sex,
        row.number_of_studies === null ? '' : String(row.number_of_studies),
        row.patient_id ? studies : '',
      ]);
      tr.cells[2].className = 'mono';
      body.append(tr);
    }
    return table;
  }

  /**
   * Study rows, or series rows when the answer is at series level.
   * @param {string} node
   * @param {any[]} rows
   */
  #studyTable(node, rows) {
    const series = rows.length > 0 && 'series_instance_uid' in rows[0];
    if (series) return this.#seriesTable(node, rows);
    const table = this.#table(
      ['', 'Date', 'Patient', 'Patient ID', 'Accession', 'Description', 'Modalities', 'Images', 'Here', ''],
      'remote-studies',
    );
    const body = /** @type {HTMLElement} */ (table.querySelector('tbody'));
    for (const row of rows) {
      const tr = el('tr', 'remote-study');
      tr.dataset.remote = 'true';
      tr.dataset.studyInstanceUid = row.study_instance_uid;
      const actions = el('div', 'remote-actions');
      const here = localCell(row);
      const control = new RetrieveControl(
        this.#client,
        { node, studyUid: row.study_instance_uid, label: `study ${row.accession_number || row.study_description || ''}`.trim() },
        this.#viewerUrl,
        followLocal(here, row),
      );
      control.markLocal(localShare(row).state);
      this.#controls.push(control);
      const toggle = /** @type {HTMLButtonElement} */ (el('button', 'btn btn-quiet', 'Series'));
      toggle.type = 'button';
      toggle.setAttribute('aria-expanded', 'false');
      toggle.addEventListener('click', () => this.#toggleSeries(node, row, tr, toggle));
      actions.append(control.element, toggle);
      const images =
        row.number_of_instances === null || row.number_of_instances === undefined ? '' : String(row.number_of_instances);
      cellsInto(tr, [
        remoteBadge(node),
        formatDate(row.study_date),
        personName(row.patient_name) || '(no name)',
        row.patient_id,
        row.accession_number,
        row.study_description,
        (row.modalities ?? []).join(', '),
        images,
        here,
        actions,
      ]);
      tr.cells[1].className = 'nowrap';
      tr.cells[3].className = 'mono';
      tr.cells[4].className = 'mono';
      tr.cells[7].className = 'num';
      body.append(tr);
    }
    return table;
  }

  /**
   * @param {string} node
   * @param {any} study
   * @param {HTMLElement} row
   * @param {HTMLButtonElement} toggle
   */
  async #toggleSeries(node, study, row, toggle) {
    const next = /** @type {HTMLElement | null} */ (row.nextElementSibling);
    if (next?.classList.contains('remote-series-row')) {
      next.remove();
      toggle.setAttribute('aria-expanded', 'false');
      return;
    }
    toggle.setAttribute('aria-expanded', 'true');
    const holder = el('tr', 'remote-series-row');
    const cell = /** @type {HTMLTableCellElement} */ (el('td', undefined, 'Asking for the series…'));
    cell.colSpan = row.children.length;
    holder.append(cell);
    row.after(holder);
    try {
      const answer = await this.#client.search(
        node,
        searchQuery({ study_instance_uid: study.study_instance_uid }, 'SERIES'),
      );
      cell.replaceChildren(answer.results.length ? this.#seriesTable(node, answer.results) : 'No series.');
    } catch (error) {
      cell.textContent = `The series could not be listed: ${/** @type {Error} */ (error).message}`;
      cell.className = 'field-error';
    }
  }

  /**
   * @param {string} node
   * @param {any[]} rows
   */
  #seriesTable(node, rows) {
    const table = this.#table(['', 'Number', 'Modality', 'Description', 'Body part', 'Images', 'Here', ''], 'remote-series');
    const body = /** @type {HTMLElement} */ (table.querySelector('tbody'));
    const sorted = [...rows].sort((a, b) => (a.series_number ?? 1e9) - (b.series_number ?? 1e9));
    for (const row of sorted) {
      const tr = el('tr');
      tr.dataset.remote = 'true';
      tr.dataset.seriesInstanceUid = row.series_instance_uid;
      const here = localCell(row);
      const control = new RetrieveControl(
        this.#client,
        {
          node,
          studyUid: row.study_instance_uid,
          seriesUid: row.series_instance_uid,
          label: `series ${row.series_number ?? ''} ${row.series_description ?? ''}`.trim(),
        },
        this.#viewerUrl,
        followLocal(here, row),
      );
      control.markLocal(localShare(row).state);
      this.#controls.push(control);
      cellsInto(tr, [
        remoteBadge(node),
        row.series_number === null ? '' : String(row.series_number),
        row.modality,
        row.series_description,
        row.body_part_examined,
        row.number_of_instances === null ? '' : String(row.number_of_instances),
        here,
        control.element,
      ]);
      body.append(tr);
    }
    return table;
  }
}
