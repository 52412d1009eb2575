import assert from 'node:assert/strict';
import { test } from 'node:test';

import { JobWatcher, MAX_BACKOFF_MS } from '../../../frontend/static/frontend/js/pacs/job-watcher.js';
import { FakeClock } from './fake-clock.mjs';

const job = (state, received = 0) => ({ id: 7, state, expected: 3, received, failed: 0, present: 0, error: '', cancel_requested: false, attempts: 1 });

test('an active job is polled until it ends, then polling stops', async () => {
  const clock = new FakeClock();
  const answers = [job('running', 1), job('running', 2), job('done', 3)];
  const asked = [];
  const seen = [];
  const watcher = new JobWatcher({
    fetchJob: async (id) => {
      asked.push(id);
      return answers.shift();
    },
    onUpdate: (j) => seen.push(`${j.state}:${j.received}`),
    interval: 1000,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
  });
  watcher.watch(job('queued'));
  assert.deepEqual(seen, ['queued:0']);
  assert.deepEqual(clock.pending(), [1000]);
  await clock.tick();
  await clock.tick();
  await clock.tick();
  assert.deepEqual(seen, ['queued:0', 'running:1', 'running:2', 'done:3']);
  assert.deepEqual(asked, [7, 7, 7]);
  assert.deepEqual(clock.pending(), []);
  assert.equal(watcher.watching, false);
});

test('a job that has already ended is shown and never polled', () => {
  const clock = new FakeClock();
  let polls = 0;
  const watcher = new JobWatcher({
    fetchJob: async () => {
      polls += 1;
      return job('done');
    },
    onUpdate: () => {},
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
  });
  watcher.watch(job('cancelled'));
  assert.deepEqual(clock.pending(), []);
  assert.equal(polls, 0);
});

test('failed polls are reported and retried later and later, up to a ceiling', async () => {
  const clock = new FakeClock();
  const errors = [];
  const watcher = new JobWatcher({
    fetchJob: async () => {
      throw new Error('server down');
    },
    onUpdate: () => {},
    onError: (e) => errors.push(e.message),
    interval: 1000,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
  });
  watcher.watch(job('running'));
  const delays = [];
  for (let i = 0; i < 6; i += 1) {
    await clock.tick();
    delays.push(clock.pending()[0]);
  }
  assert.deepEqual(delays, [2000, 4000, 8000, MAX_BACKOFF_MS, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
  assert.equal(errors.length, 6);
  watcher.stop();
  assert.deepEqual(clock.pending(), []);
});

test('stopping while a poll is in flight drops its answer', async () => {
  const clock = new FakeClock();
  let release;
  const seen = [];
  const watcher = new JobWatcher({
    fetchJob: () => new Promise((resolve) => (release = resolve)),
    onUpdate: (j) => seen.push(j.state),
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
  });
  watcher.watch(job('running'));
  await clock.tick();
  watcher.stop();
  release(job('done'));
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(seen, ['running']);
});
