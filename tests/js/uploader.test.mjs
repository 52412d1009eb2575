import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UploadRequestError, errorFor } from '../../frontend/static/frontend/js/upload/client.js';
import { Uploader } from '../../frontend/static/frontend/js/upload/uploader.js';

const limits = { maxBatchBytes: 100, maxBatchFiles: 2, maxFileBytes: 1000 };
const queued = (...sizes) => sizes.map((size, i) => ({ path: `f${i}`, size, file: null }));

function recorder(send) {
  const sent = [];
  const results = [];
  const progress = [];
  const stops = [];
  const uploader = new Uploader({
    limits,
    send: async (batch) => {
      sent.push(batch.map((f) => f.path));
      return send(batch, sent.length);
    },
    onResults: (r) => results.push(...r),
    onProgress: (p) => progress.push(p),
    onStop: (m) => stops.push(m),
  });
  return { uploader, sent, results, progress, stops };
}

const storeAll = (batch) => batch.map((f) => ({ name: f.path, status: 'stored' }));

test('files go out in batches, one request at a time, in order', async () => {
  const { uploader, sent, results, progress } = recorder(storeAll);
  await uploader.add(queued(10, 10, 10, 10, 10));
  assert.deepEqual(sent, [['f0', 'f1'], ['f2', 'f3'], ['f4']]);
  assert.equal(results.length, 5);
  const last = progress.at(-1);
  assert.deepEqual(last, { sentBytes: 50, totalBytes: 50, sentFiles: 5, totalFiles: 5, running: false });
  assert.equal(uploader.busy, false);
});

test('files added while uploading join the same run', async () => {
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const { uploader, sent } = recorder(async (batch, n) => {
    if (n === 1) await gate;
    return storeAll(batch);
  });
  const first = uploader.add(queued(10));
  const second = uploader.add([{ path: 'late', size: 10, file: null }]);
  assert.equal(uploader.busy, true);
  release();
  await Promise.all([first, second]);
  assert.deepEqual(sent, [['f0'], ['late']]);
});

test('a failed batch is reported file by file and the next batch still goes', async () => {
  const { uploader, sent, results, stops } = recorder((batch, n) => {
    if (n === 1) throw new UploadRequestError('the server answered HTTP 500', { status: 500 });
    return storeAll(batch);
  });
  await uploader.add(queued(10, 10, 10));
  assert.equal(sent.length, 2);
  assert.deepEqual(
    results.map((r) => [r.name, r.status]),
    [['f0', 'failed'], ['f1', 'failed'], ['f2', 'stored']],
  );
  assert.equal(results[0].reason, 'the server answered HTTP 500');
  assert.deepEqual(stops, []);
});

test('a fatal refusal stops the upload and reports every file left', async () => {
  const { uploader, sent, results, stops, progress } = recorder(() => {
    throw errorFor(401, { error: 'Sign in to upload.' });
  });
  await uploader.add(queued(10, 10, 10, 10, 10));
  assert.equal(sent.length, 1);
  assert.equal(results.length, 5);
  assert.ok(results.every((r) => r.status === 'failed' && r.reason === 'Sign in to upload.'));
  assert.deepEqual(stops, ['Sign in to upload.']);
  assert.equal(progress.at(-1).sentFiles, 5);
  // Later files are refused at once, not sent.
  await uploader.add(queued(10));
  assert.equal(sent.length, 1);
  assert.equal(results.at(-1).status, 'failed');
});

test('a file over the request limit is reported, not sent', async () => {
  const { uploader, sent, results } = recorder(storeAll);
  await uploader.add(queued(10, 5000, 10));
  assert.deepEqual(sent, [['f0', 'f2']]);
  const big = results.find((r) => r.name === 'f1');
  assert.equal(big.status, 'failed');
  assert.match(big.reason, /larger than the upload request limit/);
});

test('HTTP refusals map to messages; only session and CSRF failures are fatal', () => {
  assert.equal(errorFor(401, null).fatal, true);
  assert.match(errorFor(401, null).message, /Sign in again/);
  assert.equal(errorFor(403, null).fatal, true);
  assert.match(errorFor(403, null).message, /Reload the page/);
  const tooBig = errorFor(413, { error: 'The request is over the 2,048 byte limit.' });
  assert.equal(tooBig.fatal, false);
  assert.equal(tooBig.message, 'The request is over the 2,048 byte limit.');
  assert.equal(errorFor(502, '<html>').message, 'the server answered HTTP 502');
});
