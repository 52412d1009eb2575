import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatBytes, percent, plural } from '../../frontend/static/frontend/js/upload/format.js';

test('byte counts read as people expect', () => {
  assert.equal(formatBytes(0), '0 bytes');
  assert.equal(formatBytes(1), '1 byte');
  assert.equal(formatBytes(1023), '1023 bytes');
  assert.equal(formatBytes(1024), '1.0 KB');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(12 * 1024 * 1024), '12 MB');
  assert.equal(formatBytes(3.25 * 1024 ** 3), '3.3 GB');
  assert.equal(formatBytes(2 * 1024 ** 5), '2048 TB');
});

test('nonsense sizes do not pretend to be numbers', () => {
  assert.equal(formatBytes(-1), '?');
  assert.equal(formatBytes(Number.NaN), '?');
  assert.equal(formatBytes(undefined), '?');
});

test('plurals', () => {
  assert.equal(plural(0, 'file'), '0 files');
  assert.equal(plural(1, 'file'), '1 file');
  assert.equal(plural(1200, 'file'), '1,200 files');
  assert.equal(plural(2, 'series', 'series'), '2 series');
});

test('percent is whole, clamped and safe with nothing to do', () => {
  assert.equal(percent(0, 0), 0);
  assert.equal(percent(5, 0), 0);
  assert.equal(percent(1, 3), 33);
  assert.equal(percent(2, 3), 66);
  assert.equal(percent(3, 3), 100);
  assert.equal(percent(4, 3), 100);
});
