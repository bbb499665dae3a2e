// `lcow plugin` as a process: usage errors, one instance per data root, live and stale
// sockets, TCP, and SIGTERM with a request in flight and a view held (real Driver).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { REPO, tmpDir } from './helpers/corpus.js';
import { call, runPlugin, startPlugin } from './helpers/dockerd-plugin.js';
import { loopDevicesUnder, mountsUnder, releaseEverythingUnder } from './helpers/dockerd.js';

const SAMPLE = path.join(REPO, 'fixtures/sample-layer.tar');

/** A started plugin, stopped (by pid) after the test whatever happens. */
async function plugin(t, args) {
  const started = await startPlugin(args);
  t.after(() => started.stop('SIGKILL'));
  return started;
}

function oneErrorLine(stderr) {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, stderr);
  return lines[0];
}

test('usage errors: one line, exit 2', async () => {
  const dir = tmpDir('lcow-plugin-cli-');
  const cases = [
    [[], /^lcow: USAGE: Missing required argument: root/],
    [['--root', dir, '--socket', 'a.sock', '--listen', 'tcp://127.0.0.1:1'], /^lcow: USAGE: Arguments socket and listen are mutually exclusive/],
    [['--root', dir, '--listen', 'http://x'], /^lcow: USAGE: --listen "http:\/\/x": unknown scheme "http"/],
    [['--root', dir, '--listen', 'tcp://127.0.0.1:99999'], /^lcow: USAGE: --listen .*port from 0 to 65535/],
    [['--root', dir, '--listen', 'unix://relative.sock'], /^lcow: USAGE: .*absolute path/],
    [['--root', dir, '--socket', '\\\\.\\pipe\\lcow'], /^lcow: USAGE: \\\\\.\\pipe\\lcow: named pipes exist only on Windows/],
    [['--root', dir, '--bogus'], /^lcow: USAGE: Unknown argument: bogus/],
  ];
  for (const [args, message] of cases) {
    const result = await runPlugin(args);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(oneErrorLine(result.stderr), message);
  }
  const help = await runPlugin(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--root/);
});

test('a second instance on the same root is refused while the first keeps serving', async (t) => {
  const dir = tmpDir('lcow-plugin-cli-');
  const root = path.join(dir, 'root');
  const first = await plugin(t, ['--root', root, '--socket', path.join(dir, 'a.sock')]);
  assert.equal(fs.readFileSync(path.join(root, 'plugin.pid'), 'utf8'), `${first.pid}\n`);
  const second = await runPlugin(['--root', root, '--socket', path.join(dir, 'b.sock')]);
  assert.equal(second.status, 1);
  assert.equal(oneErrorLine(second.stderr), `lcow: PLUGIN_ALREADY_RUNNING: another lcow plugin (pid ${first.pid}) is serving ${root}: stop it first, or use another --root`);
  assert.ok(!fs.existsSync(path.join(dir, 'b.sock')));
  assert.equal((await call(first.address, 'Plugin.Activate')).status, 200);
});

test('a socket another server answers on is never taken over; a file that is not a socket is left alone', async (t) => {
  const dir = tmpDir('lcow-plugin-cli-');
  const first = await plugin(t, ['--root', path.join(dir, 'one'), '--socket', path.join(dir, 'shared.sock')]);
  const clash = await runPlugin(['--root', path.join(dir, 'two'), '--socket', path.join(dir, 'shared.sock')]);
  assert.equal(clash.status, 1);
  assert.equal(oneErrorLine(clash.stderr), `lcow: PLUGIN_ADDRESS_IN_USE: another server is listening on ${path.join(dir, 'shared.sock')}: stop it or choose another --socket`);
  assert.equal((await call(first.address, 'Plugin.Activate')).status, 200);

  const regular = path.join(dir, 'regular.sock');
  fs.writeFileSync(regular, 'not a socket');
  const refused = await runPlugin(['--root', path.join(dir, 'three'), '--socket', regular]);
  assert.equal(refused.status, 1);
  assert.match(oneErrorLine(refused.stderr), /PLUGIN_ADDRESS_IN_USE: .*regular\.sock exists and is not a socket/);
  assert.equal(fs.readFileSync(regular, 'utf8'), 'not a socket');
});

test('after a crash (SIGKILL) the stale socket and pid file are replaced', async (t) => {
  const dir = tmpDir('lcow-plugin-cli-');
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'p.sock');
  const crashed = await plugin(t, ['--root', root, '--socket', socket]);
  assert.deepEqual(await crashed.stop('SIGKILL'), { status: null, signal: 'SIGKILL' });
  assert.ok(fs.lstatSync(socket).isSocket(), 'the crash left its socket file');
  assert.equal(fs.readFileSync(path.join(root, 'plugin.pid'), 'utf8'), `${crashed.pid}\n`);
  const next = await plugin(t, ['--root', root, '--socket', socket]);
  assert.equal((await call(next.address, 'Plugin.Activate')).json.Implements[0], 'GraphDriver');
  assert.equal(fs.readFileSync(path.join(root, 'plugin.pid'), 'utf8'), `${next.pid}\n`);
});

test('tcp://127.0.0.1:0 listens on a free port and prints the address a .spec file needs', async (t) => {
  const dir = tmpDir('lcow-plugin-cli-');
  const served = await plugin(t, ['--root', path.join(dir, 'root'), '--listen', 'tcp://127.0.0.1:0']);
  assert.match(served.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(served.address, 'tcp://127.0.0.1:0');
  assert.equal((await call(served.address, 'GraphDriver.Capabilities', {})).raw.toString(), '{"Capabilities":{"ReproducesExactDiffs":false}}\n');
  assert.deepEqual(await served.stop(), { status: 0, signal: null });
});

test('SIGTERM: stops accepting, finishes the ApplyDiff in flight, releases the view held, removes socket and pid file, exits 0', async (t) => {
  const canMount = process.platform === 'linux' && process.getuid?.() === 0;
  const dir = tmpDir('lcow-plugin-cli-');
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'p.sock');
  t.after(() => releaseEverythingUnder(dir, [dir]));
  const served = await plugin(t, ['--root', root, '--socket', socket]);
  const address = served.address;
  assert.equal((await call(address, 'GraphDriver.Init', { Home: '/var/lib/docker/lcow', Opts: null })).status, 200);
  assert.equal((await call(address, 'GraphDriver.Create', { ID: 'base' })).status, 200);
  const applied = await call(address, 'GraphDriver.ApplyDiff?id=base&parent=', fs.createReadStream(SAMPLE));
  assert.equal(applied.status, 200, applied.raw.toString());
  assert.equal(applied.json.Size, fs.statSync(path.join(root, 'base', 'layer.vhd')).size);
  assert.equal((await call(address, 'GraphDriver.CreateReadWrite', { ID: 'box', Parent: 'base' })).status, 200);
  if (canMount) {
    const view = await call(address, 'GraphDriver.Get', { ID: 'box' });
    assert.equal(view.status, 200, view.raw.toString());
    assert.equal(fs.readFileSync(path.join(view.json.Dir, 'etc/hostname'), 'utf8').length, 12);
    assert.ok(mountsUnder(root).length > 0, 'the view is mounted');
  } else {
    t.diagnostic('not root: the view part (Get, loop devices, overlayfs) is not exercised');
  }
  // An ApplyDiff whose body is still arriving when SIGTERM comes.
  assert.equal((await call(address, 'GraphDriver.Create', { ID: 'late', Parent: 'base' })).status, 200);
  const body = new PassThrough();
  const late = call(address, 'GraphDriver.ApplyDiff?id=late&parent=base', body);
  const sample = fs.readFileSync(SAMPLE);
  body.write(sample.subarray(0, 1024));
  await new Promise((resolve) => setTimeout(resolve, 200));
  served.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 200));
  // No new connections once stopping has begun.
  await assert.rejects(new Promise((resolve, reject) => net.connect(socket).once('connect', resolve).once('error', reject)));
  body.end(sample.subarray(1024));
  const lateReply = await late;
  assert.equal(lateReply.status, 200, lateReply.raw.toString());
  assert.equal(lateReply.headers.connection, 'close');
  assert.deepEqual(await served.exited, { status: 0, signal: null });
  assert.ok(!fs.existsSync(socket), 'socket removed');
  assert.ok(!fs.existsSync(path.join(root, 'plugin.pid')), 'pid file removed');
  assert.deepEqual(mountsUnder(dir), []);
  assert.deepEqual(loopDevicesUnder(dir), []);
  // One info line per request, with method, id, status and milliseconds.
  const requests = served.logs().filter((line) => line.method);
  assert.deepEqual(requests.map((l) => [l.level, l.method, l.id ?? '', l.status]), [
    [30, 'GraphDriver.Init', '', 200],
    [30, 'GraphDriver.Create', 'base', 200],
    [30, 'GraphDriver.ApplyDiff', 'base', 200],
    [30, 'GraphDriver.CreateReadWrite', 'box', 200],
    ...(canMount ? [[30, 'GraphDriver.Get', 'box', 200]] : []),
    [30, 'GraphDriver.Create', 'late', 200],
    [30, 'GraphDriver.ApplyDiff', 'late', 200],
  ]);
  assert.ok(requests.every((l) => typeof l.ms === 'number'));
});
