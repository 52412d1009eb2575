/**
 * DICOM values as display text (always put into the page with textContent).
 * No DOM; unit-tested with node.
 * @module viewer/dicom-text
 */

/**
 * PS3.5 6.2.1.1 PN: `Family^Given^Middle^Prefix^Suffix`, up to three `=`-separated groups
 * (alphabetic, ideographic, phonetic). The first non-empty group as
 * "FAMILY, Prefix Given Middle, Suffix" — the same as the server's `person_name` filter.
 * Accepts the DICOM JSON form `{Alphabetic: ...}` too (PS3.18 F.2.2).
 * @param {unknown} value
 */
export function personName(value) {
  let text = value;
  if (value && typeof value === 'object') {
    const pn = /** @type {Record<string, unknown>} */ (value);
    text = pn.Alphabetic ?? pn.Ideographic ?? pn.Phonetic ?? '';
  }
  text = String(text ?? '');
  const group = text.split('=').find((g) => g.replace(/[\^ ]/g, '') !== '') ?? '';
  if (!group) return '';
  const [family = '', given = '', middle = '', prefix = '', suffix = ''] = group.split('^').map((p) => p.trim());
  const rest = [prefix, given, middle].filter(Boolean).join(' ');
  const name = [family, rest].filter(Boolean).join(', ');
  return suffix ? `${name}, ${suffix}` : name;
}

/**
 * A DA value (PS3.5 6.2: YYYYMMDD) or an ISO date as YYYY-MM-DD; anything else unchanged.
 * @param {unknown} value
 */
export function formatDate(value) {
  const text = String(value ?? '').trim();
  const da = /^(\d{4})(\d{2})(\d{2})$/.exec(text);
  if (da) return `${da[1]}-${da[2]}-${da[3]}`;
  const iso = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (iso) return `${iso[1]}-${iso[2]}-${iso[3]}`;
  return text;
}

/**
 * A short series title: "2 · CT · Axial 5 mm".
 * @param {{number?: number | null, modality?: string, description?: string}} series
 */
export function seriesTitle(series) {
  return [series.number ?? null, series.modality || null, series.description || null]
    .filter((part) => part !== null && part !== '')
    .join(' · ');
}
