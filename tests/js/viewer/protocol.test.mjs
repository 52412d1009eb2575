import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  HEADER_BYTES,
  ProtocolError,
  decodePixelMessage,
  encodePixelMessage,
  measureMessage,
  parseServerMessage,
  previewsMessage,
  viewMessage,
} from '../../../frontend/static/frontend/js/viewer/protocol.js';

const header = {
  request: 70000,
  viewport: 3,
  kind: 'tile',
  type: 'image/jpeg',
  level: 2,
  frame: 12,
  item: 0,
  rect: [256, 0, 256, 128.5],
  bitmapWidth: 64,
  bitmapHeight: 32,
};

test('a pixel message round-trips through the 44-byte header', () => {
  const data = new Uint8Array([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]);
  const buffer = encodePixelMessage(header, data);
  assert.equal(buffer.byteLength, HEADER_BYTES + data.length);
  const message = decodePixelMessage(buffer);
  assert.deepEqual({ ...message, data: [...message.data] }, { ...header, data: [...data] });
});

test('the header layout is the one PROTOCOL.md tabulates', () => {
  // Written by hand, byte by byte, as the server would.
  const buffer = new ArrayBuffer(HEADER_BYTES + 3);
  const view = new DataView(buffer);
  [0x44, 0x56, 0x57, 0x31].forEach((b, i) => view.setUint8(i, b)); // "DVW1"
  view.setUint32(4, 9, true);
  view.setUint8(8, 1);
  view.setUint8(9, 4); // prefetch
  view.setUint8(10, 2); // PNG
  view.setUint8(11, 0);
  view.setUint32(12, 5, true);
  view.setUint16(16, 7, true);
  view.setFloat32(20, 0, true);
  view.setFloat32(24, 0, true);
  view.setFloat32(28, 512, true);
  view.setFloat32(32, 256, true);
  view.setUint16(36, 256, true);
  view.setUint16(38, 128, true);
  view.setUint32(40, 3, true);
  const message = decodePixelMessage(buffer);
  assert.equal(message.request, 9);
  assert.equal(message.viewport, 1);
  assert.equal(message.kind, 'prefetch');
  assert.equal(message.type, 'image/png');
  assert.equal(message.frame, 5);
  assert.equal(message.item, 7);
  assert.deepEqual(message.rect, [0, 0, 512, 256]);
  assert.deepEqual([message.bitmapWidth, message.bitmapHeight], [256, 128]);
  assert.equal(message.data.byteOffset, HEADER_BYTES);
});

test('broken pixel messages are refused with a protocol error', () => {
  const good = encodePixelMessage(header, new Uint8Array(4));
  assert.throws(() => decodePixelMessage(new ArrayBuffer(10)), ProtocolError);
  const badMagic = good.slice(0);
  new Uint8Array(badMagic)[0] = 0x58;
  assert.throws(() => decodePixelMessage(badMagic), /magic/);
  const badLength = good.slice(0, good.byteLength - 1);
  assert.throws(() => decodePixelMessage(badLength), /announces 4 image bytes but 3 follow/);
  const badKind = good.slice(0);
  new DataView(badKind).setUint8(9, 9);
  assert.throws(() => decodePixelMessage(badKind), /kind/);
  const emptyRect = encodePixelMessage({ ...header, rect: [0, 0, 0, 10] }, new Uint8Array(1));
  assert.throws(() => decodePixelMessage(emptyRect), /empty/);
});

test('a view message carries every field of the contract', () => {
  const message = viewMessage({
    request: 4,
    viewport: 0,
    instance: '1.2.3',
    frame: 0,
    region: [0, 0, 512.00001, 512],
    scale: 0.75,
    window: [40, 400],
    invert: true,
    prefetch: [['1.2.4', 0]],
  });
  assert.deepEqual(message, {
    type: 'view',
    request: 4,
    viewport: 0,
    instance: '1.2.3',
    frame: 0,
    region: [0, 0, 512, 512],
    scale: 0.75,
    window: [40, 400],
    voi: 0,
    function: null,
    invert: true,
    quality: 'interactive',
    prefetch: [['1.2.4', 0]],
  });
});

test('invalid view requests fail here, not on the server', () => {
  const base = { request: 1, viewport: 0, instance: '1.2', frame: 0, region: [0, 0, 1, 1], scale: 1 };
  assert.throws(() => viewMessage({ ...base, viewport: 16 }), /viewport/);
  assert.throws(() => viewMessage({ ...base, request: 0 }), /positive/);
  assert.throws(() => viewMessage({ ...base, instance: '1.2.<script>' }), /not a UID/);
  assert.throws(() => viewMessage({ ...base, window: [40, 0] }), /width/);
  assert.throws(() => viewMessage({ ...base, scale: 0 }), /scale/);
  assert.throws(() => viewMessage({ ...base, region: [0, 0, 0, 5] }), /empty/);
  assert.throws(() => viewMessage({ ...base, quality: 'best' }), /quality/);
  assert.throws(() => viewMessage({ ...base, preview: 'false' }), /preview/);
  assert.throws(() => viewMessage({ ...base, preview: null }), /preview/);
});

test('a view asks for no preview only when told so; otherwise the field is left out', () => {
  const base = { request: 1, viewport: 0, instance: '1.2', frame: 0, region: [0, 0, 1, 1], scale: 1 };
  assert.equal(viewMessage({ ...base, preview: false }).preview, false);
  assert.equal('preview' in viewMessage({ ...base, preview: true }), false);
  assert.equal('preview' in viewMessage(base), false);
});

test('measure messages accept only the protocol shapes', () => {
  const line = { kind: 'line', points: [[0, 0], [3, 4]] };
  assert.deepEqual(measureMessage(2, '1.2', 0, line), {
    type: 'measure',
    request: 2,
    instance: '1.2',
    frame: 0,
    shape: line,
  });
  assert.throws(() => measureMessage(2, '1.2', 0, { kind: 'star' }), /unknown measurement shape/);
});

test('server text must be a JSON object of a known type', () => {
  assert.deepEqual(parseServerMessage('{"type":"pong"}'), { type: 'pong' });
  assert.throws(() => parseServerMessage('nope'), /not JSON/);
  assert.throws(() => parseServerMessage('[1]'), /object/);
  assert.throws(() => parseServerMessage('{"type":"surprise"}'), /unknown server message type/);
});

test('a previews message lists frames and the rendering settings, checked here', () => {
  const message = previewsMessage({ request: 9, viewport: 1, items: [['1.2.3', 0], ['1.2.4', 2]], window: [40, 400] });
  assert.deepEqual(message, {
    type: 'previews',
    request: 9,
    viewport: 1,
    items: [['1.2.3', 0], ['1.2.4', 2]],
    window: [40, 400],
    voi: 0,
    function: null,
    invert: false,
  });
  assert.throws(() => previewsMessage({ request: 9, viewport: 1, items: Array(513).fill(['1.2', 0]) }), RangeError);
  assert.throws(() => previewsMessage({ request: 9, viewport: 1, items: [['x', 0]] }), RangeError);
  assert.throws(() => previewsMessage({ request: 9, viewport: 1, items: [], window: [40, 0] }), RangeError);
});
