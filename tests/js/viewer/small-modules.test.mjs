import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Backoff } from '../../../frontend/static/frontend/js/viewer/backoff.js';
import { formatDate, personName, seriesTitle } from '../../../frontend/static/frontend/js/viewer/dicom-text.js';
import { SHORTCUTS, actionForKey } from '../../../frontend/static/frontend/js/viewer/keymap.js';
import { LayerStack, displayKey } from '../../../frontend/static/frontend/js/viewer/layer-stack.js';
import { overlayText } from '../../../frontend/static/frontend/js/viewer/overlay-text.js';
import { CallError, PendingCalls } from '../../../frontend/static/frontend/js/viewer/pending-calls.js';
import { dragSteps, pinchStep } from '../../../frontend/static/frontend/js/viewer/pinch.js';
import { PreviewCache } from '../../../frontend/static/frontend/js/viewer/preview-cache.js';

test('backoff doubles up to the cap, jitters within bounds, and resets', () => {
  const b = new Backoff({ initial: 100, max: 500, jitter: 0 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 500, 500]);
  assert.equal(b.attempts, 5);
  b.reset();
  assert.equal(b.next(), 100);
  const low = new Backoff({ initial: 1000, jitter: 0.2, random: () => 0 });
  const high = new Backoff({ initial: 1000, jitter: 0.2, random: () => 0.999999 });
  assert.equal(low.next(), 800);
  assert.equal(high.next(), 1200);
  assert.throws(() => new Backoff({ initial: 0 }), RangeError);
});

test('pending calls settle by request id, fail on error messages, timeouts and disconnects', async () => {
  const timers = new Map();
  let id = 0;
  const calls = new PendingCalls({
    timeout: 5,
    setTimer: (fn) => (timers.set(++id, fn), id),
    clearTimer: (t) => timers.delete(t),
  });
  const answered = calls.expect(1);
  const failed = calls.expect(2);
  const timedOut = calls.expect(3);
  const dropped = calls.expect(4);
  assert.equal(calls.settle({ type: 'frame_info', request: 1, rows: 4 }), true);
  assert.equal(calls.settle({ type: 'error', request: 2, code: 'decode_error', message: 'bad JPEG' }), true);
  assert.equal(calls.settle({ type: 'done', request: 99 }), false);
  timers.get(3)();
  calls.failAll('socket closed');
  assert.deepEqual(await answered, { type: 'frame_info', request: 1, rows: 4 });
  await assert.rejects(failed, (e) => e instanceof CallError && e.code === 'decode_error' && e.message === 'bad JPEG');
  await assert.rejects(timedOut, (e) => e.code === 'timeout');
  await assert.rejects(dropped, (e) => e.code === 'disconnected');
  assert.equal(calls.size, 0);
});

test('keys map to actions; browser combinations are left alone', () => {
  assert.equal(actionForKey({ key: 'ArrowDown' }), 'next');
  assert.equal(actionForKey({ key: 'r' }), 'tool:rectangle');
  assert.equal(actionForKey({ key: 'R', shiftKey: true }), 'reset');
  assert.equal(actionForKey({ key: '3' }), 'window:3');
  assert.equal(actionForKey({ key: 'Tab', shiftKey: true }), 'previous-viewport');
  assert.equal(actionForKey({ key: 'r', ctrlKey: true }), null);
  assert.equal(actionForKey({ key: 'q' }), null);
  assert.equal(new Set(SHORTCUTS.map((s) => s.key)).size, SHORTCUTS.length);
});

test('person names and dates read like the server pages', () => {
  assert.equal(personName('Doe^Jane^M^Dr^PhD'), 'Doe, Dr Jane M, PhD');
  assert.equal(personName('=山田^太郎'), '山田, 太郎');
  assert.equal(personName({ Alphabetic: 'Demo^Phantom' }), 'Demo, Phantom');
  assert.equal(personName(null), '');
  assert.equal(formatDate('20240611'), '2024-06-11');
  assert.equal(formatDate('2024-06-11'), '2024-06-11');
  assert.equal(formatDate(''), '');
  assert.equal(seriesTitle({ number: 2, modality: 'CT', description: '' }), '2 · CT');
});

test('corner overlays name the patient, the study, the image and the display state', () => {
  const text = overlayText({
    study: { patient: { name: 'Demo^Phantom', id: 'P1', birth_date: '19640229', sex: 'O' }, description: 'CT CHEST', study_date: '20240611', accession: 'A1' },
    series: { number: 2, modality: 'CT', description: 'Axial' },
    instance: { number: 12, frames: 1, slice_location: -45, pixel_spacing: [0.78125, 0.78125] },
    frame: 0,
    position: 11,
    stackLength: 200,
    window: [40, 400],
    windowLabel: 'Abdomen',
    invert: true,
    zoom: 1.5,
    rotation: 90,
    flip: 'horizontal',
    unit: 'HU',
  });
  assert.deepEqual(text.topLeft, ['Demo, Phantom', 'ID P1', '1964-02-29 O']);
  assert.deepEqual(text.topRight, ['CT CHEST', '2024-06-11', 'Acc A1', 'Se 2 · CT · Axial']);
  assert.deepEqual(text.bottomLeft, ['Im 12/200  (#12)', 'Loc -45 mm', 'Px 0.8 × 0.8 mm']);
  assert.deepEqual(text.bottomRight, ['W 400 L 40 HU (Abdomen)', 'Inverted', 'Zoom 150%', 'Rot 90° · Flip H']);
});

test('the layer stack draws preview, then coarse-to-fine tiles, then lossless, per image', () => {
  const closed = [];
  const bitmap = (name) => ({ name, close: () => closed.push(name) });
  const stack = new LayerStack();
  const key = displayKey('1.2', 0, 'k');
  stack.add(key, { bitmap: bitmap('lossless'), rect: [0, 0, 10, 10], kind: 'lossless', level: 0 });
  stack.add(key, { bitmap: bitmap('fine'), rect: [0, 0, 5, 5], kind: 'tile', level: 0 });
  stack.add(key, { bitmap: bitmap('coarse'), rect: [0, 0, 10, 10], kind: 'tile', level: 1 });
  stack.add(key, { bitmap: bitmap('preview'), rect: [0, 0, 10, 10], kind: 'preview', level: 2 });
  assert.deepEqual(stack.layers.map((l) => l.bitmap.name), ['preview', 'coarse', 'fine', 'lossless']);
  // The same tile again replaces (and frees) the old one.
  stack.add(key, { bitmap: bitmap('fine2'), rect: [0, 0, 5, 5], kind: 'tile', level: 0 });
  assert.deepEqual(closed, ['fine']);
  // Another image clears everything, except what a cache shares.
  stack.add(key, { bitmap: bitmap('shared'), rect: [0, 0, 10, 10], kind: 'preview', level: 0, shared: true });
  stack.add(displayKey('1.3', 0, 'k'), { bitmap: bitmap('next'), rect: [0, 0, 10, 10], kind: 'preview', level: 2 });
  assert.equal(stack.size, 1);
  assert.ok(!closed.includes('shared'));
  assert.ok(closed.includes('lossless') && closed.includes('coarse'));
});

test('the preview cache forgets the least recently used entry first', () => {
  const cache = new PreviewCache(2);
  cache.put('a', { bitmap: 1, rect: [0, 0, 1, 1] });
  cache.put('b', { bitmap: 2, rect: [0, 0, 1, 1] });
  cache.get('a');
  cache.put('c', { bitmap: 3, rect: [0, 0, 1, 1] });
  assert.equal(cache.has('a'), true);
  assert.equal(cache.has('b'), false);
  assert.equal(cache.size, 2);
});

test('the preview cache is bounded in decoded bytes, counted as they came in', () => {
  const cache = new PreviewCache(100, 3 * 256 * 256 * 4);
  const bitmap = () => ({ width: 256, height: 256 });
  for (const key of ['a', 'b', 'c']) cache.put(key, { bitmap: bitmap(), rect: [0, 0, 1, 1] });
  assert.equal(cache.bytes, 3 * 256 * 256 * 4);
  const closed = cache.get('a');
  cache.put('d', { bitmap: bitmap(), rect: [0, 0, 1, 1] });
  assert.deepEqual(['a', 'b', 'c', 'd'].map((k) => cache.has(k)), [true, false, true, true]);
  // A bitmap closed while cached (its size becomes 0) is still counted at its old size.
  closed.bitmap.width = 0;
  cache.put('a', { bitmap: { width: 128, height: 128 }, rect: [0, 0, 1, 1] });
  assert.equal(cache.bytes, 2 * 256 * 256 * 4 + 128 * 128 * 4);
  cache.clear();
  assert.equal(cache.bytes, 0);
});

test('pinches zoom by the ratio of finger distances and pan with their midpoint', () => {
  const step = pinchStep([0, 0], [100, 0], [-50, 10], [150, 10]);
  assert.equal(step.scale, 2);
  assert.deepEqual(step.anchor, [50, 0]);
  assert.deepEqual([step.dx, step.dy], [0, 10]);
  // Fingers on top of each other do not zoom to infinity.
  assert.equal(pinchStep([0, 0], [1, 0], [0, 0], [50, 0]).scale, 1);
  assert.deepEqual(dragSteps(25, 10), { steps: 2, rest: 5 });
  assert.deepEqual(dragSteps(-25, 10), { steps: -2, rest: -5 });
});
