import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RequestLedger, renderKey } from '../../../frontend/static/frontend/js/viewer/request-ledger.js';

const settings = renderKey({ window: [40, 400], invert: false });
const view = (viewport, instance = '1.1', frame = 0, extra = {}) => ({
  viewport,
  instance,
  frame,
  renderKey: settings,
  prefetch: [],
  ...extra,
});
const pixels = (request, viewport, kind = 'tile', frame = 0, item = 0) => ({ request, viewport, kind, frame, item });

test('ids increase across viewports and message types', () => {
  const ledger = new RequestLedger();
  const a = ledger.issue(view(0));
  const id = ledger.nextId();
  const b = ledger.issue(view(1));
  assert.deepEqual([a.id, id, b.id], [1, 2, 3]);
});

test('the newest view of a viewport wins; pixels of an older one for another image are dropped', () => {
  const ledger = new RequestLedger();
  const first = ledger.issue(view(0, '1.1'));
  const second = ledger.issue(view(0, '1.2'));
  const showing = { instance: '1.2', frame: 0, renderKey: settings };
  assert.equal(ledger.judge(pixels(first.id, 0), showing).action, 'drop');
  assert.equal(ledger.judge(pixels(second.id, 0), showing).action, 'draw');
  assert.equal(ledger.isCurrent(first.id, 0), false);
});

test('late pixels of the very image on show are still drawn (the newer view only panned)', () => {
  const ledger = new RequestLedger();
  const first = ledger.issue(view(0, '1.1'));
  ledger.issue(view(0, '1.1'));
  const showing = { instance: '1.1', frame: 0, renderKey: settings };
  assert.equal(ledger.judge(pixels(first.id, 0), showing).action, 'draw');
  const windowed = { ...showing, renderKey: renderKey({ window: [50, 350] }) };
  assert.equal(ledger.judge(pixels(first.id, 0), windowed).action, 'drop');
});

test('viewports do not steal each other\'s pixels', () => {
  const ledger = new RequestLedger();
  const a = ledger.issue(view(0));
  ledger.issue(view(1));
  assert.equal(ledger.judge(pixels(a.id, 1), undefined).action, 'drop');
  assert.equal(ledger.judge(pixels(999, 0), undefined).action, 'drop');
});

test('prefetched previews are cached for their target frame while the settings match', () => {
  const ledger = new RequestLedger();
  const issued = ledger.issue(view(0, '1.1', 0, { prefetch: [['1.2', 0], ['1.3', 4]] }));
  const showing = { instance: '1.1', frame: 0, renderKey: settings };
  const verdict = ledger.judge(pixels(issued.id, 0, 'prefetch', 4, 1), showing);
  assert.equal(verdict.action, 'cache');
  assert.deepEqual(verdict.target, ['1.3', 4]);
  // The frame must match the list entry, and the settings the viewport's current ones.
  assert.equal(ledger.judge(pixels(issued.id, 0, 'prefetch', 5, 1), showing).action, 'drop');
  assert.equal(ledger.judge(pixels(issued.id, 0, 'prefetch', 0, 7), showing).action, 'drop');
  const inverted = { ...showing, renderKey: renderKey({ window: [40, 400], invert: true }) };
  assert.equal(ledger.judge(pixels(issued.id, 0, 'prefetch', 4, 1), inverted).action, 'drop');
});

test('stack previews are cached by their list, outlive hundreds of views and never become the view', () => {
  const ledger = new RequestLedger();
  const list = ledger.issueList({ viewport: 1, renderKey: settings, items: [['1.5', 0], ['1.6', 0]] });
  const current = ledger.issue(view(1, '1.5'));
  for (let i = 0; i < 300; i += 1) ledger.issue(view(1, '1.5'));
  assert.notEqual(ledger.current(1)?.id, list.id);
  const showing = { instance: '1.5', frame: 0, renderKey: settings };
  const verdict = ledger.judge(pixels(list.id, 1, 'prefetch', 0, 1), showing);
  assert.equal(verdict.action, 'cache');
  assert.deepEqual(verdict.target, ['1.6', 0]);
  // Only prefetch pictures belong to a list; another viewport's never do.
  assert.equal(ledger.judge(pixels(list.id, 1, 'preview', 0, 0), showing).action, 'drop');
  assert.equal(ledger.judge(pixels(list.id, 0, 'prefetch', 0, 1), showing).action, 'drop');
  assert.ok(current.id > list.id);
});

test('forgetting a viewport makes its pixels stale; finish reports whether it was current', () => {
  const ledger = new RequestLedger();
  const a = ledger.issue(view(0));
  assert.equal(ledger.finish(a.id, 0), true);
  ledger.forget(0);
  assert.equal(ledger.current(0), undefined);
  assert.equal(ledger.judge(pixels(a.id, 0), undefined).action, 'drop');
});

test('render keys name the settings that change pixels', () => {
  assert.equal(renderKey({ window: null }), renderKey({}));
  assert.notEqual(renderKey({ window: [40, 400] }), renderKey({ window: [40, 401] }));
  assert.notEqual(renderKey({ voi: 1 }), renderKey({ voi: 0 }));
  assert.notEqual(renderKey({ invert: true }), renderKey({ invert: false }));
});
