import assert from 'node:assert/strict';
import { test } from 'node:test';

import { viewQuality } from '../../../frontend/static/frontend/js/viewer/view-quality.js';

test('the first view of a stack, after no movement, asks for diagnostic quality', () => {
  assert.equal(viewQuality({ newStack: true, moving: false, fast: false }), 'diagnostic');
});

test('later views of the stack and views of a movement stay interactive', () => {
  assert.equal(viewQuality({ newStack: false, moving: false, fast: false }), 'interactive'); // pan, zoom, scroll rest
  assert.equal(viewQuality({ newStack: true, moving: true, fast: false }), 'interactive'); // window drag
  assert.equal(viewQuality({ newStack: true, moving: false, fast: true }), 'interactive'); // cine
  assert.equal(viewQuality({ newStack: false, moving: false, fast: true }), 'interactive'); // scrolling
});
