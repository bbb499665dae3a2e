// The linux backend for real: loop devices, ext4 and overlayfs mounts made by
// UnionViews, checked through the kernel (the view's tree, whiteouts and opaque markers
// in upper/, EROFS on read-only views), through our own VHDX and ext4 readers (flush),
// qemu-img check (the sandbox stays a valid VHDX), and /proc/self/mountinfo and
// `losetup -a` (nothing under the test's directory is left mounted or attached after
// each test). Skipped, with the reason, where loop devices or mounts are not allowed.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { UnionViews } from '../dist/driver/views.js';
import { Ext4Reader } from '../dist/host/ext4/reader.js';
import { openVhdxSource } from '../dist/host/vhdx/reader.js';
import { REPO, hasTool, tmpDir, toolPath } from './helpers/corpus.js';
import { IMAGE_FILES, IMAGE_LINKS, attachedUnder, makeLayer, makeSandbox, whyNoMounts, writeImageTar } from './helpers/svm-fixtures.js';

const reason = whyNoMounts();
const base = reason ? null : tmpDir('lcow-views-');
const NOTHING = { mounts: [], loops: [] };

let imageTar;
async function image() {
  if (!imageTar) {
    imageTar = path.join(base, 'image.tar');
    await writeImageTar(imageTar);
  }
  return imageTar;
}

/** A fresh data root with the image layer L. */
async function dataRoot(name) {
  const root = path.join(base, name);
  fs.mkdirSync(root, { recursive: true });
  makeLayer(path.join(root, 'L'), await image());
  return root;
}

function disk(root, id) {
  const folder = path.join(root, id);
  const readOnly = fs.existsSync(path.join(folder, 'layer.vhd'));
  return { folder, hostPath: path.join(folder, readOnly ? 'layer.vhd' : 'sandbox.vhdx'), readOnly };
}

const chain = (root, ...ids) => ids.map((id) => disk(root, id));

/** Runs `body` with views on `root`; whatever happens, nothing of `root` stays mounted or attached. */
async function withViews(t, root, options, body) {
  const views = await UnionViews.open(root, new Map(Object.entries(options)));
  t.after(async () => {
    await views.cleanup().catch(() => undefined);
    if (attachedUnder(root).mounts.length) await UnionViews.open(root, new Map()).catch(() => undefined);
  });
  await body(views);
  assert.deepEqual(attachedUnder(root), NOTHING, 'mounted or attached after the test');
}

function readTree(dir) {
  const tree = {};
  const visit = (rel) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      if (name === 'lost+found') continue;
      const full = path.join(dir, name);
      if (entry.isSymbolicLink()) tree[name] = `-> ${fs.readlinkSync(full)}`;
      else if (entry.isDirectory()) {
        tree[`${name}/`] = true;
        visit(name);
      } else tree[name] = fs.readFileSync(full, 'utf8');
    }
  };
  visit('');
  return tree;
}

function imageTree() {
  const tree = {};
  for (const dir of ['bin', 'etc', 'root', 'tmp', 'usr', 'usr/bin', 'usr/share', 'usr/share/doc', 'var', 'var/log']) tree[`${dir}/`] = true;
  Object.assign(tree, IMAGE_FILES);
  for (const [name, target] of Object.entries(IMAGE_LINKS)) tree[name] = `-> ${target}`;
  return tree;
}

function getxattr(file, name) {
  const py = spawnSync('python3', ['-c', 'import os,sys\ntry: sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())\nexcept OSError: pass', file, name], { encoding: 'utf8' });
  return py.stdout;
}

function qemuCheck(file) {
  if (!hasTool('qemu-img')) return;
  const res = spawnSync(toolPath('qemu-img'), ['check', '-f', 'vhdx', file], { encoding: 'utf8' });
  assert.equal(res.status, 0, `qemu-img check ${file}: ${res.stdout}${res.stderr}`);
}

/** What the sandbox file holds, read by our VHDX and ext4 readers (not through the kernel). */
function fileInSandbox(sandbox, inner) {
  const reader = Ext4Reader.open(openVhdxSource(sandbox));
  try {
    const n = reader.lookup(inner);
    return n === undefined ? undefined : reader.readFile(reader.inode(n)).toString('utf8');
  } finally {
    reader.close();
  }
}

test('docker create/run: the container view is the image plus the -init layer and its own changes', { skip: reason ?? false }, async (t) => {
  const root = await dataRoot('create-run');
  await makeSandbox(path.join(root, 'I'));
  await makeSandbox(path.join(root, 'C'));
  await withViews(t, root, {}, async (views) => {
    // CreateReadWrite(C-init), Get(C-init): dockerd writes the init files, Put(C-init).
    const init = await views.get('I', chain(root, 'I', 'L'));
    assert.equal(init, path.join(fs.realpathSync(root), 'svm', 'I', 'tmp', 'I-mount'));
    assert.deepEqual(readTree(init), imageTree());
    fs.writeFileSync(path.join(init, 'etc/hostname'), 'init-host\n');
    fs.writeFileSync(path.join(init, 'etc/hosts'), '127.0.0.1 localhost\n');
    fs.writeFileSync(path.join(init, '.dockerenv'), '');
    fs.rmSync(path.join(init, 'var/log/old.log'));
    await views.put('I');
    assert.deepEqual(attachedUnder(root), NOTHING);

    // CreateReadWrite(C, parent C-init), Get(C): the container runs and changes things.
    const view = await views.get('C', chain(root, 'C', 'I', 'L'));
    const expected = { ...imageTree(), 'etc/hostname': 'init-host\n', 'etc/hosts': '127.0.0.1 localhost\n', '.dockerenv': '' };
    delete expected['var/log/old.log'];
    assert.deepEqual(readTree(view), expected, 'image + init changes, the init whiteout included');
    fs.writeFileSync(path.join(view, 'root/new.txt'), 'written in the container\n');
    fs.rmSync(path.join(view, 'etc/motd'));
    fs.writeFileSync(path.join(view, 'bin/busybox'), 'busybox v2\n');
    fs.rmSync(path.join(view, 'usr/share/doc'), { recursive: true });
    fs.mkdirSync(path.join(view, 'usr/share/doc'));
    fs.writeFileSync(path.join(view, 'usr/share/doc/c.txt'), 'doc c\n');

    // The changes land in C's upper/: an overlay whiteout for the deleted file, an opaque directory.
    const upper = path.join(fs.realpathSync(root), 'svm', 'C', 'tmp', 'd1', 'upper');
    const whiteout = fs.lstatSync(path.join(upper, 'etc/motd'));
    assert.ok(whiteout.isCharacterDevice() && whiteout.rdev === 0, 'etc/motd is a 0:0 character device in upper/');
    assert.equal(getxattr(path.join(upper, 'usr/share/doc'), 'trusted.overlay.opaque'), 'y');
    assert.equal(fs.existsSync(path.join(upper, 'usr/share/doc/a.txt')), false);

    // Flush: Diff reads sandbox.vhdx while the view is mounted.
    await views.flush('C');
    assert.equal(fileInSandbox(disk(root, 'C').hostPath, '/upper/root/new.txt'), 'written in the container\n');
    assert.equal(fileInSandbox(disk(root, 'C').hostPath, '/upper/bin/busybox'), 'busybox v2\n');
    await views.put('C');
    assert.deepEqual(attachedUnder(root), NOTHING);
    qemuCheck(disk(root, 'C').hostPath);
    qemuCheck(disk(root, 'I').hostPath);

    // docker start: the changes are still there.
    const again = await views.get('C', chain(root, 'C', 'I', 'L'));
    const changed = { ...expected, 'root/new.txt': 'written in the container\n', 'bin/busybox': 'busybox v2\n', 'usr/share/doc/c.txt': 'doc c\n' };
    delete changed['etc/motd'];
    delete changed['usr/share/doc/a.txt'];
    delete changed['usr/share/doc/b.txt'];
    assert.deepEqual(readTree(again), changed);
    await views.put('C');
  });
});

test('image layers: a read-only view of the layer alone or over its parents (docker save)', { skip: reason ?? false }, async (t) => {
  const root = await dataRoot('read-only');
  // L2 on L: adds a file and deletes etc/motd (an OCI whiteout, converted with --overlay).
  const tar = path.join(root, 'l2.tar');
  const { pack } = await import('tar-stream');
  const p = pack();
  const out = fs.createWriteStream(tar);
  p.pipe(out);
  p.entry({ name: 'etc/', type: 'directory', mode: 0o755 });
  p.entry({ name: 'etc/.wh.motd', mode: 0o644 }, '');
  p.entry({ name: 'etc/issue', mode: 0o644 }, 'layer two\n');
  p.finalize();
  await new Promise((resolve) => out.on('finish', resolve));
  makeLayer(path.join(root, 'L2'), tar);
  await withViews(t, root, {}, async (views) => {
    const lower = await views.get('L', chain(root, 'L'));
    assert.deepEqual(readTree(lower), imageTree());
    assert.throws(() => fs.writeFileSync(path.join(lower, 'x'), ''), { code: 'EROFS' });
    const top = await views.get('L2', chain(root, 'L2', 'L'));
    const expected = { ...imageTree(), 'etc/issue': 'layer two\n' };
    delete expected['etc/motd'];
    assert.deepEqual(readTree(top), expected);
    assert.throws(() => fs.writeFileSync(path.join(top, 'etc/issue'), 'x'), { code: 'EROFS' });
    await views.put('L2');
    await views.put('L');
  });
});

test('FROM scratch: a sandbox without parents is its own root', { skip: reason ?? false }, async (t) => {
  const root = path.join(base, 'scratch-only');
  await makeSandbox(path.join(root, 'S'));
  await withViews(t, root, {}, async (views) => {
    const view = await views.get('S', chain(root, 'S'));
    assert.ok(fs.existsSync(path.join(view, 'lost+found')), 'the ext4 root itself');
    fs.writeFileSync(path.join(view, 'hello'), 'world\n');
    await views.put('S');
    assert.equal(fileInSandbox(disk(root, 'S').hostPath, '/hello'), 'world\n', 'written at the root, not in upper/');
    qemuCheck(disk(root, 'S').hostPath);
  });
});

for (const globalMode of [false, true]) {
  test(`many concurrent Gets and Puts of the same and of different ids (${globalMode ? 'global' : 'safe'} mode)`, { skip: reason ?? false }, async (t) => {
    const root = await dataRoot(`concurrent-${globalMode}`);
    await makeSandbox(path.join(root, 'C1'));
    await makeSandbox(path.join(root, 'C2'));
    await withViews(t, root, { 'lcow.globalmode': String(globalMode) }, async (views) => {
      const chains = { C1: chain(root, 'C1', 'L'), C2: chain(root, 'C2', 'L'), L: chain(root, 'L') };
      const ids = ['C1', 'C2', 'L', 'C1', 'L', 'C2', 'C1', 'L', 'C2', 'C1', 'C2', 'L'];
      const paths = await Promise.all(ids.map((id) => views.get(id, chains[id])));
      for (const [i, id] of ids.entries()) assert.equal(paths[i], paths[ids.indexOf(id)], `${id}: one view shared by its Gets`);
      assert.equal(new Set(paths).size, 3);
      fs.writeFileSync(path.join(paths[0], 'c1'), 'c1');
      assert.equal(fs.existsSync(path.join(paths[1], 'c1')), false, 'views of different ids are separate');
      const loops = attachedUnder(root).loops.length;
      assert.equal(loops, globalMode ? 3 : 5, 'the base layer: once in the global VM, once per VM in safe mode');
      await Promise.all(ids.slice(0, 6).map((id) => views.put(id, chains[id])));
      for (const p of new Set(paths)) assert.ok(fs.existsSync(path.join(p, 'etc/passwd')), 'still mounted: one Get of each id is left');
      // Gets and Puts interleaved while views are up.
      await Promise.all(ids.flatMap((id) => [views.get(id, chains[id]).then(() => views.put(id, chains[id]))]));
      await Promise.all(ids.slice(6).map((id) => views.put(id, chains[id])));
      assert.deepEqual(attachedUnder(root), NOTHING);
      const again = await views.get('C1', chains.C1);
      assert.equal(fs.readFileSync(path.join(again, 'c1'), 'utf8'), 'c1');
      await views.put('C1');
    });
  });
}

test('Remove and Cleanup release everything they hold', { skip: reason ?? false }, async (t) => {
  const root = await dataRoot('remove-cleanup');
  await makeSandbox(path.join(root, 'C'));
  await withViews(t, root, {}, async (views) => {
    await views.get('C', chain(root, 'C', 'L'));
    await views.get('C', chain(root, 'C', 'L'));
    await views.get('L', chain(root, 'L'));
    await views.release('C');
    assert.equal(attachedUnder(root).loops.length, 1, 'only L\'s own view is left');
    await views.cleanup();
    assert.deepEqual(attachedUnder(root), NOTHING);
  });
});

test('a read-write sandbox in use by one VM cannot be attached to another', { skip: reason ?? false }, async (t) => {
  const root = await dataRoot('exclusive');
  await makeSandbox(path.join(root, 'I'));
  await makeSandbox(path.join(root, 'C'));
  await withViews(t, root, {}, async (views) => {
    await views.get('I', chain(root, 'I', 'L'));
    await assert.rejects(views.get('C', chain(root, 'C', 'I', 'L')), { code: 'SVM_DISK_IN_USE', message: /is attached read-write to service VM I/ });
    assert.equal(attachedUnder(root).loops.length, 2, 'the failed Get left nothing of its own');
    await views.put('I');
  });
});

test('a VHDX whose blocks are not in order (written by qemu) is refused for a loop device', { skip: reason ?? (hasTool('qemu-io') ? false : 'qemu-io not installed') }, async (t) => {
  const root = await dataRoot('not-linear');
  const folder = path.join(root, 'Q');
  fs.mkdirSync(folder);
  const file = path.join(folder, 'sandbox.vhdx');
  assert.equal(spawnSync(toolPath('qemu-img'), ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', file, '64M']).status, 0);
  // Block 5 written before block 0: qemu allocates in write order, so block 0 is not at its slot.
  assert.equal(spawnSync(toolPath('qemu-io'), ['-f', 'vhdx', '-c', 'write -P 1 5M 4k', '-c', 'write -P 2 0 4k', file]).status, 0);
  await withViews(t, root, {}, async (views) => {
    await assert.rejects(views.get('Q', chain(root, 'Q')), {
      code: 'SVM_DISK_UNMAPPABLE',
      message: new RegExp(`cannot attach ${file}: its payload blocks are not laid out in order`),
    });
  });
});

/** Starts a child process that opens views on each root, gets `ids`, writes a file and waits to be killed (or, with `exit`, ends cleanly). */
async function childHoldingViews(specs, { exit = false } = {}) {
  const script = `
    import fs from 'node:fs';
    import { UnionViews } from ${JSON.stringify(path.join(REPO, 'dist/driver/views.js'))};
    const opened = new Map(); // one UnionViews per root: opening one releases what the root holds
    for (const { root, id, disks, file } of ${JSON.stringify(specs)}) {
      if (!opened.has(root)) opened.set(root, await UnionViews.open(root, new Map()));
      const view = await opened.get(root).get(id, disks);
      if (file) fs.writeFileSync(view + '/' + file, 'before the kill\\n');
    }
    process.stdout.write('ready\\n');
    ${exit ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'}
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  let ready = false;
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      ready ||= String(chunk).includes('ready');
      if (ready && !exit) resolve();
    });
    child.on('close', (code) => (exit && ready && code === 0 ? resolve() : reject(new Error(`child exited (${code}) before holding its views: ${stderr}`))));
  });
  return child;
}

async function kill9(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

test('kill -9 of a process holding views: InitDriver (UnionViews.open) releases them', { skip: reason ?? false }, async (t) => {
  const root = await dataRoot('killed');
  await makeSandbox(path.join(root, 'C'));
  const child = await childHoldingViews([
    { root, id: 'C', disks: chain(root, 'C', 'L'), file: 'root/kept.txt' },
    { root, id: 'L', disks: chain(root, 'L') },
  ]);
  await kill9(child);
  t.after(() => UnionViews.open(root, new Map()).catch(() => undefined));
  const left = attachedUnder(root);
  assert.equal(left.loops.length, 3, `the killed process left its loop devices: ${JSON.stringify(left)}`);
  assert.equal(left.mounts.length, 5);
  await withViews(t, root, {}, async (views) => {
    assert.deepEqual(attachedUnder(root), NOTHING, 'released by open');
    assert.equal(fs.existsSync(path.join(root, 'svm')), false, 'and the VM directories removed');
    qemuCheck(disk(root, 'C').hostPath);
    const view = await views.get('C', chain(root, 'C', 'L'));
    assert.equal(fs.readFileSync(path.join(view, 'root/kept.txt'), 'utf8'), 'before the kill\n', 'what the killed process wrote was kept');
    await views.put('C');
  });
});

test('two data roots: the stale release of one leaves the other alone', { skip: reason ?? false }, async (t) => {
  // "two" begins with the other's name: only whole path elements may match.
  const one = await dataRoot('root');
  const two = await dataRoot('root2');
  const child = await childHoldingViews([
    { root: one, id: 'L', disks: chain(one, 'L') },
    { root: two, id: 'L', disks: chain(two, 'L') },
  ]);
  await kill9(child);
  t.after(() => UnionViews.open(one, new Map()).catch(() => undefined));
  t.after(() => UnionViews.open(two, new Map()).catch(() => undefined));
  const before = attachedUnder(two);
  assert.equal(before.loops.length, 1);
  await withViews(t, one, {}, async () => {
    assert.deepEqual(attachedUnder(one), NOTHING);
    assert.deepEqual(attachedUnder(two), before, 'the other root is untouched');
  });
  await UnionViews.open(two, new Map());
  assert.deepEqual(attachedUnder(two), NOTHING);
});

test('a process that ends cleanly hands its views over; a live owner keeps the root', { skip: reason ?? false }, async (t) => {
  const root = await dataRoot('handed-over');
  await makeSandbox(path.join(root, 'C'));
  t.after(() => UnionViews.open(root, new Map()).then((views) => views.cleanup()).catch(() => undefined));
  await childHoldingViews([{ root, id: 'C', disks: chain(root, 'C', 'L'), file: 'root/one.txt' }], { exit: true });
  const held = attachedUnder(root);
  assert.equal(held.loops.length, 2, 'the views stay up after a clean exit');
  await withViews(t, root, {}, async (views) => {
    assert.deepEqual(attachedUnder(root), held, 'taken over, not released');
    assert.deepEqual([...views.openViews()], [['C', 1]]);
    const view = await views.get('C', chain(root, 'C', 'L'));
    assert.equal(fs.readFileSync(path.join(view, 'root/one.txt'), 'utf8'), 'before the kill\n');
    await views.put('C');
    assert.equal(attachedUnder(root).loops.length, 2, 'one Get is left: the child\'s');
    await views.put('C');
    assert.deepEqual(attachedUnder(root), NOTHING);
  });
  const owner = await childHoldingViews([{ root, id: 'L', disks: chain(root, 'L') }]);
  t.after(() => kill9(owner));
  await assert.rejects(UnionViews.open(root, new Map()), { code: 'SVM_ROOT_IN_USE', message: new RegExp(`is in use by process ${owner.pid}`) });
  await kill9(owner);
  await UnionViews.open(root, new Map());
  assert.deepEqual(attachedUnder(root), NOTHING, 'the killed owner\'s views are released');
});

test('a taken-over state that no longer matches the mounts is released instead', { skip: reason ?? false }, async (t) => {
  const root = await dataRoot('mismatch');
  t.after(() => UnionViews.open(root, new Map()).catch(() => undefined));
  await childHoldingViews([{ root, id: 'L', disks: chain(root, 'L') }], { exit: true });
  // Someone unmounted the union view behind the driver's back.
  assert.equal(spawnSync(toolPath('umount'), [path.join(fs.realpathSync(root), 'svm', 'L', 'tmp', 'L-mount')]).status, 0);
  await withViews(t, root, {}, async (views) => {
    assert.deepEqual(attachedUnder(root), NOTHING);
    assert.deepEqual([...views.openViews()], []);
  });
});

test('after a crash, a view some other process still uses is detached lazily and InitDriver goes on', { skip: reason ?? false }, async (t) => {
  const root = await dataRoot('busy');
  t.after(() => UnionViews.open(root, new Map()).catch(() => undefined));
  const child = await childHoldingViews([{ root, id: 'L', disks: chain(root, 'L') }]);
  await kill9(child);
  const view = path.join(fs.realpathSync(root), 'svm', 'L', 'tmp', 'L-mount');
  // A process living in the view, as a container's processes live in its root file system.
  const user = spawn('sleep', ['60'], { cwd: view, stdio: 'ignore' });
  t.after(() => kill9(user));
  await UnionViews.open(root, new Map());
  assert.deepEqual(attachedUnder(root).mounts, [], 'unmounted (lazily) for everyone else');
  assert.equal(attachedUnder(root).loops.length, 1, 'the loop device lives until that process lets go');
  await kill9(user);
  const deadline = Date.now() + 5000;
  while (attachedUnder(root).loops.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(attachedUnder(root), NOTHING, 'and then detaches itself (autoclear)');
});
