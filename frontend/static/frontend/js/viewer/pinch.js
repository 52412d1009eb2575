/**
 * Two-finger gestures: how far a pinch zooms and pans between two pointer samples.
 * No DOM; unit-tested with node.
 * @module viewer/pinch
 */

/** @typedef {[number, number]} Point */

/**
 * From the previous and current positions of two pointers: the zoom factor (ratio of finger
 * distances), the anchor it applies at (the previous midpoint) and the pan (movement of the
 * midpoint). Applying zoomBy(scale, anchor) then panBy(dx, dy) keeps the image under the
 * fingers.
 * @param {Point} a0
 * @param {Point} b0
 * @param {Point} a1
 * @param {Point} b1
 */
export function pinchStep(a0, b0, a1, b1) {
  const before = Math.hypot(b0[0] - a0[0], b0[1] - a0[1]);
  const after = Math.hypot(b1[0] - a1[0], b1[1] - a1[1]);
  const scale = before > 4 && after > 0 ? after / before : 1;
  const anchor = /** @type {Point} */ ([(a0[0] + b0[0]) / 2, (a0[1] + b0[1]) / 2]);
  const dx = (a1[0] + b1[0]) / 2 - anchor[0];
  const dy = (a1[1] + b1[1]) / 2 - anchor[1];
  return { scale, anchor, dx, dy };
}

/**
 * How many images a drag of `dy` pixels scrolls, given the pixels per image; returns the
 * whole steps and the remainder to carry to the next move.
 * @param {number} accumulated  pixels dragged and not yet turned into steps
 * @param {number} pixelsPerImage
 */
export function dragSteps(accumulated, pixelsPerImage) {
  const steps = Math.trunc(accumulated / pixelsPerImage);
  return { steps, rest: accumulated - steps * pixelsPerImage };
}
