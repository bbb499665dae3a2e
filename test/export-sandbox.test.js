// Diff of a read-write layer the Linux kernel wrote (spec/driver.md §7.13, sandbox case): a
// raw ext4 made by mke2fs is mounted read-write through a loop device, upper/ gets files, a
// whiteout (mknod c 0 0) and an opaque directory (setfattr trusted.overlay.opaque=y), then
// it is unmounted, converted with `qemu-img convert -O vhdx` and read back as a sandbox.vhdx.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { layerTar, sandboxView, layerChanges, changesSize } from '../dist/driver/export/layer-tar.js';
import { Ext4Reader } from '../dist/host/ext4/reader.js';
import { openVhdxSource } from '../dist/host/vhdx/reader.js';
import { ChangeKind } from '../dist/driver/types.js';
import { hasTool, tmpDir } from './helpers/corpus.js';
import { drainTo, gnuTarList, pythonTarMembers } from './helpers/export-tar.js';

const work = tmpDir('lcow-export-sandbox-');
const missing = [];
if (process.getuid?.() !== 0) missing.push('root (for loop mounts)');
for (const tool of ['mkfs.ext4', 'qemu-img', 'mknod', 'setfattr', 'python3', 'losetup']) if (!hasTool(tool)) missing.push(tool);
const skipReason = missing.length ? `needs ${missing.join(', ')}` : null;

/** Makes an ext4 image, mounts it, runs `fill(mountPoint)`, and always unmounts and detaches. */
function kernelWrittenImage(name, fill) {
  const raw = path.join(work, `${name}.img`);
  const mnt = path.join(work, `${name}.mnt`);
  fs.mkdirSync(mnt);
  execFileSync('truncate', ['-s', '64M', raw]);
  // The options of the reference's empty sandbox (spec/driver.md §8.4).
  execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=1', '-O', '^has_journal,sparse_super2,uninit_bg,^resize_inode', raw]);
  const loop = execFileSync('losetup', ['-f', '--show', raw], { encoding: 'utf8' }).trim();
  let mounted = false;
  try {
    execFileSync('mount', ['-t', 'ext4', loop, mnt]);
    mounted = true;
    fill(mnt);
  } finally {
    if (mounted) spawnSync('umount', [mnt]);
    spawnSync('losetup', ['-d', loop]);
  }
  const vhdx = path.join(work, `${name}.vhdx`);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', raw, vhdx]);
  return vhdx;
}

let usedSandbox;
let freshSandbox;

before(() => {
  if (skipReason) return;
  usedSandbox = kernelWrittenImage('used', (mnt) => {
    const upper = path.join(mnt, 'upper');
    fs.mkdirSync(path.join(upper, 'etc'), { recursive: true });
    fs.mkdirSync(path.join(mnt, 'work'));
    fs.writeFileSync(path.join(upper, 'etc', 'hostname'), 'container\n');
    fs.writeFileSync(path.join(upper, 'big'), Buffer.alloc(3 << 20, 0x5a));
    fs.linkSync(path.join(upper, 'big'), path.join(upper, 'big-link'));
    fs.symlinkSync('/etc/hostname', path.join(upper, 'link'));
    execFileSync('mknod', [path.join(upper, 'etc', 'gone'), 'c', '0', '0']);
    // Overlayfs (5.8+) links whiteouts to one shared inode: each name is still a whiteout.
    fs.linkSync(path.join(upper, 'etc', 'gone'), path.join(upper, 'gone-too'));
    fs.mkdirSync(path.join(upper, 'opq'));
    execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(upper, 'opq')]);
    fs.writeFileSync(path.join(upper, 'opq', 'new'), 'new');
    execFileSync('setfattr', ['-n', 'user.note', '-v', 'kept', path.join(upper, 'etc', 'hostname')]);
    execFileSync('setfattr', ['-n', 'trusted.overlay.origin', '-v', 'private', path.join(upper, 'etc')]);
    fs.writeFileSync(path.join(mnt, 'outside-upper'), 'not part of the layer');
  });
  freshSandbox = kernelWrittenImage('fresh', (mnt) => {
    fs.writeFileSync(path.join(mnt, 'scratch-file'), 'x');
  });
});

function openSandbox(vhdx) {
  return sandboxView(Ext4Reader.open(openVhdxSource(vhdx)));
}

test('a used sandbox exports its upper/ with OCI whiteouts', { skip: skipReason ?? false }, async (t) => {
  const view = openSandbox(usedSandbox);
  t.after(() => view.reader.close());
  assert.equal(view.root, '/upper');
  const out = path.join(work, 'used.tar');
  await drainTo(layerTar(view), out);
  assert.equal(gnuTarList(out).status, 0);
  const members = pythonTarMembers(out);
  const byName = new Map(members.map((m) => [m.name.toString('latin1'), m]));
  const names = [...byName.keys()].sort();
  assert.deepEqual(names, ['.wh.gone-too', 'big', 'big-link', 'etc', 'etc/.wh.gone', 'etc/hostname', 'link', 'opq', 'opq/.wh..wh..opq', 'opq/new'].sort());
  const whiteout = byName.get('etc/.wh.gone');
  assert.equal(whiteout.type, '0');
  assert.equal(whiteout.size, 0);
  assert.equal(whiteout.mode, 0o600);
  assert.equal(byName.get('.wh.gone-too').type, '0', 'a linked whiteout is a whiteout, not a hard link');
  assert.equal(byName.get('opq/.wh..wh..opq').type, '0');
  assert.equal(byName.get('opq').pax['SCHILY.xattr.trusted.overlay.opaque'], undefined, 'the marker replaces the xattr');
  assert.equal(byName.get('etc').pax['SCHILY.xattr.trusted.overlay.origin'], undefined, 'overlay-private xattrs are not layer content');
  assert.equal(byName.get('etc/hostname').pax['SCHILY.xattr.user.note'].toString(), 'kept');
  assert.equal(byName.get('etc/hostname').pax.atime, undefined, 'no atime, as Docker');
  const [bigFile, bigLink] = [byName.get('big'), byName.get('big-link')];
  assert.equal([bigFile.type, bigLink.type].sort().join(), '0,1', 'one name carries the data, the other links to it');
  assert.equal((bigFile.type === '0' ? bigFile : bigLink).size, 3 << 20);
  assert.equal(byName.get('link').linkname.toString(), '/etc/hostname');
  // Whole-second mtimes as Docker writes them: no PAX time records.
  for (const m of members) assert.equal(m.pax.mtime, undefined, m.name.toString());
});

test('a sandbox without upper/ exports its root, without the pristine lost+found', { skip: skipReason ?? false }, async (t) => {
  const view = openSandbox(freshSandbox);
  t.after(() => view.reader.close());
  assert.equal(view.root, '/');
  const out = path.join(work, 'fresh.tar');
  await drainTo(layerTar(view), out);
  assert.deepEqual(pythonTarMembers(out).map((m) => m.name.toString()), ['scratch-file']);
});

test('changes of a kernel-written sandbox: whiteout and opaque directory are deletions', { skip: skipReason ?? false }, (t) => {
  const view = openSandbox(usedSandbox);
  t.after(() => view.reader.close());
  const changes = layerChanges(view, []);
  const kinds = Object.fromEntries(changes.map((c) => [c.path, c.kind]));
  assert.equal(kinds['/etc/gone'], ChangeKind.Delete);
  assert.equal(kinds['/gone-too'], ChangeKind.Delete);
  assert.equal(kinds['/opq'], ChangeKind.Delete);
  assert.equal(kinds['/opq/new'], ChangeKind.Add);
  assert.equal(kinds['/etc/hostname'], ChangeKind.Add);
  // 3 MiB counted once for its two names, plus hostname (10), the symlink (13) and opq/new (3).
  assert.equal(changesSize(view, []), (3 << 20) + 10 + 13 + 3);
});
