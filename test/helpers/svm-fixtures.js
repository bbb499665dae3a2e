// Layers for the service-VM tests: a busybox-like image layer (layer.vhd made by our
// converter), empty sandboxes (an ext4 made by mke2fs, wrapped by our VHDX writer), and
// snapshots of what is mounted and attached under a directory, to check that a test
// leaves nothing behind.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pack } from 'tar-stream';
import { REPO, hasTool, toolPath } from './corpus.js';

const LCOW = path.join(REPO, 'dist', 'host', 'cli', 'lcow.js');

/** Why real loop devices, ext4 and overlay mounts cannot be used here; null when they can. */
export function whyNoMounts() {
  if (process.platform !== 'linux') return `loop devices and overlayfs need Linux (this is ${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'loop devices and mounts need root';
  if (!fs.existsSync('/dev/loop-control')) return 'no /dev/loop-control (loop module not loaded)';
  const filesystems = fs.readFileSync('/proc/filesystems', 'utf8');
  if (!/\toverlay$/m.test(filesystems)) return 'the kernel has no overlayfs';
  if (!/\text4$/m.test(filesystems)) return 'the kernel has no ext4';
  if (!hasTool('mke2fs')) return 'mke2fs not installed (e2fsprogs)';
  return null;
}

/** The image: a small busybox-like tree, with things the tests delete and replace. */
export const IMAGE_FILES = {
  'bin/busybox': 'busybox v1 binary\n',
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
  'etc/hostname': 'image\n',
  'etc/motd': 'welcome\n',
  'usr/share/doc/a.txt': 'doc a\n',
  'usr/share/doc/b.txt': 'doc b\n',
  'var/log/old.log': 'old\n',
};
export const IMAGE_DIRS = ['bin', 'etc', 'root', 'tmp', 'usr', 'usr/bin', 'usr/share', 'usr/share/doc', 'var', 'var/log'];
export const IMAGE_LINKS = { 'bin/sh': 'busybox', 'usr/bin/env': '../../bin/busybox' };

/** Writes the image tar to `file`. */
export async function writeImageTar(file) {
  const tar = pack();
  const out = fs.createWriteStream(file);
  const done = new Promise((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
  });
  tar.pipe(out);
  const mtime = new Date('2024-01-02T03:04:05Z');
  for (const dir of IMAGE_DIRS) tar.entry({ name: `${dir}/`, type: 'directory', mode: 0o755, mtime });
  for (const [name, body] of Object.entries(IMAGE_FILES)) tar.entry({ name, mode: name.startsWith('bin/') ? 0o755 : 0o644, mtime }, body);
  for (const [name, linkname] of Object.entries(IMAGE_LINKS)) tar.entry({ name, type: 'symlink', linkname, mode: 0o777, mtime });
  tar.finalize();
  await done;
}

/** <folder>/layer.vhd from the image tar, as ApplyDiff writes it (our converter, --overlay --vhd). */
export function makeLayer(folder, tarFile) {
  fs.mkdirSync(folder, { recursive: true });
  const res = spawnSync(process.execPath, [LCOW, 'convert', tarFile, '-o', path.join(folder, 'layer.vhd'), '--vhd', '--overlay', '--no-sync'], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`lcow convert failed: ${res.stderr}`);
  return path.join(folder, 'layer.vhd');
}

const templates = new Map();

/** <folder>/sandbox.vhdx: an empty ext4 (mke2fs) of `sizeBytes` in a dynamic VHDX written by our writer. */
export async function makeSandbox(folder, sizeBytes = 128 * 2 ** 20) {
  fs.mkdirSync(folder, { recursive: true });
  const target = path.join(folder, 'sandbox.vhdx');
  if (!templates.has(sizeBytes)) templates.set(sizeBytes, writeSandbox(fs.mkdtempSync(path.join(folder, '..', '.sandbox-')), sizeBytes));
  // Copies of one file made once (mke2fs and the zero scan are the slow part), holes kept.
  const cp = spawnSync('cp', ['--sparse=always', await templates.get(sizeBytes), target], { encoding: 'utf8' });
  if (cp.status !== 0) throw new Error(`cp failed: ${cp.stderr}`);
  return target;
}

async function writeSandbox(folder, sizeBytes) {
  const { createVhdx } = await import('../../dist/host/vhdx/writer.js');
  const raw = path.join(folder, '.sandbox.raw');
  fs.closeSync(fs.openSync(raw, 'w'));
  fs.truncateSync(raw, sizeBytes);
  const mk = spawnSync(toolPath('mke2fs'), ['-q', '-F', '-t', 'ext4', '-E', 'lazy_itable_init=1,nodiscard', raw], { encoding: 'utf8' });
  if (mk.status !== 0) throw new Error(`mke2fs failed: ${mk.stderr}`);
  const target = path.join(folder, 'sandbox.vhdx');
  await createVhdx(target, { virtualSize: sizeBytes, sync: false }, nonZeroChunks(raw, sizeBytes));
  fs.rmSync(raw);
  return target;
}

function* nonZeroChunks(file, size) {
  const chunk = 1 << 20;
  const fd = fs.openSync(file, 'r');
  try {
    for (let offset = 0; offset < size; offset += chunk) {
      const data = Buffer.alloc(Math.min(chunk, size - offset));
      fs.readSync(fd, data, 0, data.length, offset);
      if (data.some((byte) => byte !== 0)) yield { offset, data };
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** What is mounted under `base` (mountinfo) and which loop devices map files under it (`losetup -a`). */
export function attachedUnder(base) {
  const real = fs.realpathSync(base);
  const within = (p) => p === real || p.startsWith(`${real}/`);
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line && within(line.split(' ')[4].replace(/\\040/g, ' ')))
    .map((line) => line.split(' ').slice(4).join(' '));
  const losetup = spawnSync(toolPath('losetup'), ['-a'], { encoding: 'utf8' });
  const loops = (losetup.stdout || '').split('\n').filter((line) => line.includes(`(${real}/`));
  return { mounts, loops };
}
