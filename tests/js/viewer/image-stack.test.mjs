import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ImageStack, syncedIndex } from '../../../frontend/static/frontend/js/viewer/image-stack.js';

const AXIAL = [1, 0, 0, 0, 1, 0];
const instance = (uid, z, extra = {}) => ({
  uid,
  number: 1,
  frames: 1,
  rows: 10,
  columns: 10,
  position: [0, 0, z],
  orientation: AXIAL,
  pixel_spacing: [1, 1],
  slice_location: z,
  ...extra,
});
const series = (uid, zs, extra = {}) => ({
  uid,
  number: 1,
  modality: 'CT',
  description: '',
  body_part: '',
  frame_of_reference: '1.9',
  instances: zs.map((z, i) => instance(`${uid}.${i}`, z)),
  ...extra,
});

test('a stack lists every frame of every instance', () => {
  const stack = new ImageStack({
    ...series('1.1', [0]),
    instances: [instance('1.1.0', 0, { frames: 3 }), instance('1.1.1', 5)],
  });
  assert.equal(stack.length, 4);
  assert.deepEqual([stack.entryAt(2).instance.uid, stack.entryAt(2).frame], ['1.1.0', 2]);
  // Frames of a multi-frame instance share one position in the study message: no plane.
  assert.equal(stack.entryAt(0).plane, null);
  assert.ok(stack.entryAt(3).plane);
  assert.equal(stack.indexOf('1.1.0', 1), 1);
});

test('scrolling clamps at the ends unless it wraps', () => {
  const stack = new ImageStack(series('1.1', [0, 1, 2]));
  assert.equal(stack.step(-1), false);
  assert.equal(stack.step(5), true);
  assert.equal(stack.index, 2);
  assert.equal(stack.step(1, { wrap: true }), true);
  assert.equal(stack.index, 0);
  assert.equal(stack.setIndex(1.4), true);
  assert.equal(stack.index, 1);
  assert.equal(stack.setIndex(NaN), false);
});

test('prefetch favours the direction of travel, nearest first, without the current frame', () => {
  const stack = new ImageStack(series('1.1', [0, 1, 2, 3, 4, 5, 6, 7]));
  stack.setIndex(3);
  stack.step(1); // at 4, moving forward
  assert.deepEqual(stack.prefetchList(5).map(([uid]) => uid), ['1.1.5', '1.1.6', '1.1.3', '1.1.7', '1.1.2']);
  stack.step(-1); // at 3, moving back
  assert.deepEqual(stack.prefetchList(3).map(([uid]) => uid), ['1.1.2', '1.1.1', '1.1.4']);
  assert.equal(stack.prefetchList(100).length, 7);
});

test('synchronised scrolling follows position along the normal, not the index', () => {
  const thin = new ImageStack(series('1.1', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  const thick = new ImageStack(series('1.2', [0.5, 3, 5.5, 8]));
  thin.setIndex(6);
  assert.equal(syncedIndex(thin, thick), 2); // z = 6 is nearest 5.5
  thick.setIndex(3);
  assert.equal(syncedIndex(thick, thin), 8);
});

test('stacks of other frames of reference, crossing planes or out of range do not sync', () => {
  const a = new ImageStack(series('1.1', [0, 1, 2]));
  const other = new ImageStack(series('1.2', [0, 1, 2], { frame_of_reference: '1.8' }));
  assert.equal(syncedIndex(a, other), null);
  const sagittal = new ImageStack({
    ...series('1.3', [0]),
    instances: [instance('1.3.0', 0, { orientation: [0, 1, 0, 0, 0, -1] })],
  });
  assert.equal(syncedIndex(a, sagittal), null);
  const far = new ImageStack(series('1.4', [100, 101, 102]));
  assert.equal(syncedIndex(a, far), null);
  assert.equal(syncedIndex(a, a), null);
});
