import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  dragSensitivity,
  dragWindow,
  formatWindow,
  modalityPresets,
  startingWindow,
  windowChoices,
} from '../../../frontend/static/frontend/js/viewer/window-presets.js';

test('CT has the common presets in HU; MR has none', () => {
  const ct = modalityPresets('CT');
  const byLabel = Object.fromEntries(ct.map((p) => [p.label, p.window]));
  assert.deepEqual(byLabel.Brain, [40, 80]);
  assert.deepEqual(byLabel.Lung, [-600, 1500]);
  assert.deepEqual(byLabel.Bone, [400, 1800]);
  assert.deepEqual(byLabel.Abdomen, [40, 400]);
  assert.equal(new Set(ct.map((p) => p.id)).size, ct.length);
  assert.deepEqual(modalityPresets('MR'), []);
  assert.equal(modalityPresets(' ct ').length, ct.length);
});

test('choices list the default, the file\'s other VOIs, then the presets', () => {
  const info = {
    vois: [
      { index: 0, kind: 'window', center: 40, width: 400, function: 'LINEAR', explanation: 'SOFT TISSUE' },
      { index: 1, kind: 'window', center: -600, width: 1500, function: 'LINEAR', explanation: 'LUNG' },
      { index: 2, kind: 'lut', center: null, width: null, function: null, explanation: '' },
    ],
  };
  const choices = windowChoices('CT', info);
  assert.deepEqual(choices[0], { id: 'default', label: 'Default', window: null, voi: 0 });
  assert.deepEqual(choices[1], { id: 'voi-1', label: 'LUNG (file)', window: null, voi: 1 });
  assert.equal(choices[2].label, 'VOI LUT 3 (file)');
  assert.equal(choices[3].label, 'Brain');
  assert.deepEqual(windowChoices('CT', { is_color: true }), []);
});

test('a drag starts from the default window, else a file window, else the stored range', () => {
  assert.deepEqual(startingWindow({ default_window: [40, 400] }), [40, 400]);
  assert.deepEqual(
    startingWindow({ default_window: null, vois: [{ kind: 'window', center: 10, width: 20 }] }),
    [10, 20],
  );
  assert.deepEqual(startingWindow({ default_window: null, vois: [], stored_range: [0, 4095] }), [2047.5, 4095]);
  assert.deepEqual(startingWindow(null), [128, 256]);
});

test('dragging right widens, down raises the center, and the width stays at least 1', () => {
  const s = dragSensitivity({ stored_range: [0, 4096] }, [40, 400]);
  assert.equal(s, 8);
  assert.deepEqual(dragWindow([40, 400], 10, 0, s), [40, 480]);
  assert.deepEqual(dragWindow([40, 400], 0, -5, s), [0, 400]);
  assert.deepEqual(dragWindow([40, 400], -1000, 0, s), [40, 1]);
  // Small ranges keep decimals rather than jumping by whole units.
  const fine = dragSensitivity({ stored_range: [0, 1] }, [0.5, 1]);
  const [, width] = dragWindow([0.5, 1], 3, 0, fine);
  assert.ok(width > 1 && width < 1.2);
});

test('windows read as W/L text', () => {
  assert.equal(formatWindow([40, 400]), 'W 400 L 40');
  assert.equal(formatWindow([-0.04, 2.25]), 'W 2.3 L 0');
  assert.equal(formatWindow(null), '');
});
