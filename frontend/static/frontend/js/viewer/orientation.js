/**
 * Orientation markers: which way the patient lies at each edge of a viewport.
 *
 * PS3.3 C.7.6.2.1.1: Image Orientation (Patient) gives the direction cosines of the first row
 * (image +x) and the first column (image +y) in the patient coordinate system, whose axes point
 * to the patient's Left (+x), Posterior (+y) and Head (+z). A screen direction is taken back to
 * an image direction by the view transform (so rotation and flips are honoured), then into
 * the patient system, and named with the letters of PS3.3 C.7.6.1.1.1 (Patient Orientation):
 * L/R, A/P, H/F, strongest component first, so an oblique plane reads e.g. "LA".
 *
 * No DOM; unit-tested with node.
 * @module viewer/orientation
 */

/** Components below this share of the direction are left out of the label. */
const MINOR_COMPONENT = 0.25;

/**
 * @param {[number, number, number]} vector  a direction in the patient system (LPS)
 * @param {number} [threshold]
 * @returns {string}  e.g. "L", "RA", "HFP"... at most three letters
 */
export function directionLabel(vector, threshold = MINOR_COMPONENT) {
  const length = Math.hypot(...vector);
  if (!(length > 0)) return '';
  const letters = [
    ['L', 'R'],
    ['P', 'A'],
    ['H', 'F'],
  ];
  return vector
    .map((value, axis) => ({ axis, size: Math.abs(value / length), positive: value > 0 }))
    .filter((c) => c.size >= threshold)
    .sort((a, b) => b.size - a.size)
    .map((c) => letters[c.axis][c.positive ? 0 : 1])
    .join('');
}

/**
 * @param {unknown} orientation  Image Orientation (Patient), six numbers
 * @returns {orientation is number[]}
 */
export function isOrientation(orientation) {
  if (!Array.isArray(orientation) || orientation.length !== 6) return false;
  if (!orientation.every(Number.isFinite)) return false;
  const row = Math.hypot(orientation[0], orientation[1], orientation[2]);
  const column = Math.hypot(orientation[3], orientation[4], orientation[5]);
  return row > 0.5 && column > 0.5;
}

/**
 * The patient direction of an image direction.
 * @param {number[]} orientation  Image Orientation (Patient)
 * @param {number} ix  along image +x (the row direction)
 * @param {number} iy  along image +y (the column direction)
 * @returns {[number, number, number]}
 */
export function patientDirection(orientation, ix, iy) {
  return [
    ix * orientation[0] + iy * orientation[3],
    ix * orientation[1] + iy * orientation[4],
    ix * orientation[2] + iy * orientation[5],
  ];
}

/**
 * Labels for the four edges of the view.
 * @param {unknown} orientation  Image Orientation (Patient), or null when the image has none
 * @param {{screenDirectionInImage(dx: number, dy: number): [number, number]}} transform
 * @returns {{top: string, right: string, bottom: string, left: string}}
 */
export function orientationMarkers(orientation, transform) {
  if (!isOrientation(orientation)) return { top: '', right: '', bottom: '', left: '' };
  /** @param {number} dx @param {number} dy */
  const label = (dx, dy) => {
    const [ix, iy] = transform.screenDirectionInImage(dx, dy);
    return directionLabel(patientDirection(orientation, ix, iy));
  };
  return { top: label(0, -1), right: label(1, 0), bottom: label(0, 1), left: label(-1, 0) };
}
