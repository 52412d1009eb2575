/**
 * Window (VOI) choices for a frame and the window/level drag.
 *
 * A window is [center, width] in modality values (after the Modality LUT, PS3.3 C.11.1: HU for
 * CT) and goes through the LINEAR function of PS3.3 C.11.2.1.2.1 on the server. Besides the
 * file's own windows and VOI LUTs (C.11.2), common presets are offered per modality; only CT
 * has units (HU) stable enough for fixed numbers.
 *
 * No DOM; unit-tested with node.
 * @module viewer/window-presets
 */

/**
 * @typedef {object} WindowChoice
 * @property {string} id           stable identifier (for the toolbar and key bindings)
 * @property {string} label
 * @property {[number, number] | null} window   null: a file VOI chosen by `voi`
 * @property {number} voi          index into frame_info.vois (used when window is null)
 */

/**
 * CT presets in Hounsfield units, as [label, center, width]: the values taught in radiology
 * and used by most workstations.
 * @type {ReadonlyArray<readonly [string, number, number]>}
 */
export const CT_PRESETS = Object.freeze([
  ['Brain', 40, 80],
  ['Subdural', 75, 215],
  ['Stroke', 40, 40],
  ['Temporal bone', 600, 2800],
  ['Soft tissue', 40, 350],
  ['Mediastinum', 50, 350],
  ['Lung', -600, 1500],
  ['Abdomen', 40, 400],
  ['Liver', 60, 160],
  ['Angio', 300, 600],
  ['Bone', 400, 1800],
]);

/** @type {Readonly<Record<string, ReadonlyArray<readonly [string, number, number]>>>} */
const BY_MODALITY = Object.freeze({ CT: CT_PRESETS });

/**
 * The fixed presets of a modality (empty when its values have no fixed meaning, e.g. MR).
 * @param {string} modality  Modality (0008,0060)
 * @returns {WindowChoice[]}
 */
export function modalityPresets(modality) {
  const presets = BY_MODALITY[String(modality || '').trim().toUpperCase()] ?? [];
  return presets.map(([label, center, width]) => ({
    id: `preset-${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
    label,
    window: [center, width],
    voi: 0,
  }));
}

/**
 * @typedef {object} VoiOption  one entry of frame_info.vois
 * @property {number} index
 * @property {'window'|'lut'} kind
 * @property {number | null} center
 * @property {number | null} width
 * @property {string | null} function
 * @property {string} explanation
 */

/**
 * Everything the reader can pick for a frame: the file's default, the file's other windows
 * and VOI LUTs (PS3.3 C.11.2.1.2: Window Center/Width pair up with their explanations), then
 * the modality's presets.
 * @param {string} modality
 * @param {{vois?: VoiOption[], is_color?: boolean} | null} frameInfo
 * @returns {WindowChoice[]}
 */
export function windowChoices(modality, frameInfo) {
  if (frameInfo && frameInfo.is_color) return [];
  /** @type {WindowChoice[]} */
  const choices = [{ id: 'default', label: 'Default', window: null, voi: 0 }];
  const vois = frameInfo?.vois ?? [];
  for (const voi of vois) {
    if (voi.index === 0) continue; // that is the default
    const label =
      voi.explanation?.trim() ||
      (voi.kind === 'window' ? `Window ${formatNumber(voi.center)}/${formatNumber(voi.width)}` : `VOI LUT ${voi.index + 1}`);
    choices.push({ id: `voi-${voi.index}`, label: `${label} (file)`, window: null, voi: voi.index });
  }
  return choices.concat(modalityPresets(modality));
}

/**
 * Where a window drag starts when the view shows the file's default: its window if the
 * default is one, else another window of the file, else the stored range (a good guess for
 * images without rescale; the first drag step then shows the actual values).
 * @param {{default_window?: [number, number] | null, vois?: VoiOption[], stored_range?: [number, number] | null} | null} frameInfo
 * @returns {[number, number]}
 */
export function startingWindow(frameInfo) {
  if (frameInfo?.default_window) return [frameInfo.default_window[0], frameInfo.default_window[1]];
  const window = frameInfo?.vois?.find((v) => v.kind === 'window' && v.center !== null && v.width);
  if (window) return [/** @type {number} */ (window.center), /** @type {number} */ (window.width)];
  const range = frameInfo?.stored_range;
  if (range && range[1] > range[0]) return [(range[0] + range[1]) / 2, range[1] - range[0]];
  return [128, 256];
}

/**
 * Modality units per screen pixel of window drag: a full-range image takes about 512 px of
 * drag to sweep, so fine control and a quick sweep both work.
 * @param {{stored_range?: [number, number] | null} | null} frameInfo
 * @param {[number, number]} start
 */
export function dragSensitivity(frameInfo, start) {
  const range = frameInfo?.stored_range;
  const span = range && range[1] > range[0] ? range[1] - range[0] : start[1] * 4;
  return Math.max(0.05, span / 512);
}

/**
 * The window after dragging (dx, dy) screen pixels from `start`: right widens the window
 * (less contrast), down raises the center (darker), as on most workstations.
 * @param {[number, number]} start  [center, width]
 * @param {number} dx
 * @param {number} dy
 * @param {number} sensitivity  modality units per pixel
 * @returns {[number, number]}
 */
export function dragWindow(start, dx, dy, sensitivity) {
  const center = start[0] + dy * sensitivity;
  // PS3.3 C.11.2.1.2.1: Window Width ≥ 1 for LINEAR; keep it there.
  const width = Math.max(1, start[1] + dx * sensitivity);
  return [roundTo(center, sensitivity), roundTo(width, sensitivity)];
}

/**
 * "W 400 L 40" style text for the overlay.
 * @param {[number, number] | null} window
 */
export function formatWindow(window) {
  if (!window) return '';
  return `W ${formatNumber(window[1])} L ${formatNumber(window[0])}`;
}

/** @param {number | null | undefined} value */
export function formatNumber(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const rounded = Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
  return String(Object.is(rounded, -0) ? 0 : rounded);
}

/**
 * Round to a precision that suits the step (integers for HU, decimals for small ranges).
 * @param {number} value
 * @param {number} step
 */
function roundTo(value, step) {
  const digits = step >= 1 ? 0 : Math.min(4, Math.ceil(-Math.log10(step)));
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
