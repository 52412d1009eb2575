import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  dateRange,
  dicomDate,
  hasTerms,
  isActive,
  jobProgress,
  localShare,
  prefixName,
  searchQuery,
} from '../../../frontend/static/frontend/js/pacs/remote-format.js';

const job = (fields) => ({
  id: 1,
  state: 'running',
  expected: null,
  received: 0,
  failed: 0,
  present: 0,
  error: '',
  cancel_requested: false,
  attempts: 1,
  ...fields,
});

test('a typed name is a prefix unless it already has wildcards', () => {
  assert.equal(prefixName('doe'), 'doe*');
  assert.equal(prefixName('  DOE^J  '), 'DOE^J*');
  assert.equal(prefixName('DOE?JANE'), 'DOE?JANE');
  assert.equal(prefixName('*SMITH'), '*SMITH');
  assert.equal(prefixName(''), '');
});

test('dates from a date input become DA values, nonsense becomes nothing', () => {
  assert.equal(dicomDate('2024-01-02'), '20240102');
  assert.equal(dicomDate('20240102'), '20240102');
  assert.equal(dicomDate('2024-1-2'), '');
  assert.equal(dicomDate('yesterday'), '');
});

test('date ranges follow PS3.4 range matching', () => {
  assert.equal(dateRange('2024-01-01', '2024-02-01'), '20240101-20240201');
  assert.equal(dateRange('2024-01-01', ''), '20240101-');
  assert.equal(dateRange('', '2024-02-01'), '-20240201');
  assert.equal(dateRange('2024-01-01', '2024-01-01'), '20240101');
  assert.equal(dateRange('', ''), '');
});

test('the search form becomes the C-FIND query string, empty fields left out', () => {
  const query = new URLSearchParams(
    searchQuery(
      { patient_name: 'doe', patient_id: ' 42 ', accession_number: '', date_from: '2024-01-01', date_to: '', modality: 'ct' },
      'study',
    ),
  );
  assert.deepEqual(Object.fromEntries(query), {
    level: 'STUDY',
    patient_name: 'doe*',
    patient_id: '42',
    study_date: '20240101-',
    modality: 'CT',
  });
  assert.equal(searchQuery({ study_instance_uid: '1.2.3' }, 'SERIES'), 'level=SERIES&study_instance_uid=1.2.3');
  assert.throws(() => searchQuery({}, 'IMAGE'), RangeError);
});

test('a search needs at least one term', () => {
  assert.equal(hasTerms({}), false);
  assert.equal(hasTerms({ patient_name: '   ', modality: '' }), false);
  assert.equal(hasTerms({ date_to: '2024-01-01' }), true);
});

test('how much of a remote study is here', () => {
  assert.deepEqual(localShare({ local_instances: null, number_of_instances: 10 }), { state: 'none', text: 'Not here' });
  assert.deepEqual(localShare({ local_instances: 4, number_of_instances: 10 }), { state: 'partial', text: '4 of 10 here' });
  assert.deepEqual(localShare({ local_instances: 10, number_of_instances: 10 }), { state: 'all', text: 'All 10 here' });
  // The PACS did not say how many it has.
  assert.deepEqual(localShare({ local_instances: 3, number_of_instances: null }), { state: 'partial', text: '3 here' });
});

test('a running job shows counts and a fraction once the PACS said how many', () => {
  assert.equal(isActive(job({})), true);
  const unknown = jobProgress(job({ received: 0 }));
  assert.equal(unknown.fraction, null);
  assert.equal(unknown.text, 'Retrieving 0 received');
  assert.equal(unknown.openable, false);
  const half = jobProgress(job({ expected: 8, received: 4, failed: 1 }));
  assert.equal(half.fraction, 0.5);
  assert.equal(half.text, 'Retrieving 4 of 8, 1 failed');
  assert.equal(half.active, true);
  assert.equal(half.openable, true);
  assert.equal(jobProgress(job({ expected: 8, received: 2, cancel_requested: true })).text, 'Cancelling… (2 of 8)');
});

test('ended jobs say how they ended', () => {
  const done = jobProgress(job({ state: 'done', expected: 3, received: 3 }));
  assert.deepEqual([done.active, done.fraction, done.text, done.tone], [false, 1, 'Done: 3 of 3', 'ok']);
  assert.equal(jobProgress(job({ state: 'done', expected: 3, received: 2, failed: 1 })).tone, 'warn');
  const failed = jobProgress(job({ state: 'failed', error: 'association rejected' }));
  assert.equal(failed.text, 'Failed: association rejected');
  assert.equal(failed.tone, 'error');
  assert.equal(isActive(job({ state: 'cancelled' })), false);
  assert.equal(jobProgress(job({ state: 'queued', attempts: 0 })).text, 'Queued');
  assert.equal(jobProgress(job({ state: 'queued', attempts: 2, expected: 4, received: 1 })).text, 'Waiting to retry (1 of 4)');
  // Already complete here before the job began: openable at once.
  assert.equal(jobProgress(job({ state: 'queued', present: 5 })).openable, true);
});
