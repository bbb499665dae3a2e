// The dockerd sequences of spec/driver.md §10.4 on the linux backend, replayed through
// the library (Driver) and through the CLI (`lcow driver`, one process per operation, so
// views are handed from process to process): import an image layer, create the -init
// layer and the container on it, Get, change files in the view, Diff (docker commit,
// while the view is up), Changes, DiffSize, Put, Get and Put of the image layer (docker
// save), Remove of all. Nothing under the data root is mounted or attached afterwards.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import test from 'node:test';
import { extract } from 'tar-stream';
import { Driver } from '../dist/driver/driver.js';
import { REPO, tmpDir } from './helpers/corpus.js';
import { IMAGE_FILES, attachedUnder, whyNoMounts, writeImageTar } from './helpers/svm-fixtures.js';

const reason = whyNoMounts();
const base = reason ? null : tmpDir('lcow-views-driver-');
const NOTHING = { mounts: [], loops: [] };
const LCOW = path.join(REPO, 'dist', 'host', 'cli', 'lcow.js');

/** What dockerd writes into the -init layer's view. */
function writeInitFiles(view) {
  fs.writeFileSync(path.join(view, 'etc/hostname'), 'init-host\n');
  fs.writeFileSync(path.join(view, 'etc/hosts'), '127.0.0.1 localhost\n');
  fs.writeFileSync(path.join(view, '.dockerenv'), '');
}

/** What the container does: add, delete, replace a file, and replace a directory (opaque). */
function changeContainer(view) {
  fs.writeFileSync(path.join(view, 'root/new.txt'), 'written in the container\n');
  fs.rmSync(path.join(view, 'etc/motd'));
  fs.writeFileSync(path.join(view, 'bin/busybox'), 'busybox v2\n');
  fs.rmSync(path.join(view, 'usr/share/doc'), { recursive: true });
  fs.mkdirSync(path.join(view, 'usr/share/doc'));
  fs.writeFileSync(path.join(view, 'usr/share/doc/c.txt'), 'doc c\n');
}

function checkContainerView(view) {
  assert.equal(fs.readFileSync(path.join(view, 'etc/hostname'), 'utf8'), 'init-host\n', 'the -init layer is below');
  assert.equal(fs.readFileSync(path.join(view, 'etc/passwd'), 'utf8'), IMAGE_FILES['etc/passwd'], 'the image is below');
  assert.equal(fs.readlinkSync(path.join(view, 'bin/sh')), 'busybox');
  assert.ok(fs.existsSync(path.join(view, '.dockerenv')));
}

/** name -> body (files) or type, of a tar stream. */
async function tarEntries(stream) {
  const entries = new Map();
  const ex = extract();
  ex.on('entry', (header, body, next) => {
    const chunks = [];
    body.on('data', (c) => chunks.push(c));
    body.on('end', () => {
      entries.set(header.name.replace(/^\.?\//, ''), header.type === 'file' ? Buffer.concat(chunks).toString('utf8') : header.type);
      next();
    });
  });
  const done = new Promise((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  stream.pipe(ex);
  await done;
  return entries;
}

/** The container layer's own changes, as docker commit's tar carries them. */
function checkCommitTar(entries) {
  assert.equal(entries.get('root/new.txt'), 'written in the container\n');
  assert.equal(entries.get('bin/busybox'), 'busybox v2\n');
  assert.equal(entries.get('etc/.wh.motd'), '', 'a deleted file is an empty .wh. file');
  assert.equal(entries.get('usr/share/doc/.wh..wh..opq'), '', 'a replaced directory is opaque');
  assert.equal(entries.get('usr/share/doc/c.txt'), 'doc c\n');
  for (const name of entries.keys()) {
    assert.ok(!name.startsWith('upper/') && !name.startsWith('work'), `${name}: only upper/'s content, at the root`);
    assert.ok(!['etc/hostname', 'etc/hosts', 'etc/passwd', 'usr/share/doc/a.txt'].includes(name), `${name} belongs to another layer`);
  }
}

function checkChanges(changes) {
  const byPath = new Map(changes.map((c) => [c.path, c.kind]));
  assert.equal(byPath.get('/root/new.txt'), 'add');
  assert.equal(byPath.get('/etc/motd'), 'delete');
  assert.equal(byPath.get('/bin/busybox'), 'modify');
  assert.equal(byPath.get('/usr/share/doc/c.txt'), 'add');
  assert.ok(!byPath.has('/etc/hostname'), 'the -init layer\'s changes are not the container\'s');
}

test('dockerd sequences through the library: create, run, commit, diff, ps -s, save, rm, rmi', { skip: reason ?? false }, async (t) => {
  const root = path.join(base, 'library');
  const imageTar = path.join(base, 'image.tar');
  await writeImageTar(imageTar);
  const driver = await Driver.init(root, []);
  t.after(() => driver.cleanup().catch(() => undefined));
  const kind = { 0: 'modify', 1: 'add', 2: 'delete' };

  // docker import
  await driver.create('L', '');
  assert.ok((await driver.applyDiff('L', '', fs.createReadStream(imageTar))) > 0);
  // docker create
  await driver.createReadWrite('C-init', 'L');
  writeInitFiles(await driver.get('C-init'));
  await driver.put('C-init');
  await driver.createReadWrite('C', 'C-init');
  await driver.put('C', await driver.get('C'));
  assert.deepEqual(attachedUnder(root), NOTHING);
  // docker run: Get while running
  const view = await driver.get('C');
  checkContainerView(view);
  changeContainer(view);
  // docker commit: Diff while the view is up; docker diff; docker ps -s
  checkCommitTar(await tarEntries(await driver.diff('C', 'C-init')));
  checkChanges((await driver.changes('C', 'C-init')).map((c) => ({ path: c.path, kind: kind[c.kind] })));
  assert.ok((await driver.diffSize('C', 'C-init')) >= 'written in the container\n'.length + 'busybox v2\n'.length + 'doc c\n'.length);
  await driver.put('C');
  assert.deepEqual(attachedUnder(root), NOTHING);
  // docker save (ReproducesExactDiffs false): Get and Put of the image layer
  const image = await driver.get('L');
  assert.equal(fs.readFileSync(path.join(image, 'etc/motd'), 'utf8'), IMAGE_FILES['etc/motd']);
  assert.throws(() => fs.writeFileSync(path.join(image, 'x'), ''), { code: 'EROFS' });
  await driver.put('L');
  // docker rm, docker rmi (and a Remove with a view up releases it)
  await driver.get('C');
  for (const id of ['C', 'C-init', 'L']) await driver.remove(id);
  assert.deepEqual(attachedUnder(root), NOTHING);
  assert.deepEqual(fs.readdirSync(root).sort(), ['cache', 'scratch']);
});

function lcow(root, args, input) {
  const res = spawnSync(process.execPath, [LCOW, 'driver', '--root', root, ...args], { encoding: 'utf8', input, maxBuffer: 64 << 20 });
  assert.equal(res.status, 0, `lcow driver ${args.join(' ')}: exit ${res.status}: ${res.stderr}`);
  return res.stdout;
}

test('dockerd sequences through the CLI, one process per operation', { skip: reason ?? false }, async (t) => {
  const root = path.join(base, 'cli');
  const imageTar = path.join(base, 'image-cli.tar');
  await writeImageTar(imageTar);
  t.after(() => spawnSync(process.execPath, [LCOW, 'driver', '--root', root, 'cleanup']));
  lcow(root, ['create', 'L']);
  lcow(root, ['apply-diff', 'L'], fs.readFileSync(imageTar));
  lcow(root, ['create-read-write', 'C-init', '--parent', 'L']);
  writeInitFiles(lcow(root, ['get', 'C-init']).trim());
  lcow(root, ['put', 'C-init']);
  lcow(root, ['create-read-write', 'C', '--parent', 'C-init']);
  const view = lcow(root, ['get', 'C']).trim();
  // The view outlives the process that made it, and other operations run beside it.
  const image = lcow(root, ['get', 'L']).trim();
  checkContainerView(view);
  changeContainer(view);
  assert.equal(fs.readFileSync(path.join(image, 'etc/motd'), 'utf8'), IMAGE_FILES['etc/motd']);
  const tar = spawnSync(process.execPath, [LCOW, 'driver', '--root', root, 'diff', 'C', '--parent', 'C-init'], { maxBuffer: 64 << 20 });
  assert.equal(tar.status, 0, String(tar.stderr));
  checkCommitTar(await tarEntries(Readable.from([tar.stdout])));
  checkChanges(JSON.parse(lcow(root, ['changes', 'C', '--parent', 'C-init'])));
  assert.ok(Number(lcow(root, ['diff-size', 'C', '--parent', 'C-init'])) > 0);
  assert.ok(fs.existsSync(path.join(view, 'root/new.txt')), 'still mounted after those processes');
  lcow(root, ['put', 'L']);
  lcow(root, ['put', 'C']);
  assert.deepEqual(attachedUnder(root), NOTHING);
  for (const id of ['C', 'C-init', 'L']) lcow(root, ['remove', id]);
  assert.deepEqual(attachedUnder(root), NOTHING);
});
