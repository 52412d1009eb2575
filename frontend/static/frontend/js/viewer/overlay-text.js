/**
 * The four corner overlays of a viewport (patient, study, image position, display state), as
 * lines of plain text; the viewport puts them into the page with textContent.
 * No DOM; unit-tested with node.
 * @module viewer/overlay-text
 */

import { formatDate, personName, seriesTitle } from './dicom-text.js';
import { formatNumber, formatWindow } from './window-presets.js';

/**
 * @typedef {object} OverlayInput
 * @property {any} study                     the `study` message
 * @property {any} series                    one of its series
 * @property {any} instance                  the instance on show
 * @property {number} frame                  0-based
 * @property {number} position               0-based index in the stack
 * @property {number} stackLength
 * @property {[number, number] | null} window  the window on show (the default's, if known)
 * @property {string} [windowLabel]          e.g. "Default" or a preset name
 * @property {boolean} invert
 * @property {number} zoom                   CSS pixels per image pixel
 * @property {number} rotation               degrees clockwise
 * @property {'horizontal'|'vertical'|null} flip  mirror applied after the rotation
 * @property {string} [unit]                 modality unit, e.g. "HU"
 */

/**
 * @param {OverlayInput} input
 * @returns {{topLeft: string[], topRight: string[], bottomLeft: string[], bottomRight: string[]}}
 */
export function overlayText(input) {
  const { study, series, instance } = input;
  const patient = study?.patient ?? {};
  const topLeft = [
    personName(patient.name) || '(no name)',
    patient.id ? `ID ${patient.id}` : '',
    [formatDate(patient.birth_date), patient.sex].filter(Boolean).join(' '),
  ].filter(Boolean);
  const topRight = [
    study?.description || '',
    formatDate(study?.study_date),
    study?.accession ? `Acc ${study.accession}` : '',
    series ? `Se ${seriesTitle(series)}` : '',
  ].filter(Boolean);

  const bottomLeft = [];
  if (instance) {
    const number = instance.number ?? '—';
    bottomLeft.push(`Im ${input.position + 1}/${input.stackLength}  (#${number})`);
    if ((instance.frames ?? 1) > 1) bottomLeft.push(`Fr ${input.frame + 1}/${instance.frames}`);
    if (Number.isFinite(instance.slice_location)) bottomLeft.push(`Loc ${formatNumber(instance.slice_location)} mm`);
    if (Array.isArray(instance.pixel_spacing)) {
      bottomLeft.push(`Px ${instance.pixel_spacing.map((v) => formatNumber(v)).join(' × ')} mm`);
    }
  }

  const bottomRight = [];
  const window = formatWindow(input.window);
  const label = input.windowLabel && input.windowLabel !== 'Default' ? ` (${input.windowLabel})` : '';
  if (window) bottomRight.push(`${window}${input.unit ? ` ${input.unit}` : ''}${label}`);
  else if (input.windowLabel) bottomRight.push(input.windowLabel);
  if (input.invert) bottomRight.push('Inverted');
  bottomRight.push(`Zoom ${Math.round(input.zoom * 100)}%`);
  const turn = [];
  if (input.rotation) turn.push(`Rot ${input.rotation}°`);
  if (input.flip) turn.push(input.flip === 'horizontal' ? 'Flip H' : 'Flip V');
  if (turn.length) bottomRight.push(turn.join(' · '));
  return { topLeft, topRight, bottomLeft, bottomRight };
}
