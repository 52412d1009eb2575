import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ViewPacer } from '../../../frontend/static/frontend/js/viewer/view-pacer.js';

function fakeTimers() {
  const pending = new Map();
  let next = 1;
  return {
    set: (fn, ms) => {
      const id = next++;
      pending.set(id, { fn, ms });
      return id;
    },
    clear: (id) => pending.delete(id),
    fire() {
      for (const [id, { fn }] of [...pending]) {
        pending.delete(id);
        fn();
      }
    },
    pending,
  };
}

function recorder() {
  const sent = [];
  let id = 0;
  return { sent, send: (label) => () => (sent.push(label), (id += 1)) };
}

test('one view in flight per viewport: later ones wait and only the newest is sent', () => {
  const pacer = new ViewPacer({ timers: fakeTimers() });
  const { sent, send } = recorder();
  assert.equal(pacer.offer(0, send('a')), true);
  assert.equal(pacer.offer(0, send('b')), false);
  assert.equal(pacer.offer(0, send('c')), false);
  assert.deepEqual(sent, ['a']);
  pacer.answered(0, 1); // a's first pixels
  assert.deepEqual(sent, ['a', 'c']); // b was superseded while waiting: never sent
  pacer.answered(0, 2);
  assert.equal(pacer.busy(0), false);
});

test('viewports do not wait for each other', () => {
  const pacer = new ViewPacer({ timers: fakeTimers() });
  const { sent, send } = recorder();
  pacer.offer(0, send('a'));
  pacer.offer(1, send('b'));
  assert.deepEqual(sent, ['a', 'b']);
});

test('an answer to an older request does not release the newer one', () => {
  const pacer = new ViewPacer({ timers: fakeTimers() });
  const { sent, send } = recorder();
  pacer.offer(0, send('a'));
  pacer.offer(0, send('b'));
  pacer.answered(0, 1);
  pacer.offer(0, send('c'));
  pacer.answered(0, 1); // late done of a: b (id 2) is still in flight
  assert.deepEqual(sent, ['a', 'b']);
  pacer.answered(0, 2);
  assert.deepEqual(sent, ['a', 'b', 'c']);
});

test('a request without an answer stops holding the next one back after the patience', () => {
  const timers = fakeTimers();
  const pacer = new ViewPacer({ timers, patienceMs: 400 });
  const { sent, send } = recorder();
  pacer.offer(0, send('a'));
  pacer.offer(0, send('b'));
  assert.equal([...timers.pending.values()][0].ms, 400);
  timers.fire();
  assert.deepEqual(sent, ['a', 'b']);
});

test('drop and reset forget waiting requests; a request that could not be sent holds nothing', () => {
  const pacer = new ViewPacer({ timers: fakeTimers() });
  const { sent, send } = recorder();
  pacer.offer(0, send('a'));
  pacer.offer(0, send('b'));
  pacer.drop(0);
  assert.equal(pacer.busy(0), false);
  pacer.offer(1, send('c'));
  pacer.offer(1, send('d'));
  pacer.reset();
  pacer.answered(1, 3);
  assert.deepEqual(sent, ['a', 'c']);
  assert.equal(pacer.offer(2, () => null), true);
  assert.equal(pacer.busy(2), false);
});

test('a view that yields (the diagnostic first view of a stack) is replaced at once, not waited for', () => {
  const timers = fakeTimers();
  const pacer = new ViewPacer({ timers });
  const sent = [];
  let id = 0;
  const send = (label, yields = false) => () => (sent.push(label), { id: (id += 1), yields });
  pacer.offer(0, send('opening', true)); // unanswered: its tiles are not in yet
  assert.equal(pacer.offer(0, send('drag 1')), true); // the server cancels the opening view
  assert.deepEqual(sent, ['opening', 'drag 1']);
  assert.equal(timers.pending.size, 1); // the opening view's patience timer is gone
  // The interactive view holds the next one back as before ...
  assert.equal(pacer.offer(0, send('drag 2')), false);
  pacer.answered(0, 1); // a late answer of the cancelled opening view releases nothing
  assert.deepEqual(sent, ['opening', 'drag 1']);
  pacer.answered(0, 2);
  assert.deepEqual(sent, ['opening', 'drag 1', 'drag 2']);
  // ... and a yielding view answered in time leaves nothing behind.
  pacer.answered(0, 3);
  pacer.offer(0, send('series dropped in', true));
  pacer.answered(0, 4);
  assert.equal(pacer.busy(0), false);
});
