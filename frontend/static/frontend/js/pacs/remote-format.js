/**
 * Pure helpers of the PACS search and retrieve UI: the study list's search fields as a
 * C-FIND query for `/pacs/nodes/<name>/search`, how much of a remote study is already here,
 * and a retrieve job as words and a fraction. No DOM; unit-tested with node.
 * @module pacs/remote-format
 */

/** The C-FIND levels the UI offers (PS3.4 C.6.1.1 patient root, C.6.2.1 study root). */
export const LEVELS = /** @type {const} */ (['PATIENT', 'STUDY', 'SERIES']);

/** Job states of `RetrieveJob.State` that may still change. */
const ACTIVE = new Set(['queued', 'running']);

/**
 * A name typed without wildcards is a prefix, as on the local list: "doe" finds "DOE^JANE"
 * (PS3.4 C.2.2.2.4 wildcard matching; `*` and `?` typed by the user are kept as they are).
 * @param {string} name
 */
export function prefixName(name) {
  const text = String(name ?? '').trim();
  if (!text || /[*?]/.test(text)) return text;
  return `${text}*`;
}

/**
 * `2024-01-02` (what <input type=date> gives) or `20240102` as a DA value (PS3.5 6.2).
 * @param {string} value
 * @returns {string} YYYYMMDD, or '' when empty or not a date
 */
export function dicomDate(value) {
  const text = String(value ?? '').trim();
  const match = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(text);
  return match ? `${match[1]}${match[2]}${match[3]}` : '';
}

/**
 * PS3.4 C.2.2.2.5.1 range matching: `D1-D2`, `D1-`, `-D2`, '' for no limit.
 * @param {string} from
 * @param {string} to
 */
export function dateRange(from, to) {
  const start = dicomDate(from);
  const end = dicomDate(to);
  if (!start && !end) return '';
  if (start && end && start === end) return start;
  return `${start}-${end}`;
}

/**
 * @typedef {object} SearchFields  what the study list's search form holds
 * @property {string} [patient_name]
 * @property {string} [patient_id]
 * @property {string} [accession_number]
 * @property {string} [date_from]
 * @property {string} [date_to]
 * @property {string} [modality]
 * @property {string} [study_instance_uid]   for a series search
 */

/**
 * The query string of a search (without the `?`).
 * @param {SearchFields} fields
 * @param {string} level  one of LEVELS
 */
export function searchQuery(fields, level) {
  const upper = String(level || 'STUDY').toUpperCase();
  if (!LEVELS.includes(/** @type {any} */ (upper))) throw new RangeError(`unknown level ${level}`);
  const params = new URLSearchParams({ level: upper });
  const add = (/** @type {string} */ key, /** @type {string} */ value) => {
    if (value) params.set(key, value);
  };
  add('patient_name', prefixName(fields.patient_name ?? ''));
  add('patient_id', String(fields.patient_id ?? '').trim());
  add('accession_number', String(fields.accession_number ?? '').trim());
  add('study_date', dateRange(fields.date_from ?? '', fields.date_to ?? ''));
  add('modality', String(fields.modality ?? '').trim().toUpperCase());
  add('study_instance_uid', String(fields.study_instance_uid ?? '').trim());
  return params.toString();
}

/**
 * Whether a patient or study search has something to match on (the server refuses an empty
 * one: it would ask the PACS for everything it holds).
 * @param {SearchFields} fields
 */
export function hasTerms(fields) {
  return ['patient_name', 'patient_id', 'accession_number', 'date_from', 'date_to', 'modality'].some(
    (key) => String(/** @type {any} */ (fields)[key] ?? '').trim() !== '',
  );
}

/**
 * How much of a remote study or series is already in the archive.
 * @param {{local_instances?: number | null, number_of_instances?: number | null}} row
 * @returns {{state: 'none' | 'partial' | 'all', text: string}}
 */
export function localShare(row) {
  const local = Number(row.local_instances ?? 0) || 0;
  const remote = row.number_of_instances;
  if (local <= 0) return { state: 'none', text: 'Not here' };
  if (typeof remote === 'number' && remote > 0) {
    if (local >= remote) return { state: 'all', text: `All ${remote} here` };
    return { state: 'partial', text: `${local} of ${remote} here` };
  }
  return { state: 'partial', text: `${local} here` };
}

/**
 * @typedef {object} Job  a job as `/pacs/jobs/<id>` answers (studies.pacs.progress.job_summary)
 * @property {number} id
 * @property {string} state
 * @property {number | null} expected
 * @property {number} received
 * @property {number} failed
 * @property {number} present
 * @property {string} error
 * @property {boolean} cancel_requested
 * @property {number} attempts
 */

/** @param {Job} job */
export function isActive(job) {
  return ACTIVE.has(job.state);
}

/**
 * A job as the progress indicator shows it.
 * @param {Job} job
 * @returns {{active: boolean, fraction: number | null, text: string, tone: 'busy' | 'ok' | 'warn' | 'error', openable: boolean}}
 */
export function jobProgress(job) {
  const received = Number(job.received) || 0;
  const failed = Number(job.failed) || 0;
  const expected = typeof job.expected === 'number' ? job.expected : null;
  const fraction = expected ? Math.min(1, received / expected) : expected === 0 ? 1 : null;
  const count = expected === null ? `${received} received` : `${received} of ${expected}`;
  const failures = failed > 0 ? `, ${failed} failed` : '';
  // Something landed: the viewer can show it while the rest arrives.
  const openable = received > 0 || (Number(job.present) || 0) > 0;
  switch (job.state) {
    case 'queued':
      return {
        active: true,
        fraction,
        text: job.attempts > 0 ? `Waiting to retry (${count}${failures})` : 'Queued',
        tone: 'busy',
        openable,
      };
    case 'running':
      return {
        active: true,
        fraction,
        text: job.cancel_requested ? `Cancelling… (${count})` : `Retrieving ${count}${failures}`,
        tone: 'busy',
        openable,
      };
    case 'done':
      return { active: false, fraction: 1, text: `Done: ${count}${failures}`, tone: failed ? 'warn' : 'ok', openable };
    case 'cancelled':
      return { active: false, fraction, text: `Cancelled (${count})`, tone: 'warn', openable };
    case 'failed':
      return {
        active: false,
        fraction,
        text: `Failed: ${job.error || 'the PACS did not send the study'}`,
        tone: 'error',
        openable,
      };
    default:
      return { active: false, fraction, text: String(job.state), tone: 'warn', openable };
  }
}
