import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  DEFAULT_LIMITS,
  limitsForServer,
  planBatches,
  takeBatch,
  totalBytes,
} from '../../frontend/static/frontend/js/upload/batcher.js';

const MB = 1024 * 1024;
const files = (...sizes) => sizes.map((size, i) => ({ name: `f${i}`, size }));
const names = (batch) => batch.map((f) => f.name);

test('batches stop at the file-count limit, keeping order', () => {
  const { batches, oversize } = planBatches(files(1, 1, 1, 1, 1), {
    maxBatchBytes: 100,
    maxBatchFiles: 2,
    maxFileBytes: 100,
  });
  assert.deepEqual(batches.map(names), [['f0', 'f1'], ['f2', 'f3'], ['f4']]);
  assert.deepEqual(oversize, []);
});

test('batches stop before the byte limit would be passed', () => {
  const { batches } = planBatches(files(40, 40, 30, 50), {
    maxBatchBytes: 100,
    maxBatchFiles: 10,
    maxFileBytes: 1000,
  });
  assert.deepEqual(batches.map(names), [['f0', 'f1'], ['f2', 'f3']]);
  for (const batch of batches) assert.ok(totalBytes(batch) <= 100);
});

test('a file larger than a batch travels alone', () => {
  const { batches } = planBatches(files(10, 500, 10), {
    maxBatchBytes: 100,
    maxBatchFiles: 10,
    maxFileBytes: 1000,
  });
  assert.deepEqual(batches.map(names), [['f0'], ['f1'], ['f2']]);
});

test('files over the request limit are set aside, not sent, and the rest go on', () => {
  const { batches, oversize } = planBatches(files(10, 5000, 10), {
    maxBatchBytes: 100,
    maxBatchFiles: 10,
    maxFileBytes: 1000,
  });
  assert.deepEqual(batches.map(names), [['f0', 'f2']]);
  assert.deepEqual(names(oversize), ['f1']);
});

test('empty files and an empty queue are handled', () => {
  assert.deepEqual(planBatches([], DEFAULT_LIMITS), { batches: [], oversize: [] });
  const { batches } = planBatches(files(0, 0, 0), { ...DEFAULT_LIMITS, maxBatchFiles: 2 });
  assert.deepEqual(batches.map(names), [['f0', 'f1'], ['f2']]);
});

test('a zero file limit cannot stall the queue', () => {
  const { batch, rest } = takeBatch(files(1, 1), { maxBatchBytes: 10, maxBatchFiles: 0, maxFileBytes: 10 });
  assert.equal(batch.length, 1);
  assert.equal(rest.length, 1);
});

test('takeBatch leaves the rest of the queue untouched', () => {
  const queue = files(60, 60, 60);
  const { batch, rest } = takeBatch(queue, { maxBatchBytes: 100, maxBatchFiles: 10, maxFileBytes: 1000 });
  assert.deepEqual(names(batch), ['f0']);
  assert.deepEqual(names(rest), ['f1', 'f2']);
  assert.equal(queue.length, 3);
});

test('server limits shrink the defaults and leave room for multipart framing', () => {
  const small = limitsForServer(1 * MB, 5);
  assert.equal(small.maxBatchFiles, 5);
  assert.equal(small.maxFileBytes, 1 * MB - 64 * 1024);
  assert.equal(small.maxBatchBytes, small.maxFileBytes);

  const large = limitsForServer(4 * 1024 * MB, 5000);
  assert.equal(large.maxBatchBytes, DEFAULT_LIMITS.maxBatchBytes);
  assert.equal(large.maxBatchFiles, DEFAULT_LIMITS.maxBatchFiles);
  assert.equal(large.maxFileBytes, 4 * 1024 * MB - 64 * 1024);
});

test('missing server limits fall back to the defaults', () => {
  for (const missing of [Number.NaN, 0, undefined]) {
    const limits = limitsForServer(missing, missing);
    assert.deepEqual(limits, { ...DEFAULT_LIMITS });
  }
});
