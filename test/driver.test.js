// The graph driver's own operations (spec/driver.md §2, §3, §7) through the library
// and the `lcow driver` CLI: data root layout, ids, layerchain.json bytes, options and
// their messages, ApplyDiff in a child and in-process, Remove and Cleanup.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import path from 'node:path';
import { REPO, tmpDir } from './helpers/corpus.js';
import { Driver, convertTar } from '../dist/index.js';

const LCOW = path.join(REPO, 'dist/host/cli/lcow.js');
const SAMPLE = path.join(REPO, 'fixtures/sample-layer.tar');

function lcowDriver(root, args, input) {
  return spawnSync(process.execPath, [LCOW, 'driver', '--root', root, ...args], { input, encoding: 'buffer', maxBuffer: 1 << 28 });
}

/** Waits (bounded) until no process has `text` in its command line. */
async function waitUntilNoProcessMentions(text, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const alive = readdirSync('/proc').filter((pid) => /^[0-9]+$/.test(pid)).some((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(text);
      } catch {
        return false;
      }
    });
    if (!alive) return;
    assert.ok(Date.now() < deadline, `a process still mentions ${text}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every entry under `dir`, relative, so a test can see that nothing else appeared. */
function tree(dir) {
  const out = [];
  const walk = (at) => {
    for (const name of readdirSync(at, { withFileTypes: true })) {
      const rel = path.relative(dir, path.join(at, name.name));
      out.push(rel);
      if (name.isDirectory()) walk(path.join(at, name.name));
    }
  };
  walk(dir);
  return out.sort();
}

test('init makes the data root, cache and scratch, and deletes stale scratch disks only', async () => {
  const root = path.join(tmpDir(), 'lcow');
  mkdirSync(path.join(root, 'scratch'), { recursive: true });
  writeFileSync(path.join(root, 'scratch', 'old.vhdx'), 'x');
  writeFileSync(path.join(root, 'scratch', 'keep.txt'), 'x');
  const driver = await Driver.init(root, []);
  assert.equal(driver.toString(), 'lcow');
  const fresh = path.join(tmpDir(), 'new-root');
  await Driver.init(fresh, []);
  for (const dir of ['', 'cache', 'scratch']) assert.equal(statSync(path.join(fresh, dir)).mode & 0o777, 0o700, `${dir || 'root'} mode`);
  assert.ok(statSync(path.join(root, 'cache')).isDirectory());
  assert.deepEqual(readdirSync(path.join(root, 'scratch')), ['keep.txt']);
});

test('lcow.globalmode takes Go ParseBool spellings; anything else fails init with the reference message', async () => {
  const root = path.join(tmpDir(), 'lcow');
  for (const value of ['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'FALSE']) {
    await Driver.init(root, [`LCOW.GlobalMode=${value}`]);
  }
  await assert.rejects(Driver.init(root, ['lcow.globalmode=yes']), { message: "lcowdriver: init: failed to parse value for 'lcow.globalmode' - must be 'true' or 'false'" });
});

test('ids that are not one path element are refused by every operation, and nothing appears outside the root', async () => {
  const base = tmpDir();
  const root = path.join(base, 'lcow');
  const driver = await Driver.init(root, []);
  const before = tree(base);
  const bad = ['', '.', '..', '../x', 'a/b', 'a\\b', '/abs', 'x\0y', 'C:x', 'cache', 'scratch', 'svm', 'plugin.pid', 'x-removing', 'y'.repeat(300)];
  for (const id of bad) {
    for (const op of [
      () => driver.create(id, ''), () => driver.createReadWrite(id, ''), () => driver.remove(id), () => driver.get(id),
      () => driver.put(id), () => driver.applyDiff(id, '', Readable.from([])), () => driver.diff(id, ''),
      () => driver.changes(id, ''), () => driver.diffSize(id, ''), () => driver.diffGetter(id), () => driver.getMetadata(id),
    ]) {
      await assert.rejects(op(), (err) => err.code === 'DRIVER_INVALID_ID' && /single path element/.test(err.message), `id ${JSON.stringify(id)}`);
    }
    assert.equal(await driver.exists(id), false);
  }
  await assert.rejects(driver.create('ok', '../escape'), { code: 'DRIVER_INVALID_ID' });
  assert.deepEqual(tree(base), before);
});

test('layerchain.json: literal null without a parent, compact Go JSON nearest parent first, mode 0600, no newline', async () => {
  const root = path.join(tmpDir(), 'lcow');
  const driver = await Driver.init(root, []);
  await driver.create('base', '');
  await driver.create('mid<&>', 'base');
  await driver.create('top', 'mid<&>');
  const chain = (id) => readFileSync(path.join(root, id, 'layerchain.json'), 'latin1');
  assert.equal(chain('base'), 'null');
  const esc = (p) => p.replace(/\\/g, '\\\\').replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  assert.equal(chain('mid<&>'), `["${esc(path.join(root, 'base'))}"]`);
  assert.equal(chain('top'), `["${esc(path.join(root, 'mid<&>'))}","${esc(path.join(root, 'base'))}"]`);
  assert.equal(statSync(path.join(root, 'top', 'layerchain.json')).mode & 0o777, 0o600);
  assert.equal(statSync(path.join(root, 'top')).mode & 0o777, 0o700);
  // Creating again over an existing folder is not an error (reference behaviour).
  await driver.create('base', '');
});

test('a missing parent and unreadable chains fail with the reference messages', async () => {
  const root = path.join(tmpDir(), 'lcow');
  const driver = await Driver.init(root, []);
  await assert.rejects(driver.create('child', 'nosuch'), { message: 'lcowdriver: cannot create layer folder with missing parent nosuch' });
  assert.equal(existsSync(path.join(root, 'child')), false);
  await driver.create('p', '');
  writeFileSync(path.join(root, 'p', 'layerchain.json'), '[1,');
  await assert.rejects(driver.create('c', 'p'), (err) => err.message.startsWith(`lcowdriver: getlayerchain: p failed to unmarshall layerchain file ${path.join(root, 'p', 'layerchain.json')}: `));
  // [] and a missing file mean "no parents", like null.
  writeFileSync(path.join(root, 'p', 'layerchain.json'), '[]');
  await driver.create('c', 'p');
  assert.equal(readFileSync(path.join(root, 'c', 'layerchain.json'), 'utf8'), JSON.stringify([path.join(root, 'p')]));
});

test('exists, metadata, layer path and status', async () => {
  const root = path.join(tmpDir(), 'lcow');
  const driver = await Driver.init(root, []);
  await driver.create('a', '');
  assert.equal(await driver.exists('a'), true);
  assert.equal(await driver.exists('b'), false);
  assert.deepEqual(await driver.getMetadata('b'), { dir: path.join(root, 'b') });
  assert.equal(driver.getLayerPath('a'), path.join(root, 'a'));
  const status = new Map(await driver.status());
  assert.equal(status.get('Data Root'), root);
  assert.equal(status.get('Layers'), '1');
  assert.ok(status.get('Backend'));
});

for (const reexec of [true, false]) {
  test(`apply-diff ${reexec ? 'in a child process' : 'in-process'}: layer.vhd equals the converter's -overlay -vhd 128 GiB image and its size is returned`, async () => {
    const dir = tmpDir();
    const root = path.join(dir, 'lcow');
    const driver = await Driver.init(root, [], { reexec });
    await driver.create('l', '');
    const size = await driver.applyDiff('l', '', createReadStream(SAMPLE));
    const vhd = path.join(root, 'l', 'layer.vhd');
    assert.equal(size, statSync(vhd).size);
    const expected = path.join(dir, 'expected.vhd');
    await convertTar(SAMPLE, expected, { overlay: true, vhd: true, maxDiskSize: 128 * 1024 ** 3 });
    const [a, b] = [readFileSync(vhd), readFileSync(expected)];
    assert.equal(a.length, b.length);
    assert.ok(a.subarray(0, -512).equals(b.subarray(0, -512)), 'ext4 bytes differ');
    assert.deepEqual(readdirSync(path.join(root, 'l')).sort(), ['layer.vhd', 'layerchain.json']);
  });

  test(`apply-diff ${reexec ? 'in a child process' : 'in-process'} refuses a hostile tar with the converter's error and leaves no layer.vhd`, async () => {
    const root = path.join(tmpDir(), 'lcow');
    const driver = await Driver.init(root, [], { reexec });
    await driver.create('l', '');
    const truncated = readFileSync(SAMPLE).subarray(0, 700);
    await assert.rejects(driver.applyDiff('l', '', Readable.from([truncated])), (err) => err.code === 'TAR_UNEXPECTED_EOF' && /unexpected EOF/.test(err.message));
    assert.deepEqual(readdirSync(path.join(root, 'l')), ['layerchain.json']);
  });
}

test('apply-diff needs the layer folder (Create first)', async () => {
  const root = path.join(tmpDir(), 'lcow');
  const driver = await Driver.init(root, []);
  await assert.rejects(driver.applyDiff('nolayer', '', createReadStream(SAMPLE)), { code: 'DRIVER_NO_LAYER' });
  assert.equal(existsSync(path.join(root, 'nolayer')), false);
});

test('kill -9 of apply-diff at any moment leaves either no layer.vhd or a complete one', async () => {
  const dir = tmpDir();
  const root = path.join(dir, 'lcow');
  const driver = await Driver.init(root, []);
  const expected = path.join(dir, 'expected.vhd');
  await convertTar(SAMPLE, expected, { overlay: true, vhd: true, maxDiskSize: 128 * 1024 ** 3 });
  const ext4 = readFileSync(expected).subarray(0, -512);
  const tar = readFileSync(SAMPLE);
  for (const delayMs of [0, 20, 60, 120, 250, 500]) {
    const id = `k${delayMs}`;
    await driver.create(id, '');
    const child = spawn(process.execPath, [LCOW, 'driver', '--root', root, 'apply-diff', id], { stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin.on('error', () => {});
    // Feed slowly so the kill can land mid-conversion.
    let at = 0;
    const feed = setInterval(() => {
      if (at >= tar.length) { child.stdin.end(); clearInterval(feed); return; }
      child.stdin.write(tar.subarray(at, at + 65536));
      at += 65536;
    }, 5);
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await exited;
    clearInterval(feed);
    // The converter child it re-executed outlives it until its stdin (our pipe) closes.
    await waitUntilNoProcessMentions(path.join(root, id, 'layer.vhd'));
    const vhd = path.join(root, id, 'layer.vhd');
    if (existsSync(vhd)) assert.ok(readFileSync(vhd).subarray(0, -512).equals(ext4), `${id}: a layer.vhd exists but is not complete`);
    // The next ApplyDiff of the same layer clears what the killed one left.
    await driver.applyDiff(id, '', createReadStream(SAMPLE));
    assert.deepEqual(readdirSync(path.join(root, id)).sort(), ['layer.vhd', 'layerchain.json']);
  }
});

test('remove renames to -removing and deletes; an unknown id succeeds; cleanup deletes -removing leftovers of a crash', async () => {
  const root = path.join(tmpDir(), 'lcow');
  const driver = await Driver.init(root, []);
  await driver.create('a', '');
  await driver.applyDiff('a', '', createReadStream(SAMPLE));
  await driver.remove('a');
  assert.equal(existsSync(path.join(root, 'a')), false);
  assert.equal(existsSync(path.join(root, 'a-removing')), false);
  await driver.remove('never-existed');
  // A Remove that crashed between its rename and its delete.
  mkdirSync(path.join(root, 'b-removing', 'deep'), { recursive: true });
  writeFileSync(path.join(root, 'b-removing', 'deep', 'layer.vhd'), 'x');
  await driver.create('c', '');
  await driver.cleanup();
  assert.deepEqual(readdirSync(root).sort(), ['c', 'cache', 'scratch', ...readdirSync(root).filter((n) => n === 'svm')].sort());
});

test('operations on one id are serialized, different ids run concurrently', async () => {
  const root = path.join(tmpDir(), 'lcow');
  const driver = await Driver.init(root, [], { reexec: false });
  await driver.create('same', '');
  await Promise.all([1, 2, 3].map(() => driver.applyDiff('same', '', createReadStream(SAMPLE))));
  await Promise.all(['x', 'y', 'z'].map(async (id) => {
    await driver.create(id, 'same');
    await driver.applyDiff(id, '', createReadStream(SAMPLE));
  }));
  for (const id of ['same', 'x', 'y', 'z']) assert.deepEqual(readdirSync(path.join(root, id)).sort(), ['layer.vhd', 'layerchain.json']);
});

test('lcow driver CLI: create, apply-diff, exists, metadata, layer-path, status, remove; one-line errors with exit statuses', () => {
  const root = path.join(tmpDir(), 'lcow');
  assert.equal(lcowDriver(root, ['init']).status, 0);
  assert.equal(lcowDriver(root, ['create', 'base']).status, 0);
  const applied = lcowDriver(root, ['apply-diff', 'base'], readFileSync(SAMPLE));
  assert.equal(applied.status, 0, applied.stderr.toString());
  assert.equal(Number(applied.stdout.toString()), statSync(path.join(root, 'base', 'layer.vhd')).size);
  assert.equal(lcowDriver(root, ['exists', 'base']).stdout.toString(), 'true\n');
  const missing = lcowDriver(root, ['exists', 'nope']);
  assert.equal(missing.status, 1);
  assert.equal(missing.stdout.toString(), 'false\n');
  assert.deepEqual(JSON.parse(lcowDriver(root, ['metadata', 'base']).stdout), { dir: path.join(root, 'base') });
  assert.equal(lcowDriver(root, ['layer-path', 'base']).stdout.toString(), `${path.join(root, 'base')}\n`);
  assert.ok(Array.isArray(JSON.parse(lcowDriver(root, ['status']).stdout)));
  for (const [args, status, pattern] of [
    [['create', '../x'], 1, /^lcow driver: DRIVER_INVALID_ID: .*single path element\n$/],
    [['frobnicate'], 2, /^lcow driver: USAGE: unknown operation "frobnicate"/],
    [['create'], 2, /^lcow driver: USAGE: create takes ID/],
    [['create', 'a', '--bogus'], 2, /^lcow driver: USAGE: /],
    [['apply-diff', 'base'], 1, /^lcow driver: TAR_UNEXPECTED_EOF: /],
  ]) {
    const r = lcowDriver(root, args, args[0] === 'apply-diff' ? readFileSync(SAMPLE).subarray(0, 700) : undefined);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.toString(), pattern);
    assert.equal(r.stderr.toString().split('\n').length, 2, 'one line');
  }
  const noRoot = spawnSync(process.execPath, [LCOW, 'driver', 'status'], { encoding: 'utf8' });
  assert.equal(noRoot.status, 2);
  assert.match(noRoot.stderr, /--root DIR is required/);
  assert.equal(lcowDriver(root, ['remove', 'base']).status, 0);
  assert.equal(existsSync(path.join(root, 'base')), false);
});
