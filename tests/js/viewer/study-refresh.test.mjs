import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ACTIVE_MS, IDLE_MS, StudyRefresh } from '../../../frontend/static/frontend/js/viewer/study-refresh.js';
import { FakeClock } from '../pacs/fake-clock.mjs';

function setup(activeAnswers, { visible = () => true } = {}) {
  const clock = new FakeClock();
  let refreshes = 0;
  const refresh = new StudyRefresh({
    activeRetrieve: async () => {
      const next = activeAnswers.shift();
      if (next instanceof Error) throw next;
      return next ?? false;
    },
    refresh: () => {
      refreshes += 1;
    },
    visible,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
  });
  return { clock, refresh, refreshes: () => refreshes };
}

test('idle: the outline is asked for every IDLE_MS, not on start', async () => {
  const { clock, refresh, refreshes } = setup([false, false, false]);
  refresh.start();
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(refreshes(), 0);
  assert.deepEqual(clock.pending(), [IDLE_MS]);
  await clock.tick();
  assert.equal(refreshes(), 1);
  assert.deepEqual(clock.pending(), [IDLE_MS]);
});

test('while a retrieve of the study runs the pace is ACTIVE_MS, with one last refresh when it ends', async () => {
  const { clock, refresh, refreshes } = setup([true, true, false, false]);
  refresh.start();
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(refresh.retrieving, true);
  assert.deepEqual(clock.pending(), [ACTIVE_MS]);
  await clock.tick(); // still active
  assert.deepEqual(clock.pending(), [ACTIVE_MS]);
  await clock.tick(); // ended: refresh once more, then idle pace
  assert.equal(refreshes(), 2);
  assert.equal(refresh.retrieving, false);
  assert.deepEqual(clock.pending(), [IDLE_MS]);
});

test('a failed job check keeps the pace and still refreshes; a hidden page does no work', async () => {
  let shown = true;
  const { clock, refresh, refreshes } = setup([true, new Error('offline'), false], { visible: () => shown });
  refresh.start();
  await Promise.resolve();
  await Promise.resolve();
  await clock.tick(); // the check fails: still active pace, still refreshed
  assert.equal(refreshes(), 1);
  assert.deepEqual(clock.pending(), [ACTIVE_MS]);
  shown = false;
  await clock.tick();
  assert.equal(refreshes(), 1);
  refresh.stop();
  assert.deepEqual(clock.pending(), []);
});
