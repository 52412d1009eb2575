import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  applyTable,
  effectiveVoi,
  remapTable,
  voiForward,
  voiInverse,
} from '../../../frontend/static/frontend/js/viewer/window-remap.js';
import { renderKey, renderSettings } from '../../../frontend/static/frontend/js/viewer/request-ledger.js';

const CT_INFO = {
  is_color: false,
  inverted: false,
  vois: [{ kind: 'window', center: 40, width: 400, function: 'LINEAR' }],
  default_window: [40, 400],
  default_function: 'LINEAR',
};

/** What the server shows for modality value x (studies.imaging: round(y × 255)). */
const display = (x, voi) => Math.round((voi.invert ? 1 - voiForward(x, voi) : voiForward(x, voi)) * 255);

test('LINEAR follows PS3.3 C.11.2.1.2.1 at its edges and centre', () => {
  const voi = { center: 40, width: 400, fn: 'LINEAR', invert: false };
  assert.equal(voiForward(-160.5, voi), 0); // x <= c - 0.5 - (w-1)/2
  assert.equal(voiForward(239.6, voi), 1); // x > c - 0.5 + (w-1)/2
  assert.equal(voiForward(39.5, voi), 0.5);
});

test('the inverse of each function gives back the modality value inside the window', () => {
  for (const fn of ['LINEAR', 'LINEAR_EXACT', 'SIGMOID']) {
    const voi = { center: -600, width: 1500, fn, invert: false };
    for (const x of [-1200, -700, -600, -100, 100]) {
      assert.ok(Math.abs(voiInverse(voiForward(x, voi), voi) - x) < 1e-6, `${fn} at ${x}`);
    }
  }
});

test('re-mapping a picture to a narrower window matches rendering the new window inside the old range', () => {
  const from = effectiveVoi({ window: null, voi: 0, invert: false }, CT_INFO);
  const to = effectiveVoi({ window: [60, 200], voi: 0, invert: false }, CT_INFO);
  const table = remapTable(from, to);
  // Modality values the old window did not clip: the re-mapped pixel is what the server
  // would render for the new window, up to the old picture's 8-bit steps (one old step is
  // two new ones: the new window is half as wide) and rounding.
  for (let x = -150; x <= 230; x += 7) {
    const remapped = table[display(x, from)];
    assert.ok(Math.abs(remapped - display(x, to)) <= 3, `x = ${x}`);
  }
  assert.equal(table[0], 0);
  assert.equal(table[255], 255);
});

test('invert and MONOCHROME1 are folded in; an unchanged window maps every value to itself', () => {
  const plain = effectiveVoi({ window: [40, 400], voi: 0, invert: false }, CT_INFO);
  const inverted = effectiveVoi({ window: [40, 400], voi: 0, invert: true }, CT_INFO);
  assert.equal(inverted.invert, true);
  const toInverted = remapTable(plain, inverted);
  assert.equal(toInverted[0], 255);
  assert.equal(toInverted[255], 0);
  const same = remapTable(plain, plain);
  for (let v = 0; v < 256; v += 1) assert.ok(Math.abs(same[v] - v) <= 1);
  const mono1 = effectiveVoi({ window: [40, 400], voi: 0, invert: true }, { ...CT_INFO, inverted: true });
  assert.equal(mono1.invert, false); // inverted twice: shown plain
});

test('a window chosen by the reader takes the file VOI LUT Function', () => {
  const sigmoidFile = { ...CT_INFO, vois: [{ kind: 'window', center: 0, width: 100, function: 'SIGMOID' }] };
  assert.equal(effectiveVoi({ window: [10, 50], voi: 0, invert: false }, sigmoidFile).fn, 'SIGMOID');
});

test('VOI LUT tables, colour images and unknown frames are not re-mapped', () => {
  const withTable = { ...CT_INFO, default_window: null, vois: [{ kind: 'lut', center: null, width: null }] };
  assert.equal(effectiveVoi({ window: null, voi: 0, invert: false }, withTable), null);
  assert.equal(effectiveVoi({ window: null, voi: 0, invert: false }, { ...CT_INFO, is_color: true }), null);
  assert.equal(effectiveVoi({ window: null, voi: 0, invert: false }, null), null);
  assert.equal(effectiveVoi({ window: null, voi: 5, invert: false }, CT_INFO), null);
});

test('applyTable maps RGB through the table and keeps alpha', () => {
  const table = new Uint8ClampedArray(256).map((_, v) => 255 - v);
  const source = new Uint8ClampedArray([0, 0, 0, 255, 10, 10, 10, 128]);
  const target = new Uint8ClampedArray(8);
  applyTable(source, target, table);
  assert.deepEqual([...target], [255, 255, 255, 255, 245, 245, 245, 128]);
});

test('renderSettings reads back what renderKey wrote', () => {
  for (const settings of [
    { window: [-600, 1500], voi: 0, function: null, invert: true },
    { window: null, voi: 2, function: 'SIGMOID', invert: false },
  ]) {
    assert.deepEqual(renderSettings(renderKey(settings)), settings);
  }
  assert.equal(renderSettings('not a key'), null);
});
