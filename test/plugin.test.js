// The plugin server (src/driver/plugin/server.ts) against a recording GraphDriver, spoken
// to as dockerd's plugin client speaks (spec/driver.md §10): shapes of every endpoint,
// Go-style encoding, refusals, streaming in both directions, concurrency, one log line per
// request, and an orderly shutdown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { PluginServer } from '../dist/driver/plugin/server.js';
import { listenOn } from '../dist/driver/plugin/listen.js';
import { encodeResponse, parseApplyDiffQuery } from '../dist/driver/plugin/wire.js';
import { tmpDir } from './helpers/corpus.js';
import { call, callStreaming } from './helpers/dockerd-plugin.js';

/** A GraphDriver that records its calls; `behaviour` overrides single operations. */
function recordingDriver(behaviour = {}) {
  const calls = [];
  const record = (name, result) => (...args) => {
    calls.push([name, ...args.filter((a) => !(a instanceof Readable))]);
    return behaviour[name] ? behaviour[name](...args) : Promise.resolve(typeof result === 'function' ? result(...args) : result);
  };
  return {
    calls,
    home: '/fake',
    toString: () => 'lcow',
    create: record('create'),
    createReadWrite: record('createReadWrite'),
    remove: record('remove'),
    get: record('get', (id) => `/views/${id}`),
    put: record('put'),
    exists: record('exists', (id) => id === 'present'),
    status: record('status', [['Backend', 'fake'], ['Layers', '2']]),
    getMetadata: record('getMetadata', (id) => ({ dir: `/fake/${id}` })),
    getLayerPath: (id) => `/fake/${id}`,
    cleanup: record('cleanup'),
    applyDiff: record('applyDiff', 4096),
    diff: record('diff', () => Readable.from([Buffer.from('tar bytes')])),
    changes: record('changes', [{ path: '/a', kind: 1 }, { path: '/b', kind: 2 }, { path: '/c', kind: 0 }]),
    diffSize: record('diffSize', 0),
    diffGetter: record('diffGetter'),
  };
}

/** A log that keeps its lines. */
function recordingLog() {
  const lines = [];
  const at = (level) => (fields, msg) => lines.push({ level, ...fields, msg });
  return { lines, fatal: at('fatal'), error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), trace: at('trace') };
}

/** A server on a fresh unix socket, initialised unless { init: false }; stopped after the test. */
async function startServer(t, { behaviour, init = true } = {}) {
  const drivers = [];
  const opened = [];
  const log = recordingLog();
  const server = new PluginServer({
    root: '/fake/root',
    log,
    openDriver: async (root, options) => {
      opened.push({ root, options });
      const driver = recordingDriver(behaviour);
      drivers.push(driver);
      return driver;
    },
  });
  const socketPath = path.join(tmpDir('lcow-plugin-'), 'p.sock');
  await listenOn(server.http, { kind: 'unix', path: socketPath });
  t.after(() => server.shutdown(1000));
  const address = `unix://${socketPath}`;
  if (init) {
    const reply = await call(address, 'GraphDriver.Init', { Home: '/var/lib/docker/lcowtest', Opts: null, UIDMaps: null, GIDMaps: null });
    assert.equal(reply.status, 200);
  }
  return { server, address, socketPath, log, opened, drivers, driver: () => drivers.at(-1) };
}

test('Plugin.Activate with an empty body implements GraphDriver', async (t) => {
  const { address } = await startServer(t, { init: false });
  const reply = await call(address, 'Plugin.Activate');
  assert.equal(reply.status, 200);
  assert.equal(reply.headers['content-type'], 'application/vnd.docker.plugins.v1.2+json');
  assert.equal(reply.raw.toString(), '{"Implements":["GraphDriver"]}\n');
});

test('Init opens the driver on --root with the daemon storage options; a second Init releases the first driver', async (t) => {
  const { address, opened, drivers } = await startServer(t);
  assert.deepEqual(opened, [{ root: '/fake/root', options: [] }]);
  const again = await call(address, 'GraphDriver.Init', { Home: '/h', Opts: ['lcow.globalmode=true'], UIDMaps: [{ container_id: 0, host_id: 0, size: 1 }] });
  assert.equal(again.status, 200);
  assert.equal(again.raw.toString(), '{}\n');
  assert.deepEqual(opened[1], { root: '/fake/root', options: ['lcow.globalmode=true'] });
  assert.deepEqual(drivers[0].calls, [['cleanup']]);
});

test('Capabilities keep ReproducesExactDiffs: false nested', async (t) => {
  const { address } = await startServer(t, { init: false });
  const reply = await call(address, 'GraphDriver.Capabilities', {});
  assert.equal(reply.raw.toString(), '{"Capabilities":{"ReproducesExactDiffs":false}}\n');
});

test('every JSON endpoint passes its fields to the driver and answers in the shape of §10.2', async (t) => {
  const { address, driver } = await startServer(t);
  const cases = [
    ['GraphDriver.Create', { ID: 'L1' }, '{}\n', ['create', 'L1', '', { storageOpt: {}, mountLabel: '' }]],
    ['GraphDriver.CreateReadWrite', { ID: 'C', Parent: 'L1', StorageOpt: { size: '1G' } }, '{}\n', ['createReadWrite', 'C', 'L1', { storageOpt: { size: '1G' }, mountLabel: '' }]],
    ['GraphDriver.Get', { ID: 'C', MountLabel: 'label' }, '{"Dir":"/views/C"}\n', ['get', 'C', 'label']],
    ['GraphDriver.Put', { ID: 'C' }, '{}\n', ['put', 'C']],
    ['GraphDriver.Exists', { ID: 'present' }, '{"Exists":true}\n', ['exists', 'present']],
    // Go's omitempty: false, 0 and empty lists are left out.
    ['GraphDriver.Exists', { ID: 'absent' }, '{}\n', ['exists', 'absent']],
    ['GraphDriver.Status', {}, '{"Status":[["Backend","fake"],["Layers","2"]]}\n', ['status']],
    ['GraphDriver.GetMetadata', { ID: 'L1' }, '{"Metadata":{"dir":"/fake/L1"}}\n', ['getMetadata', 'L1']],
    ['GraphDriver.Changes', { ID: 'C', Parent: 'C-init' }, '{"Changes":[{"Kind":1,"Path":"/a"},{"Kind":2,"Path":"/b"},{"Kind":0,"Path":"/c"}]}\n', ['changes', 'C', 'C-init']],
    ['GraphDriver.DiffSize', { ID: 'C', Parent: 'C-init' }, '{}\n', ['diffSize', 'C', 'C-init']],
    ['GraphDriver.Remove', { ID: 'C' }, '{}\n', ['remove', 'C']],
    ['GraphDriver.Cleanup', {}, '{}\n', ['cleanup']],
  ];
  for (const [endpoint, body, expected, recorded] of cases) {
    const reply = await call(address, endpoint, body);
    assert.equal(reply.status, 200, endpoint);
    assert.equal(reply.raw.toString(), expected, endpoint);
    assert.deepEqual(driver().calls.at(-1), recorded, endpoint);
  }
});

test('ApplyDiff takes id and parent from the raw query and answers the size', async (t) => {
  const { address, driver } = await startServer(t);
  const reply = await call(address, 'GraphDriver.ApplyDiff?id=L2&parent=L1', Readable.from([Buffer.alloc(1024)]));
  assert.equal(reply.raw.toString(), '{"Size":4096}\n');
  assert.deepEqual(driver().calls.at(-1), ['applyDiff', 'L2', 'L1']);
  // The daemon does not URL-escape the query: nothing is percent-decoded, "+" stays.
  assert.deepEqual(parseApplyDiffQuery('GraphDriver.ApplyDiff', 'id=a+b%41&parent='), { id: 'a+b%41', parent: '' });
  const missing = await call(address, 'GraphDriver.ApplyDiff?parent=L1', Readable.from([Buffer.alloc(10)]));
  assert.equal(missing.status, 400);
  assert.match(missing.json.Err, /"id" is missing/);
});

test('ApplyDiff hands the chunked body to the driver as it arrives, never buffered whole', async (t) => {
  let sawFirstChunk;
  const firstChunkSeen = new Promise((resolve) => (sawFirstChunk = resolve));
  let received = 0;
  const { address } = await startServer(t, {
    behaviour: {
      applyDiff: async (id, parent, body) => {
        for await (const chunk of body) {
          received += chunk.length;
          sawFirstChunk();
        }
        return received;
      },
    },
  });
  // The client sends the rest only after the driver has seen the start: a server that
  // waited for the whole body would deadlock here (and time out).
  const body = new PassThrough();
  const reply = call(address, 'GraphDriver.ApplyDiff?id=L&parent=', body);
  body.write(Buffer.alloc(64 * 1024, 1));
  await firstChunkSeen;
  const megabyte = Buffer.alloc(1 << 20, 2);
  for (let i = 0; i < 64; i += 1) if (!body.write(megabyte)) await new Promise((resolve) => body.once('drain', resolve));
  body.end();
  const answer = await reply;
  assert.equal(answer.status, 200);
  assert.equal(received, 64 * 1024 + 64 * (1 << 20));
  assert.deepEqual(answer.json, { Size: received });
});

test('an ApplyDiff the driver refuses before reading its body is answered at once, and the connection is not kept', async (t) => {
  const { address } = await startServer(t, {
    behaviour: { applyDiff: async (id) => { throw new Error(`lcowdriver: applydiff: ${id}: no such layer`); } },
  });
  function* body() {
    for (let i = 0; i < 1024; i += 1) yield Buffer.alloc(1 << 20);
  }
  const reply = await call(address, 'GraphDriver.ApplyDiff?id=ghost&parent=', Readable.from(body()));
  assert.equal(reply.status, 500);
  assert.deepEqual(reply.json, { Err: 'lcowdriver: applydiff: ghost: no such layer' });
  assert.equal(reply.headers.connection, 'close');
});

test('Diff streams the tar as the body; an error before the first byte is a non-200 {"Err"}', async (t) => {
  let fail = 'none';
  const { address } = await startServer(t, {
    behaviour: {
      diff: async (id) => {
        if (fail === 'open') throw new Error(`lcowdriver: diff: ${id} failed\nsecond line`);
        if (fail === 'first read') return new Readable({ read() { this.destroy(new Error('cannot read layer.vhd')); } });
        if (fail === 'later') {
          let sent = false;
          return new Readable({
            read() {
              if (!sent) { sent = true; this.push(Buffer.alloc(512)); } else setImmediate(() => this.destroy(new Error('cut')));
            },
          });
        }
        return Readable.from([Buffer.alloc(512, 1), Buffer.alloc(1024, 2)]);
      },
    },
  });
  const ok = await call(address, 'GraphDriver.Diff', { ID: 'C', Parent: 'C-init' });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['content-type'], 'application/x-tar');
  assert.equal(ok.headers['transfer-encoding'], 'chunked');
  assert.equal(ok.raw.length, 1536);

  fail = 'open';
  const opened = await call(address, 'GraphDriver.Diff', { ID: 'C' });
  assert.equal(opened.status, 500);
  assert.equal(opened.raw.toString(), '{"Err":"lcowdriver: diff: C failed second line"}\n');

  fail = 'first read';
  const firstRead = await call(address, 'GraphDriver.Diff', { ID: 'C' });
  assert.equal(firstRead.status, 500);
  assert.deepEqual(firstRead.json, { Err: 'cannot read layer.vhd' });

  // After the first byte only a cut connection can say it: the client must not see a clean end.
  fail = 'later';
  await assert.rejects(call(address, 'GraphDriver.Diff', { ID: 'C' }));
});

test('requests are served concurrently: Diff stays open while ApplyDiff of the same bytes runs', async (t) => {
  const diffBody = new PassThrough();
  const { address, driver } = await startServer(t, {
    behaviour: {
      diff: async () => diffBody,
      applyDiff: async (id, parent, body) => {
        let n = 0;
        for await (const chunk of body) n += chunk.length;
        return n;
      },
    },
  });
  // As docker commit does: Diff(C) is piped into ApplyDiff(N) while both are open.
  diffBody.write(Buffer.alloc(4096, 7));
  const diff = await callStreaming(address, 'GraphDriver.Diff', { ID: 'C', Parent: 'C-init' });
  assert.equal(diff.statusCode, 200);
  const applied = call(address, 'GraphDriver.ApplyDiff?id=N&parent=L', diff);
  // Meanwhile other calls are answered too.
  const status = await call(address, 'GraphDriver.Status', {});
  assert.equal(status.status, 200);
  diffBody.end(Buffer.alloc(4096, 8));
  const reply = await applied;
  assert.deepEqual(reply.json, { Size: 8192 });
  assert.deepEqual(driver().calls.map((c) => c[0]), ['diff', 'applyDiff', 'status']);
});

test('refusals: one-line {"Err"} naming what and why, with a status that says whose fault', async (t) => {
  const { address } = await startServer(t, {
    behaviour: { remove: async () => { throw new Error('lcowdriver: remove: busy\n\tdetails'); } },
  });
  const cases = [
    ['GraphDriver.Create', Buffer.from('{"ID":'), 400, /^GraphDriver\.Create: malformed JSON body: /],
    ['GraphDriver.Create', Buffer.from('[1]\n'), 400, /^GraphDriver\.Create: the body must be a JSON object, not an array$/],
    ['GraphDriver.Create', {}, 400, /^GraphDriver\.Create: "ID" is missing or empty$/],
    ['GraphDriver.Get', { ID: 7 }, 400, /^GraphDriver\.Get: "ID" must be a string, not a number$/],
    ['GraphDriver.Create', { ID: 'x', StorageOpt: { size: 1 } }, 400, /"StorageOpt" must be an object of string values/],
    ['GraphDriver.Init', { Home: '/h', Opts: 'a=b' }, 400, /"Opts" must be a list/],
    ['GraphDriver.Remove', { ID: 'x' }, 500, /^lcowdriver: remove: busy details$/],
    ['GraphDriver.Nope', {}, 404, /^unknown endpoint \/GraphDriver\.Nope: /],
    ['VolumeDriver.Create', {}, 404, /^unknown endpoint /],
    ['GraphDriver.Create', Buffer.alloc(2 * 1024 * 1024, 0x20), 413, /the JSON body is over 1048576 bytes/],
  ];
  for (const [endpoint, body, status, message] of cases) {
    const reply = await call(address, endpoint, body);
    assert.equal(reply.status, status, `${endpoint} ${JSON.stringify(body).slice(0, 40)}`);
    assert.match(reply.json.Err, message);
    assert.ok(!reply.raw.toString().slice(0, -1).includes('\n'), 'one line');
  }
});

test('a call before Init is refused; GET is not the protocol', async (t) => {
  const { address } = await startServer(t, { init: false });
  const early = await call(address, 'GraphDriver.Create', { ID: 'L' });
  assert.equal(early.status, 409);
  assert.equal(early.json.Err, 'GraphDriver.Create: the driver is not initialised: call GraphDriver.Init first');
  const reply = await new Promise((resolve, reject) => {
    const socket = net.connect(address.slice('unix://'.length));
    let text = '';
    socket.on('data', (d) => (text += d));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    socket.end('GET /Plugin.Activate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
  assert.match(reply, /^HTTP\/1\.1 405 /);
  assert.match(reply, /\{"Err":"GET \/Plugin\.Activate: the plugin protocol uses POST only"\}/);
});

test('one log line per request with method, id, status and milliseconds', async (t) => {
  const { address, log } = await startServer(t);
  await call(address, 'GraphDriver.Create', { ID: 'L1' });
  await call(address, 'GraphDriver.Get', {});
  await call(address, 'GraphDriver.Diff', { ID: 'L1' });
  const requests = log.lines.filter((l) => l.method);
  assert.deepEqual(requests.map((l) => [l.level, l.method, l.id, l.status]), [
    ['info', 'GraphDriver.Init', undefined, 200],
    ['info', 'GraphDriver.Create', 'L1', 200],
    ['warn', 'GraphDriver.Get', undefined, 400],
    ['info', 'GraphDriver.Diff', 'L1', 200],
  ]);
  for (const line of requests) assert.equal(typeof line.ms, 'number');
  assert.match(requests[2].err, /"ID" is missing/);
});

test('shutdown stops accepting, finishes the request in flight, then releases every view', async (t) => {
  let finishApply;
  const applyMayFinish = new Promise((resolve) => (finishApply = resolve));
  const { server, address, socketPath, driver } = await startServer(t, {
    behaviour: {
      applyDiff: async (id, parent, body) => {
        for await (const chunk of body) void chunk;
        await applyMayFinish;
        return 1234;
      },
    },
  });
  const inFlight = call(address, 'GraphDriver.ApplyDiff?id=L&parent=', Readable.from([Buffer.alloc(100)]));
  while (server.requestsInFlight === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const stopped = server.shutdown(10_000);
  // No new connections once shutdown has begun.
  await assert.rejects(call(address, 'Plugin.Activate'), /ENOENT|ECONNREFUSED/);
  assert.ok(!driver().calls.some((c) => c[0] === 'cleanup'), 'views released only after the requests finished');
  finishApply();
  const reply = await inFlight;
  assert.deepEqual(reply.json, { Size: 1234 });
  assert.equal(reply.headers.connection, 'close');
  await stopped;
  assert.equal(driver().calls.at(-1)[0], 'cleanup');
  assert.equal(server.http.listening, false);
  await assert.rejects(new Promise((resolve, reject) => net.connect(socketPath).once('connect', resolve).once('error', reject)));
});

test('encodeResponse omits empty top-level fields as Go omitempty does', () => {
  assert.equal(encodeResponse({ Err: '', Dir: '', Size: 0, Exists: false, Changes: [], Status: null }), '{}\n');
  assert.equal(encodeResponse({ Dir: '/a<b>' }), '{"Dir":"/a\\u003cb\\u003e"}\n');
});
