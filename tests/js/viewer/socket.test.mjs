import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Backoff } from '../../../frontend/static/frontend/js/viewer/backoff.js';
import { ViewerSocket } from '../../../frontend/static/frontend/js/viewer/socket.js';

/** Manual clock: timers fire only when the test advances time. */
function clock() {
  let now = 0;
  let next = 1;
  const timers = new Map();
  return {
    set(fn, ms) {
      const id = next++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clear(id) {
      timers.delete(id);
    },
    now: () => now,
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = until;
    },
  };
}

/** A WebSocket stand-in that records what is sent and lets the test play the server. */
function fakeWebSocketClass() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.closed = false;
      sockets.push(this);
    }
    send(text) {
      this.sent.push(JSON.parse(text));
    }
    close() {
      this.closed = true;
    }
    serverOpens() {
      this.onopen?.();
    }
    serverSends(data) {
      this.onmessage?.({ data: typeof data === 'string' ? data : data });
    }
    serverCloses() {
      this.onclose?.({ code: 1006 });
    }
  }
  return { FakeWebSocket, sockets };
}

function setup(handlers = {}) {
  const timers = clock();
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const events = [];
  const socket = new ViewerSocket(
    'ws://127.0.0.1/ws/viewer/',
    {
      onOpen: (resumed) => events.push(['open', resumed]),
      onMessage: (m) => events.push(['message', m.type]),
      onBinary: (b) => events.push(['binary', b.byteLength]),
      onState: (state, detail) => events.push(['state', state, detail.retryIn]),
      onProtocolError: (e) => events.push(['protocol-error', e.message]),
      ...handlers,
    },
    {
      WebSocket: FakeWebSocket,
      timers,
      backoff: new Backoff({ initial: 100, max: 1000, jitter: 0 }),
      quietMs: 1000,
      pongMs: 500,
    },
  );
  return { socket, sockets, timers, events };
}

test('messages are dispatched by kind; pongs and junk do not reach the owner', () => {
  const { socket, sockets, events } = setup();
  socket.connect();
  const ws = sockets[0];
  assert.equal(ws.binaryType, 'arraybuffer');
  ws.serverOpens();
  ws.serverSends('{"type":"study","series":[]}');
  ws.serverSends('{"type":"pong"}');
  ws.serverSends('not json');
  ws.serverSends(new ArrayBuffer(50));
  assert.deepEqual(
    events.filter(([kind]) => kind !== 'state'),
    [['open', false], ['message', 'study'], ['protocol-error', 'the server sent text that is not JSON'], ['binary', 50]],
  );
  assert.equal(socket.send({ type: 'ping' }), true);
  assert.deepEqual(ws.sent, [{ type: 'ping' }]);
});

test('a dropped connection reconnects with growing delays and reports a resume', () => {
  const { socket, sockets, timers, events } = setup();
  socket.connect();
  sockets[0].serverOpens();
  sockets[0].serverCloses();
  assert.equal(socket.state, 'waiting');
  assert.equal(socket.send({ type: 'ping' }), false);
  timers.advance(99);
  assert.equal(sockets.length, 1);
  timers.advance(1);
  assert.equal(sockets.length, 2);
  // The server is still down: the next wait is twice as long.
  sockets[1].serverCloses();
  timers.advance(199);
  assert.equal(sockets.length, 2);
  timers.advance(1);
  sockets[2].serverOpens();
  assert.deepEqual(events.filter(([kind]) => kind === 'open'), [['open', false], ['open', true]]);
  assert.deepEqual(
    events.filter(([kind, state]) => kind === 'state' && state === 'waiting').map((e) => e[2]),
    [100, 200],
  );
  // Success resets the backoff.
  sockets[2].serverCloses();
  assert.equal(events.at(-1)[2], 100);
});

test('a silent connection is pinged, then dropped and reopened when even the pong is missing', () => {
  const { socket, sockets, timers } = setup();
  socket.connect();
  sockets[0].serverOpens();
  timers.advance(1000);
  assert.deepEqual(sockets[0].sent, [{ type: 'ping' }]);
  sockets[0].serverSends('{"type":"pong"}');
  timers.advance(1000);
  assert.equal(sockets[0].sent.length, 2);
  timers.advance(500);
  assert.equal(sockets[0].closed, true);
  timers.advance(100);
  assert.equal(sockets.length, 2);
});

test('close() stops for good: no reconnect', () => {
  const { socket, sockets, timers } = setup();
  socket.connect();
  sockets[0].serverOpens();
  socket.close();
  assert.equal(sockets[0].closed, true);
  sockets[0].serverCloses();
  timers.advance(10000);
  assert.equal(sockets.length, 1);
  assert.equal(socket.state, 'closed');
});

test('events of a replaced socket are ignored', () => {
  const { socket, sockets, timers, events } = setup();
  socket.connect();
  sockets[0].serverOpens();
  socket.drop();
  timers.advance(100);
  sockets[0].serverSends('{"type":"study"}');
  sockets[0].serverCloses();
  assert.equal(events.filter(([kind]) => kind === 'message').length, 0);
  assert.equal(sockets.length, 2);
});

test('an adopted socket (boot.js) is used once, with what it heard replayed after onOpen', () => {
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const early = new FakeWebSocket('ws://127.0.0.1/ws/viewer/');
  early.readyState = 1; // open already
  const events = [];
  const timers = clock();
  const socket = new ViewerSocket(
    'ws://127.0.0.1/ws/viewer/',
    {
      onOpen: (resumed, adopted) => events.push(['open', resumed, adopted]),
      onMessage: (m) => events.push(['message', m.type]),
      onBinary: (b) => events.push(['binary', b.byteLength]),
    },
    {
      WebSocket: FakeWebSocket,
      timers,
      backoff: new Backoff({ initial: 100, max: 1000, jitter: 0 }),
      adopt: { ws: early, heard: ['{"type":"first_picture","request":1}', new ArrayBuffer(60), '{"type":"study","series":[]}'] },
    },
  );
  socket.connect();
  assert.equal(sockets.length, 1, 'no second socket');
  assert.deepEqual(events, [
    ['open', false, true],
    ['message', 'first_picture'],
    ['binary', 60],
    ['message', 'study'],
  ]);
  // Later messages arrive as usual; a drop reconnects with a new socket, not the adopted one.
  early.serverSends('{"type":"study","series":[]}');
  early.serverCloses();
  timers.advance(100);
  assert.equal(sockets.length, 2);
  sockets[1].serverOpens();
  assert.deepEqual(events.slice(-2), [['message', 'study'], ['open', true, false]]);
});

test('an adopted socket still connecting opens as usual; one already closed reconnects', () => {
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const connecting = new FakeWebSocket('ws://127.0.0.1/ws/viewer/');
  connecting.readyState = 0;
  const events = [];
  const timers = clock();
  const options = { WebSocket: FakeWebSocket, timers, backoff: new Backoff({ initial: 100, max: 1000, jitter: 0 }) };
  const handlers = { onOpen: (resumed, adopted) => events.push(['open', resumed, adopted]) };
  const socket = new ViewerSocket('ws://127.0.0.1/ws/viewer/', handlers, { ...options, adopt: { ws: connecting, heard: [] } });
  socket.connect();
  assert.deepEqual(events, []);
  connecting.serverOpens();
  assert.deepEqual(events, [['open', false, true]]);

  const closed = new FakeWebSocket('ws://127.0.0.1/ws/viewer/');
  closed.readyState = 3;
  const other = new ViewerSocket('ws://127.0.0.1/ws/viewer/', handlers, { ...options, adopt: { ws: closed, heard: [] } });
  other.connect();
  assert.equal(other.state, 'waiting');
  timers.advance(100);
  assert.equal(sockets.length, 3, 'a fresh socket after the adopted one closed');
});
