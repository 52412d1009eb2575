import assert from 'node:assert/strict';
import { test } from 'node:test';

import { pacsRootFrom, viewerUrlFrom } from '../../../frontend/static/frontend/js/pacs/urls.js';

test('the viewer address is the rendered one with the study UID put in', () => {
  const url = viewerUrlFrom('/prefix/studies/0.0/view/');
  assert.equal(url('1.2.840.3'), '/prefix/studies/1.2.840.3/view/');
  // Without the placeholder the default layout is assumed.
  assert.equal(viewerUrlFrom('')('1.2'), '/studies/1.2/view/');
});

test('the PACS root is where its node list lives', () => {
  assert.equal(pacsRootFrom('/pacs/nodes/'), '/pacs/');
  assert.equal(pacsRootFrom('/sub/pacs/nodes/'), '/sub/pacs/');
  assert.equal(pacsRootFrom('garbage'), '/pacs/');
});
