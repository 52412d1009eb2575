/**
 * The scrollable stack of one series: every frame of every instance, in the server's order
 * (PROTOCOL.md `study`: instances sorted by position along the normal, else by instance number),
 * with the current position, the neighbours worth prefetching, and the nearest slice to a point
 * (for synchronised scrolling between viewports of one Frame of Reference, PS3.3 C.7.4.1).
 *
 * No DOM; unit-tested with node.
 * @module viewer/image-stack
 */

import { ImagePlane } from './image-plane.js';

/**
 * @typedef {object} StudyInstance  an instance of the `study` message
 * @property {string} uid
 * @property {number | null} number
 * @property {number} frames
 * @property {number} rows
 * @property {number} columns
 * @property {number[] | null} position
 * @property {number[] | null} orientation
 * @property {number[] | null} pixel_spacing
 * @property {number | null} slice_location
 */

/**
 * @typedef {object} StudySeries  a series of the `study` message
 * @property {string} uid
 * @property {number | null} number
 * @property {string} modality
 * @property {string} description
 * @property {string} body_part
 * @property {string} frame_of_reference
 * @property {StudyInstance[]} instances
 */

/**
 * @typedef {object} StackEntry
 * @property {StudyInstance} instance
 * @property {number} frame              0-based frame within the instance
 * @property {ImagePlane | null} plane   null without geometry, and for frames of multi-frame
 *   instances (the `study` message carries one position per instance)
 */

/** Alignment (|cos| of the angle between normals) above which stacks scroll together. */
export const SYNC_ALIGNMENT = 0.8;

export class ImageStack {
  /** @type {StudySeries} */
  #series;
  /** @type {StackEntry[]} */
  #entries;
  #index = 0;
  #direction = 1;

  /** @param {StudySeries} series */
  constructor(series) {
    this.#series = series;
    this.#entries = [];
    for (const instance of series.instances ?? []) {
      const frames = Math.max(1, Math.floor(Number(instance.frames) || 1));
      const plane = frames === 1 ? ImagePlane.fromInstance(instance) : null;
      for (let frame = 0; frame < frames; frame += 1) {
        this.#entries.push({ instance, frame, plane });
      }
    }
  }

  get series() {
    return this.#series;
  }

  get length() {
    return this.#entries.length;
  }

  get index() {
    return this.#index;
  }

  /** @returns {StackEntry | undefined} */
  get entry() {
    return this.#entries[this.#index];
  }

  /** @param {number} index */
  entryAt(index) {
    return this.#entries[index];
  }

  get frameOfReference() {
    return this.#series.frame_of_reference || '';
  }

  /**
   * @param {number} index  clamped into the stack
   * @returns {boolean} whether the position changed
   */
  setIndex(index) {
    if (this.#entries.length === 0 || !Number.isFinite(index)) return false;
    const clamped = Math.min(this.#entries.length - 1, Math.max(0, Math.round(index)));
    if (clamped === this.#index) return false;
    this.#direction = clamped > this.#index ? 1 : -1;
    this.#index = clamped;
    return true;
  }

  /**
   * @param {number} delta
   * @param {{wrap?: boolean}} [options]  wrap: past the end starts again (cine loops)
   * @returns {boolean} whether the position changed
   */
  step(delta, { wrap = false } = {}) {
    const n = this.#entries.length;
    if (n === 0 || delta === 0) return false;
    let next = this.#index + Math.trunc(delta);
    if (wrap) next = ((next % n) + n) % n;
    const changed = this.setIndex(next);
    if (changed) this.#direction = Math.sign(delta);
    return changed;
  }

  /**
   * Select the entry of an instance and frame, if it is in this stack.
   * @param {string} instanceUid
   * @param {number} [frame]
   */
  indexOf(instanceUid, frame = 0) {
    return this.#entries.findIndex((e) => e.instance.uid === instanceUid && e.frame === frame);
  }

  /**
   * The frames to prefetch around the current one, nearest first, favouring the direction
   * of travel (two ahead for each one behind).
   * @param {number} count
   * @returns {Array<[string, number]>}
   */
  prefetchList(count) {
    const n = this.#entries.length;
    const order = [];
    let ahead = 1;
    let behind = 1;
    /** @param {number} i */
    const add = (i) => {
      if (i >= 0 && i < n) order.push(i);
    };
    while (order.length < count && (ahead < n || behind < n)) {
      for (let k = 0; k < 2 && ahead < n; k += 1) {
        add(this.#index + this.#direction * ahead);
        ahead += 1;
      }
      if (behind < n) {
        add(this.#index - this.#direction * behind);
        behind += 1;
      }
    }
    return order.slice(0, count).map((i) => [this.#entries[i].instance.uid, this.#entries[i].frame]);
  }

  /**
   * The index of the slice nearest to a patient point, or -1 when the stack has no geometry
   * or the point lies beyond the stack by more than one slice gap.
   * @param {[number, number, number]} point
   */
  nearestIndexTo(point) {
    let best = -1;
    let bestDistance = Infinity;
    this.#entries.forEach((entry, i) => {
      if (!entry.plane) return;
      const distance = Math.abs(entry.plane.distanceTo(point));
      if (distance < bestDistance) {
        bestDistance = distance;
        best = i;
      }
    });
    if (best < 0) return -1;
    return bestDistance <= Math.max(this.sliceGap(), 1) ? best : -1;
  }

  /** The median distance between neighbouring slices (mm), 0 without geometry. */
  sliceGap() {
    const locations = this.#entries.filter((e) => e.plane).map((e) => /** @type {ImagePlane} */ (e.plane).location);
    if (locations.length < 2) return 0;
    const gaps = [];
    for (let i = 1; i < locations.length; i += 1) gaps.push(Math.abs(locations[i] - locations[i - 1]));
    gaps.sort((a, b) => a - b);
    return gaps[Math.floor(gaps.length / 2)];
  }
}

/**
 * Where `target` should scroll to follow `source`: the slice nearest the centre of the
 * source's current image, if both share a Frame of Reference and lie in near-parallel planes;
 * otherwise null (reference lines, not scrolling, relate crossing planes).
 * @param {ImageStack} source
 * @param {ImageStack} target
 * @returns {number | null}
 */
export function syncedIndex(source, target) {
  if (source === target || !source.frameOfReference) return null;
  if (source.frameOfReference !== target.frameOfReference) return null;
  const plane = source.entry?.plane;
  const targetPlane = target.entry?.plane ?? target.entryAt(0)?.plane;
  if (!plane || !targetPlane || plane.alignmentWith(targetPlane) < SYNC_ALIGNMENT) return null;
  const index = target.nearestIndexTo(plane.centre);
  return index < 0 ? null : index;
}
