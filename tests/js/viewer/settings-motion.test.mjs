import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SettingsMotion } from '../../../frontend/static/frontend/js/viewer/settings-motion.js';

test('a window drag on one image is moving from its second view on', () => {
  const motion = new SettingsMotion(400);
  assert.equal(motion.moving(0, 'a/0', 'w=40,400', 0), false); // the first view
  assert.equal(motion.moving(0, 'a/0', 'w=60,420', 1000), false); // the drag starts, long after
  assert.equal(motion.moving(0, 'a/0', 'w=80,440', 1050), true);
  assert.equal(motion.moving(0, 'a/0', 'w=90,450', 1100), true);
});

test('settings at rest, another image, or the same settings are not moving', () => {
  const motion = new SettingsMotion(400);
  motion.moving(0, 'a/0', 'w=40,400', 0);
  assert.equal(motion.moving(0, 'a/0', 'w=60,400', 400), false); // rested 400 ms
  assert.equal(motion.moving(0, 'b/0', 'w=80,400', 450), false); // scrolled, not adjusted
  assert.equal(motion.moving(0, 'b/0', 'w=80,400', 500), false); // same settings (a pan)
});

test('viewports are apart, and a forgotten one starts afresh', () => {
  const motion = new SettingsMotion(400);
  motion.moving(0, 'a/0', 'k1', 0);
  assert.equal(motion.moving(1, 'a/0', 'k2', 10), false);
  motion.forget(0);
  assert.equal(motion.moving(0, 'a/0', 'k2', 20), false);
});
