/**
 * The viewer's "Priors" panel: the patient's other studies from `/pacs/priors?patient_id=`,
 * local ones (a link to open them) and remote ones on each PACS (a Retrieve button with
 * live progress). A PACS that did not answer is named with its reason. DICOM text goes in
 * with textContent only.
 * @module viewer/priors-panel
 */

import { RetrieveControl } from '../pacs/retrieve-control.js';
import { formatDate } from './dicom-text.js';

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
 * One line about a study: "2024-03-01 · CT, MR · 12 images".
 * @param {{study_date?: string, modalities?: string[], number_of_instances?: number | null}} study
 */
export function priorMeta(study) {
  const parts = [];
  if (study.study_date) parts.push(formatDate(study.study_date));
  if (study.modalities?.length) parts.push(study.modalities.join(', '));
  if (typeof study.number_of_instances === 'number') {
    parts.push(`${study.number_of_instances} image${study.number_of_instances === 1 ? '' : 's'}`);
  }
  return parts.join(' · ');
}

export class PriorsPanel {
  #root;
  #list;
  #note;
  #client;
  #studyUid;
  #patientId;
  #issuer;
  #viewerUrl;
  /** @type {RetrieveControl[]} */
  #controls = [];

  /**
   * @param {HTMLElement} root  the panel (data-role="priors")
   * @param {{client: import('../pacs/pacs-client.js').PacsClient, studyUid: string, patientId: string,
   *          issuer?: string, viewerUrl: (uid: string) => string}} options  issuer: Issuer of Patient ID
   */
  constructor(root, { client, studyUid, patientId, issuer = '', viewerUrl }) {
    this.#root = root;
    this.#list = /** @type {HTMLElement} */ (root.querySelector('[data-role="priors-list"]'));
    this.#note = /** @type {HTMLElement} */ (root.querySelector('[data-role="priors-note"]'));
    this.#client = client;
    this.#studyUid = studyUid;
    this.#patientId = patientId;
    this.#issuer = issuer;
    this.#viewerUrl = viewerUrl;
  }

  async load() {
    if (!this.#patientId) {
      this.#say('This study has no patient ID, so its priors cannot be looked up.', false);
      this.#root.dataset.state = 'done';
      return;
    }
    this.#root.dataset.state = 'loading';
    this.#say('Looking for prior studies here and on the PACS…', false);
    let answer;
    try {
      answer = await this.#client.priors(this.#patientId, this.#issuer);
    } catch (error) {
      this.#root.dataset.state = 'error';
      this.#say(`Priors could not be loaded: ${/** @type {Error} */ (error).message}`, true);
      return;
    }
    this.#show(answer);
    this.#root.dataset.state = 'done';
  }

  /**
   * @param {string} text
   * @param {boolean} error
   */
  #say(text, error) {
    this.#note.textContent = text;
    this.#note.classList.toggle('is-error', error);
    this.#note.hidden = text === '';
  }

  /** @param {{studies: any[], errors: Record<string, string>}} answer */
  #show(answer) {
    for (const control of this.#controls) control.stop();
    this.#controls = [];
    const others = answer.studies.filter((s) => s.remote || s.study_instance_uid !== this.#studyUid);
    const items = others.map((study) => this.#item(study));
    this.#list.replaceChildren(...items);
    const failures = Object.entries(answer.errors ?? {}).map(([node, reason]) => `${node}: ${reason}`);
    const remote = others.filter((s) => s.remote).length;
    const summary =
      others.length === 0 ? 'No other studies of this patient.' : `${others.length - remote} here, ${remote} on a PACS.`;
    this.#say(failures.length ? `${summary} Not answered — ${failures.join('; ')}` : summary, failures.length > 0);
    const count = this.#root.querySelector('[data-role="priors-count"]');
    if (count) count.textContent = others.length ? ` (${others.length})` : '';
  }

  /** @param {any} study */
  #item(study) {
    const item = el('li', `prior ${study.remote ? 'is-remote' : 'is-local'}`);
    item.dataset.studyInstanceUid = study.study_instance_uid;
    item.dataset.remote = String(Boolean(study.remote));
    const description = study.study_description || study.accession_number || '(no description)';
    if (study.remote) {
      const title = el('span', 'prior-title', description);
      const badge = el('span', 'remote-badge');
      badge.append(el('span', 'remote-badge-label', 'Remote'), el('span', 'remote-badge-node', study.node));
      item.append(badge, title, el('span', 'prior-meta', priorMeta(study)));
      const control = new RetrieveControl(
        this.#client,
        { node: study.node, studyUid: study.study_instance_uid, label: description },
        this.#viewerUrl,
      );
      this.#controls.push(control);
      item.append(control.element);
    } else {
      const link = /** @type {HTMLAnchorElement} */ (el('a', 'prior-title', description));
      link.href = this.#viewerUrl(study.study_instance_uid);
      item.append(link, el('span', 'prior-meta', priorMeta(study)));
    }
    return item;
  }
}
