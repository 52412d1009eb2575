import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  measurementsPayload,
  restoredMeasurement,
  savedSentence,
} from '../../../frontend/static/frontend/js/viewer/report-payload.js';
import { ReportRequestError, ReportsClient } from '../../../frontend/static/frontend/js/viewer/reports-client.js';

const LINE = { kind: 'line', length_px: 80, length_mm: 250 };

test('finished measurements go out with their shape and the server\'s values', () => {
  const placed = [
    { instance: '1.2.1', frame: 0, measurement: { id: 1, tool: 'length', points: [[20, 64], [100, 64]], status: 'done', result: LINE } },
    { instance: '1.2.2', frame: 3, measurement: { id: 2, tool: 'ellipse', points: [[10, 20], [4, 8]], status: 'done', result: { kind: 'ellipse', mean: 1 } } },
    { instance: '1.2.1', frame: 0, measurement: { id: 3, tool: 'length', points: [[0, 0], [1, 1]], status: 'pending' } },
    { instance: '1.2.1', frame: 0, measurement: { id: 4, tool: 'angle', points: [[0, 0], [1, 1], [2, 0]], status: 'failed', error: 'x' } },
    { instance: '1.2.1', frame: 0, measurement: { id: 5, tool: 'probe', points: [[3, 3]], status: 'done', result: { kind: 'point', value: 40 } } },
  ];
  const { items, left } = measurementsPayload(placed);
  assert.deepEqual(items, [
    { instance: '1.2.1', frame: 0, shape: { kind: 'line', points: [[20, 64], [100, 64]] }, measurement: LINE },
    { instance: '1.2.2', frame: 3, shape: { kind: 'ellipse', x: 4, y: 8, width: 6, height: 12 }, measurement: { kind: 'ellipse', mean: 1 } },
  ]);
  assert.deepEqual(left, { pending: 1, failed: 1, probe: 1 });
});

test('saved shapes come back as the tools that drew them', () => {
  const line = restoredMeasurement({ instance: '1.2', frame: 0, shape: { kind: 'line', points: [[20, 64], [100, 64]] }, measurement: { length_mm: 250 } });
  assert.deepEqual(line, { instance: '1.2', frame: 0, tool: 'length', points: [[20, 64], [100, 64]], result: { length_mm: 250, kind: 'line' } });
  const box = restoredMeasurement({ instance: '1.2', frame: 2, shape: { kind: 'rectangle', x: 4, y: 8, width: 6, height: 12 }, measurement: {} });
  assert.deepEqual([box?.tool, box?.points], ['rectangle', [[4, 8], [10, 20]]]);
  const angle = restoredMeasurement({ instance: '1.2', frame: 0, shape: { kind: 'angle', points: [[0, 0], [1, 1], [2, 0]] }, measurement: { degrees: 90 } });
  assert.equal(angle?.tool, 'angle');
});

test('shapes the viewer cannot draw, or that do not hold together, are left out', () => {
  const bad = [
    { instance: '1.2', frame: 0, shape: { kind: 'polygon', points: [[0, 0], [1, 0], [1, 1]] }, measurement: {} },
    { instance: '1.2', frame: 0, shape: { kind: 'point', x: 1, y: 1 }, measurement: {} },
    { instance: '1.2', frame: 0, shape: { kind: 'line', points: [[0, 0]] }, measurement: {} },
    { instance: '1.2', frame: 0, shape: { kind: 'line', points: [[0, 0], [1, 'x']] }, measurement: {} },
    { instance: '1.2', frame: -1, shape: { kind: 'line', points: [[0, 0], [1, 1]] }, measurement: {} },
    { instance: '1.2', frame: 0, shape: { kind: 'ellipse', x: 0, y: 0, width: Infinity, height: 1 }, measurement: {} },
    { frame: 0, shape: { kind: 'line', points: [[0, 0], [1, 1]] }, measurement: {} },
  ];
  assert.deepEqual(bad.map((m) => restoredMeasurement(/** @type {any} */ (m))), bad.map(() => null));
});

test('a saved report is told in a sentence, with what was left out', () => {
  assert.equal(savedSentence({ what: 'measurements', count: 1 }), 'Saved 1 measurement as a DICOM Measurement Report.');
  assert.equal(
    savedSentence({ what: 'measurements', count: 2, sentTo: 'orthanc', left: { pending: 0, failed: 1, probe: 2 } }),
    'Saved 2 measurements as a DICOM Measurement Report, sent to orthanc. Not included: 1 failed, 2 pixel values.',
  );
  assert.equal(savedSentence({ what: 'key images', count: 3 }), 'Saved 3 key images as a DICOM Key Object Selection.');
});

test('the reports client posts JSON with the CSRF token and names the PACS node only if chosen', async () => {
  const calls = [];
  const answers = [
    [201, { sop_instance_uid: '9.9', url: '/r/9.9/', sent_to: null }],
    [201, { sop_instance_uid: '9.8', url: '/r/9.8/', sent_to: 'orthanc' }],
    [200, { report: null, measurements: [], key_images: { sop_instance_uid: '', instances: [] } }],
  ];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    const [status, body] = answers.shift();
    return { ok: status < 300, status, json: async () => body };
  };
  const client = new ReportsClient({ root: '/studies/1.2/reports', csrfToken: 'tok', fetch });
  await client.saveMeasurements([{ instance: '1' }]);
  await client.saveKeyImages(['1', '2'], 'orthanc');
  await client.saved();
  assert.deepEqual(
    calls.map((c) => [c.url, c.init.method, c.init.body && JSON.parse(c.init.body)]),
    [
      ['/studies/1.2/reports/measurements', 'POST', { measurements: [{ instance: '1' }] }],
      ['/studies/1.2/reports/key-images', 'POST', { instances: ['1', '2'], send_to: 'orthanc' }],
      ['/studies/1.2/reports/saved.json', 'GET', undefined],
    ],
  );
  assert.equal(calls[0].init.headers['X-CSRFToken'], 'tok');
});

test('a report saved but not sent keeps the saved report in the error', async () => {
  const fetch = async () => ({
    ok: false,
    status: 502,
    json: async () => ({ sop_instance_uid: '9.9', url: '/r/', sent_to: null, error: 'saved, but not sent: refused' }),
  });
  const client = new ReportsClient({ root: '/r/', csrfToken: '', fetch });
  await assert.rejects(client.saveMeasurements([]), (error) => {
    assert.ok(error instanceof ReportRequestError);
    assert.equal(error.status, 502);
    assert.equal(error.answer.sop_instance_uid, '9.9');
    assert.match(error.message, /not sent/);
    return true;
  });
  const offline = new ReportsClient({ root: '/r/', csrfToken: '', fetch: async () => { throw new TypeError('x'); } });
  await assert.rejects(offline.saved(), /could not be reached/);
});

test('the report actions have keys, listed in the help', async () => {
  const { actionForKey, SHORTCUTS } = await import('../../../frontend/static/frontend/js/viewer/keymap.js');
  assert.equal(actionForKey({ key: 'S', shiftKey: true }), 'save-measurements');
  assert.equal(actionForKey({ key: 'k' }), 'toggle-key-image');
  assert.equal(actionForKey({ key: 'K', shiftKey: true }), 'save-key-images');
  assert.equal(actionForKey({ key: 's' }), 'tool:scroll');
  // Ctrl+S stays the browser's.
  assert.equal(actionForKey({ key: 's', ctrlKey: true }), null);
  const listed = new Set(SHORTCUTS.map((s) => s.action));
  for (const action of ['save-measurements', 'toggle-key-image', 'save-key-images']) assert.ok(listed.has(action), action);
});
