import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  addResults,
  describeTally,
  emptyTally,
  failedResults,
  problemResults,
  resultsFromResponse,
  studiesTouched,
} from '../../frontend/static/frontend/js/upload/summary.js';

test('results are tallied by status without changing the old tally', () => {
  const start = emptyTally();
  const tally = addResults(start, [
    { name: 'a', status: 'stored' },
    { name: 'b', status: 'stored' },
    { name: 'c', status: 'duplicate' },
    { name: 'd', status: 'rejected' },
  ]);
  assert.deepEqual(tally, { stored: 2, duplicate: 1, rejected: 1, failed: 0 });
  assert.deepEqual(start, emptyTally());
});

test('an unknown status is counted as failed, never dropped', () => {
  const tally = addResults(emptyTally(), [{ name: 'x', status: 'exploded' }]);
  assert.equal(tally.failed, 1);
});

test('the tally reads as a sentence', () => {
  assert.equal(describeTally(emptyTally()), 'nothing yet');
  assert.equal(
    describeTally({ stored: 3, duplicate: 0, rejected: 1, failed: 2 }),
    '3 stored, 1 rejected, 2 not sent',
  );
});

test('files a request could not deliver each get a result with the reason', () => {
  const results = failedResults([{ path: 'CD/1' }, { path: 'CD/2' }], 'network error');
  assert.deepEqual(results.map((r) => [r.name, r.status, r.reason]), [
    ['CD/1', 'failed', 'network error'],
    ['CD/2', 'failed', 'network error'],
  ]);
  assert.deepEqual(problemResults([{ path: 'x', reason: 'denied' }])[0].reason, 'denied');
});

test('server answers are checked and normalised', () => {
  const results = resultsFromResponse({
    results: [
      { name: 'a.dcm', status: 'stored', study_instance_uid: '1.2', study_url: '/studies/1.2/' },
      { name: 'b.dcm', status: 'rejected', reason_code: 'not_dicom', reason: 'no DICM' },
      { name: 'c.dcm', status: 'weird' },
    ],
  });
  assert.equal(results[0].study_url, '/studies/1.2/');
  assert.equal(results[1].reason, 'no DICM');
  assert.equal(results[2].status, 'failed');
  assert.throws(() => resultsFromResponse({ error: 'nope' }), /per-file results/);
  assert.throws(() => resultsFromResponse(null), /per-file results/);
});

test('only same-site paths become study links', () => {
  const [script, other, relative] = resultsFromResponse({
    results: [
      { name: 'a', status: 'stored', study_url: 'javascript:alert(1)' },
      { name: 'b', status: 'stored', study_url: '//evil.example/x' },
      { name: 'c', status: 'stored', study_url: '/studies/1.2/' },
    ],
  });
  assert.equal(script.study_url, '');
  assert.equal(other.study_url, '');
  assert.equal(relative.study_url, '/studies/1.2/');
});

test('studies touched are listed once each, in first-seen order, rejected ones left out', () => {
  const touched = studiesTouched([
    { name: 'a', status: 'stored', study_instance_uid: '1.1', study_url: '/studies/1.1/' },
    { name: 'b', status: 'duplicate', study_instance_uid: '1.2', study_url: '/studies/1.2/' },
    { name: 'c', status: 'stored', study_instance_uid: '1.1', study_url: '/studies/1.1/' },
    { name: 'd', status: 'rejected', study_instance_uid: '1.3', study_url: '' },
  ]);
  assert.deepEqual(touched, [
    { uid: '1.1', url: '/studies/1.1/' },
    { uid: '1.2', url: '/studies/1.2/' },
  ]);
});
