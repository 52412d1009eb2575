import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  angleDegrees,
  distanceToShape,
  isComplete,
  labelAnchor,
  lineLength,
  protocolShape,
  provisionalLabel,
  resultLabel,
} from '../../../frontend/static/frontend/js/viewer/measurement-geometry.js';

test('shapes become the protocol\'s measure shapes', () => {
  assert.deepEqual(protocolShape('probe', [[1.23456, 2]]), { kind: 'point', x: 1.235, y: 2 });
  assert.deepEqual(protocolShape('length', [[0, 0], [3, 4]]), { kind: 'line', points: [[0, 0], [3, 4]] });
  assert.deepEqual(protocolShape('angle', [[0, 0], [1, 1], [2, 0]]).points.length, 3);
  // Boxes are normalised whichever corner the drag started from.
  assert.deepEqual(protocolShape('ellipse', [[10, 20], [4, 8]]), { kind: 'ellipse', x: 4, y: 8, width: 6, height: 12 });
  assert.deepEqual(protocolShape('rectangle', [[1, 1], [2, 3]]), { kind: 'rectangle', x: 1, y: 1, width: 1, height: 2 });
  assert.throws(() => protocolShape('lasso', []), /unknown/);
});

test('degenerate shapes are not complete', () => {
  assert.equal(isComplete('length', [[1, 1], [1, 1]]), false);
  assert.equal(isComplete('length', [[1, 1], [2, 1]]), true);
  assert.equal(isComplete('ellipse', [[1, 1], [5, 1]]), false);
  assert.equal(isComplete('angle', [[0, 0], [1, 1]]), false);
  assert.equal(isComplete('probe', [[0, 0]]), true);
});

test('lengths use the column spacing along rows and the row spacing down columns', () => {
  // PS3.3 10.7.1.3: Pixel Spacing = [between rows, between columns].
  assert.deepEqual(lineLength([0, 0], [10, 0], [2, 0.5]), { value: 5, unit: 'mm' });
  assert.deepEqual(lineLength([0, 0], [0, 10], [2, 0.5]), { value: 20, unit: 'mm' });
  assert.deepEqual(lineLength([0, 0], [3, 4], null), { value: 5, unit: 'px' });
});

test('angles are measured at the middle point, in physical space', () => {
  assert.equal(Math.round(angleDegrees([1, 0], [0, 0], [0, 1])), 90);
  assert.equal(Math.round(angleDegrees([1, 0], [0, 0], [1, 1])), 45);
  // Rows twice as far apart as columns: the on-image 45° is really atan(2) ≈ 63.4°.
  assert.equal(Math.round(angleDegrees([1, 0], [0, 0], [1, 1], [2, 1]) * 10) / 10, 63.4);
});

test('server results read as labels', () => {
  assert.deepEqual(resultLabel({ kind: 'line', length_mm: 45.678 }), ['45.7 mm']);
  assert.deepEqual(resultLabel({ kind: 'line', length_px: 12, note: 'uncalibrated: Imager Pixel Spacing' }), [
    '12.0 px',
    'uncalibrated: Imager Pixel Spacing',
  ]);
  assert.deepEqual(resultLabel({ kind: 'angle', degrees: 90 }), ['90.0°']);
  assert.deepEqual(resultLabel({ kind: 'point', value: -998.5, unit: 'HU' }), ['-998.5 HU']);
  assert.deepEqual(resultLabel({ kind: 'point', value: null, stored: [12, 34, 56], unit: '' }), ['RGB 12, 34, 56']);
  // Calibrated answers carry an empty note: no extra line.
  assert.deepEqual(resultLabel({ kind: 'line', length_px: 10, length_mm: 5, note: '' }), ['5.0 mm']);
  assert.deepEqual(resultLabel({ kind: 'ellipse', mean: 40, sd: 12.345, min: 1, max: 90, area_mm2: 314.159, unit: 'HU' }), [
    'Mean 40.0 SD 12.3 HU',
    'Min 1.0 Max 90.0',
    'Area 314.2 mm²',
  ]);
  assert.deepEqual(provisionalLabel('length', [[0, 0], [10, 0]], [1, 0.7]), ['7.0 mm']);
});

test('picking finds the outline of each shape', () => {
  assert.equal(distanceToShape('length', [[0, 0], [10, 0]], [5, 3]), 3);
  assert.equal(distanceToShape('rectangle', [[0, 0], [10, 10]], [5, 5]), 5);
  assert.equal(distanceToShape('ellipse', [[0, 0], [10, 10]], [5, 12]), 2);
  assert.equal(distanceToShape('angle', [[0, 0], [5, 5], [10, 0]], [10, 0]), 0);
  assert.deepEqual(labelAnchor('rectangle', [[4, 4], [1, 1]]), [4, 4]);
});
