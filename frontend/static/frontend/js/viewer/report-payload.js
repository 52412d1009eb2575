/**
 * The viewer's measurements as the report endpoints take and give them
 * (studies/reports/views.py): what is saved as a TID 1500 Measurement Report (PS3.16) and how
 * a saved one comes back onto its images. The numbers are the server's (`measurement`
 * answers, PROTOCOL.md), never recomputed here.
 *
 * No DOM; unit-tested with node.
 * @module viewer/report-payload
 */

import { protocolShape } from './measurement-geometry.js';

/**
 * @typedef {object} PlacedMeasurement
 * @property {string} instance  SOP Instance UID of the image
 * @property {number} frame     counted from 0, as on the socket
 * @property {import('./annotation-layer.js').Measurement} measurement
 */

/**
 * @typedef {object} SavedMeasurement  one entry of saved.json's `measurements`
 * @property {string} instance
 * @property {number} frame
 * @property {{kind: string, [key: string]: any}} shape
 * @property {{kind: string, [key: string]: any}} measurement
 */

/**
 * The body of `POST …/reports/measurements`: every finished measurement with its shape and
 * the server's values. A probe is a pixel value, not a TID 1410 measurement: left out and
 * counted, like measurements still waiting for the server or failed.
 * @param {Iterable<PlacedMeasurement>} placed
 * @returns {{items: Array<{instance: string, frame: number, shape: object, measurement: object}>,
 *            left: {pending: number, failed: number, probe: number}}}
 */
export function measurementsPayload(placed) {
  const items = [];
  const left = { pending: 0, failed: 0, probe: 0 };
  for (const { instance, frame, measurement } of placed) {
    if (measurement.status === 'pending') left.pending += 1;
    else if (measurement.status === 'failed' || !measurement.result) left.failed += 1;
    else if (measurement.tool === 'probe') left.probe += 1;
    else {
      items.push({
        instance,
        frame,
        shape: protocolShape(measurement.tool, measurement.points),
        measurement: measurement.result,
      });
    }
  }
  return { items, left };
}

/** @param {unknown} value */
function finite(value) {
  return typeof value === 'number' && Number.isFinite(value);
}

/** @param {unknown} point */
function isPoint(point) {
  return Array.isArray(point) && point.length === 2 && finite(point[0]) && finite(point[1]);
}

/**
 * A saved measurement as the viewer draws it (tool and image points), or null for a shape
 * this viewer has no tool for or one that does not hold together.
 * @param {SavedMeasurement} saved
 * @returns {{instance: string, frame: number, tool: import('./measurement-geometry.js').MeasureTool,
 *            points: Array<[number, number]>, result: object} | null}
 */
export function restoredMeasurement(saved) {
  const shape = saved?.shape;
  if (!shape || typeof saved.instance !== 'string' || !Number.isInteger(saved.frame) || saved.frame < 0) return null;
  /** @type {import('./measurement-geometry.js').MeasureTool | null} */
  let tool = null;
  /** @type {Array<[number, number]>} */
  let points = [];
  if ((shape.kind === 'line' || shape.kind === 'angle') && Array.isArray(shape.points)) {
    const wanted = shape.kind === 'line' ? 2 : 3;
    if (shape.points.length === wanted && shape.points.every(isPoint)) {
      tool = shape.kind === 'line' ? 'length' : 'angle';
      points = shape.points.map((/** @type {[number, number]} */ p) => [p[0], p[1]]);
    }
  } else if ((shape.kind === 'ellipse' || shape.kind === 'rectangle') && [shape.x, shape.y, shape.width, shape.height].every(finite)) {
    tool = shape.kind;
    points = [
      [shape.x, shape.y],
      [shape.x + shape.width, shape.y + shape.height],
    ];
  }
  if (tool === null) return null;
  return { instance: saved.instance, frame: saved.frame, tool, points, result: { ...saved.measurement, kind: shape.kind } };
}

/**
 * What a save did, in a sentence: how many were saved, where they were sent, what was left out.
 * @param {{what: 'measurements' | 'key images', count: number, sentTo?: string | null,
 *          left?: {pending: number, failed: number, probe: number}}} outcome
 */
export function savedSentence({ what, count, sentTo = null, left }) {
  const noun = what === 'measurements' ? (count === 1 ? 'measurement' : 'measurements') : count === 1 ? 'key image' : 'key images';
  const kind = what === 'measurements' ? 'Measurement Report' : 'Key Object Selection';
  let text = `Saved ${count} ${noun} as a DICOM ${kind}`;
  if (sentTo) text += `, sent to ${sentTo}`;
  text += '.';
  const skipped = [];
  if (left?.pending) skipped.push(`${left.pending} still measuring`);
  if (left?.failed) skipped.push(`${left.failed} failed`);
  if (left?.probe) skipped.push(`${left.probe} pixel value${left.probe === 1 ? '' : 's'}`);
  if (skipped.length) text += ` Not included: ${skipped.join(', ')}.`;
  return text;
}
