// The kernel takes our empty sandbox ext4 read-write: a loop device over the raw file,
// an ext4 mount, files and directories written, unmounted, and e2fsck -fn still clean.
// Every loop device and mount is released, also when an assertion fails.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { writeEmptyExt4Raw } from '../dist/host/empty-ext4.js';
import { hasTool, tmpDir, toolPath } from './helpers/corpus.js';
import { FIXED, uuidBytes, toolOutput } from './empty-ext4/reference.js';

const GiB = 2 ** 30;

function run(tool, args) {
  const r = spawnSync(toolPath(tool), args, { encoding: 'utf8' });
  return { status: r.status, out: (r.stdout || '').trim(), err: (r.stderr || '').trim() };
}

function whyNot() {
  if (process.platform !== 'linux') return `loop mounts need Linux (this is ${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'loop devices and mounts need root';
  for (const tool of ['losetup', 'mount', 'umount', 'e2fsck']) if (!hasTool(tool)) return `${tool} is not installed`;
  return null;
}

test('a 20 GiB sandbox mounts read-write, takes files, and stays clean for e2fsck', async (t) => {
  const reason = whyNot();
  if (reason) return t.skip(reason);
  const dir = tmpDir('lcow-empty-ext4-mount-');
  const image = path.join(dir, 'sandbox.img');
  const mountPoint = path.join(dir, 'mnt');
  fs.mkdirSync(mountPoint);
  await writeEmptyExt4Raw(image, { sizeBytes: 20 * GiB, uuid: uuidBytes(FIXED.uuid), hashSeed: uuidBytes(FIXED.hashSeed), time: FIXED.time });

  const attach = run('losetup', ['--find', '--show', image]);
  if (attach.status !== 0) return t.skip(`losetup cannot attach here: ${attach.err}`);
  const device = attach.out;
  let mounted = false;
  t.after(() => {
    if (mounted && run('umount', [mountPoint]).status !== 0) run('umount', ['-l', mountPoint]);
    run('losetup', ['-d', device]);
  });

  const m = run('mount', ['-t', 'ext4', '-o', 'rw', device, mountPoint]);
  assert.equal(m.status, 0, `mount: ${m.err}`);
  mounted = true;
  assert.deepEqual(fs.readdirSync(mountPoint), ['lost+found']);
  const big = crypto.randomBytes(8 << 20);
  fs.mkdirSync(path.join(mountPoint, 'upper', 'etc'), { recursive: true });
  fs.mkdirSync(path.join(mountPoint, 'work'));
  fs.writeFileSync(path.join(mountPoint, 'upper', 'big.bin'), big);
  for (let i = 0; i < 500; i++) fs.writeFileSync(path.join(mountPoint, 'upper', 'etc', `file-${i}`), `content ${i}\n`);
  fs.symlinkSync('etc/file-1', path.join(mountPoint, 'upper', 'link'));
  const u = run('umount', [mountPoint]);
  assert.equal(u.status, 0, `umount: ${u.err}`);
  mounted = false;

  const fsck = toolOutput('e2fsck', ['-fn'], device);
  assert.equal(fsck.status, 0, fsck.text);
  // 11 inodes of the empty file system plus 3 directories, 501 files and a symlink.
  assert.match(fsck.text, /516\/1310720 files/);

  // Read back through a second mount, read-only, to see the data survived.
  const again = run('mount', ['-t', 'ext4', '-o', 'ro', device, mountPoint]);
  assert.equal(again.status, 0, `mount: ${again.err}`);
  mounted = true;
  assert.ok(fs.readFileSync(path.join(mountPoint, 'upper', 'big.bin')).equals(big));
  assert.equal(fs.readFileSync(path.join(mountPoint, 'upper', 'link'), 'utf8'), 'content 1\n');
  assert.equal(fs.readdirSync(path.join(mountPoint, 'upper', 'etc')).length, 500);
});
