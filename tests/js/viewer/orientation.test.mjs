import assert from 'node:assert/strict';
import { test } from 'node:test';

import { directionLabel, orientationMarkers } from '../../../frontend/static/frontend/js/viewer/orientation.js';
import { ViewTransform } from '../../../frontend/static/frontend/js/viewer/view-transform.js';

const AXIAL = [1, 0, 0, 0, 1, 0];
const SAGITTAL = [0, 1, 0, 0, 0, -1];
const CORONAL = [1, 0, 0, 0, 0, -1];
const view = () => new ViewTransform({ imageWidth: 10, imageHeight: 10, viewWidth: 10, viewHeight: 10 });

test('letters follow PS3.3 C.7.6.1.1.1: L/R, P/A, H/F, strongest first', () => {
  assert.equal(directionLabel([1, 0, 0]), 'L');
  assert.equal(directionLabel([-1, 0, 0]), 'R');
  assert.equal(directionLabel([0, -1, 0]), 'A');
  assert.equal(directionLabel([0, 0, -1]), 'F');
  assert.equal(directionLabel([0.6, -0.8, 0]), 'AL');
  // A small component of an almost axial direction is not worth a letter.
  assert.equal(directionLabel([0.99, 0.1, 0]), 'L');
  assert.equal(directionLabel([0, 0, 0]), '');
});

test('an axial image in the standard view has the patient\'s right on the left', () => {
  assert.deepEqual(orientationMarkers(AXIAL, view()), { top: 'A', right: 'L', bottom: 'P', left: 'R' });
});

test('sagittal and coronal images get their own markers', () => {
  assert.deepEqual(orientationMarkers(SAGITTAL, view()), { top: 'H', right: 'P', bottom: 'F', left: 'A' });
  assert.deepEqual(orientationMarkers(CORONAL, view()), { top: 'H', right: 'L', bottom: 'F', left: 'R' });
});

test('markers turn with rotation and swap with flips', () => {
  const t = view();
  t.rotate(1);
  assert.deepEqual(orientationMarkers(AXIAL, t), { top: 'R', right: 'A', bottom: 'L', left: 'P' });
  const u = view();
  u.flipHorizontal();
  assert.deepEqual(orientationMarkers(AXIAL, u), { top: 'A', right: 'R', bottom: 'P', left: 'L' });
  const v = view();
  v.flipVertical();
  assert.deepEqual(orientationMarkers(AXIAL, v), { top: 'P', right: 'L', bottom: 'A', left: 'R' });
});

test('images without orientation get no markers', () => {
  assert.deepEqual(orientationMarkers(null, view()), { top: '', right: '', bottom: '', left: '' });
  assert.deepEqual(orientationMarkers([1, 0, 0], view()).top, '');
  assert.deepEqual(orientationMarkers([0, 0, 0, 0, 0, 0], view()).top, '');
});
