import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Coalescer } from '../../../frontend/static/frontend/js/viewer/coalesce.js';
import { FakeClock } from '../pacs/fake-clock.mjs';

function setup() {
  const clock = new FakeClock();
  const calls = [];
  const coalescer = new Coalescer(() => calls.push(clock.now), 500, clock);
  return { clock, calls, coalescer };
}

/** Advances the clock to `at`, running every timer due by then. */
async function runUntil(clock, at) {
  while (clock.pending().length && clock.now + clock.pending()[0] <= at) await clock.tick();
  clock.now = at;
}

test('a burst of events gives one call, 500 ms after its first event', async () => {
  const { clock, calls, coalescer } = setup();
  for (const at of [0, 10, 20, 300]) {
    await runUntil(clock, at);
    coalescer.poke();
  }
  await runUntil(clock, 2000);
  assert.deepEqual(calls, [500]);
});

test('events that keep coming faster than the delay still call every 500 ms', async () => {
  const { clock, calls, coalescer } = setup();
  for (let at = 0; at <= 1750; at += 250) {
    await runUntil(clock, at);
    coalescer.poke();
  }
  await runUntil(clock, 3000);
  assert.deepEqual(calls, [500, 1000, 1500, 2000]);
});

test('a cancelled call does not run, and the next event starts a new one', async () => {
  const { clock, calls, coalescer } = setup();
  coalescer.poke();
  coalescer.cancel();
  await runUntil(clock, 1000);
  assert.deepEqual(calls, []);
  coalescer.poke();
  await runUntil(clock, 2000);
  assert.deepEqual(calls, [1500]);
});
