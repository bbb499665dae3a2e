// Reference images from the real mke2fs, and a comparison over the allocated ranges of
// two sparse files (SEEK_DATA/SEEK_HOLE), so a 1 TiB image is compared without reading
// 1 TiB. mke2fs reads its defaults from mke2fs.conf beside this file (Debian 12's
// /etc/mke2fs.conf, e2fsprogs 1.47.0-2), so the result does not depend on this machine's.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataRanges } from '../../dist/host/sparse-copy.js';
import { toolPath, tmpDir } from '../helpers/corpus.js';

export const MKE2FS_CONF = fileURLToPath(new URL('./mke2fs.conf', import.meta.url));

export const FIXED = {
  uuid: '01234567-89ab-cdef-0123-456789abcdef',
  hashSeed: '11111111-2222-3333-4444-555555555555',
  time: 1700000000,
};

export function uuidBytes(text) {
  return Buffer.from(text.replace(/-/g, ''), 'hex');
}

/** Why the reference cannot be made here, or null: mke2fs 1.47.x is what we match. */
export function whyNoMke2fs() {
  const mke2fs = toolPath('mke2fs');
  if (!mke2fs) return 'mke2fs is not installed (Debian e2fsprogs)';
  const v = spawnSync(mke2fs, ['-V'], { encoding: 'utf8' });
  const version = /mke2fs (\d+\.\d+)/.exec(v.stderr + v.stdout);
  if (!version || version[1] !== '1.47') return `mke2fs ${version ? version[1] : '?'} is not 1.47, the version the engine reproduces`;
  return null;
}

/**
 * A scratch folder for reference images. On tmpfs mke2fs zeroes inode tables by punching
 * holes, so even 5 TiB references cost no memory; on a disk file system it would
 * allocate the zeroed tables (16 GiB for 1 TiB), so large references want tmpfs.
 */
const TMPFS_MAGIC = 0x01021994;

function isTmpfs(dir) {
  try {
    return fs.statfsSync(dir).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

export function scratchDir() {
  const shm = '/dev/shm';
  if (isTmpfs(shm)) {
    const dir = fs.mkdtempSync(path.join(shm, 'lcow-empty-ext4-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    return { dir, tmpfs: true };
  }
  const dir = tmpDir('lcow-empty-ext4-');
  return { dir, tmpfs: isTmpfs(dir) };
}

/** Runs mke2fs as hcsshim formats scratch disks, with the fixed ids and time. */
export function makeReference(file, sizeBytes, { rootOwner } = {}) {
  fs.rmSync(file, { force: true });
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, sizeBytes);
  const extended = ['lazy_itable_init=0', 'nodiscard', `hash_seed=${FIXED.hashSeed}`];
  if (rootOwner) extended.push(`root_owner=${rootOwner}`);
  const r = spawnSync(toolPath('mke2fs'), ['-q', '-F', '-t', 'ext4', '-E', extended.join(','), '-O', '^has_journal,sparse_super2,^resize_inode', '-U', FIXED.uuid, file], {
    encoding: 'utf8',
    env: { ...process.env, MKE2FS_CONFIG: MKE2FS_CONF, E2FSPROGS_FAKE_TIME: String(FIXED.time) },
  });
  if (r.status !== 0) throw new Error(`mke2fs failed (${r.status}): ${r.stderr}`);
}

function rangesOf(file) {
  const fd = fs.openSync(file, 'r');
  try {
    return [...dataRanges(fd)];
  } finally {
    fs.closeSync(fd);
  }
}

/** Union of sorted [start, end) lists. */
function union(a, b) {
  const all = [...a, ...b].sort((x, y) => x[0] - y[0]);
  const out = [];
  for (const [s, e] of all) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

const STEP = 1 << 20;

/**
 * Compares two files over the union of their data ranges (everything else is a hole
 * in both, so zero in both). Returns the sizes, the bytes compared, the number of
 * differing bytes and the first differing offset (or -1).
 */
export function compareAllocated(fileA, fileB) {
  const sizeA = fs.statSync(fileA).size;
  const sizeB = fs.statSync(fileB).size;
  const rangesA = rangesOf(fileA);
  const rangesB = rangesOf(fileB);
  const fdA = fs.openSync(fileA, 'r');
  const fdB = fs.openSync(fileB, 'r');
  const bufA = Buffer.alloc(STEP);
  const bufB = Buffer.alloc(STEP);
  let compared = 0;
  let differences = 0;
  let first = -1;
  try {
    for (const [start, end] of union(rangesA, rangesB)) {
      for (let at = start; at < end; at += STEP) {
        const n = Math.min(STEP, end - at);
        const a = bufA.subarray(0, fs.readSync(fdA, bufA, 0, n, at));
        const b = bufB.subarray(0, fs.readSync(fdB, bufB, 0, n, at));
        compared += n;
        if (a.equals(b)) continue;
        for (let i = 0; i < Math.max(a.length, b.length); i++) {
          if (a[i] === b[i]) continue;
          differences++;
          if (first < 0) first = at + i;
        }
      }
    }
  } finally {
    fs.closeSync(fdA);
    fs.closeSync(fdB);
  }
  return { sizeA, sizeB, rangesA: rangesA.length, rangesB: rangesB.length, compared, differences, first };
}

/** Output of a read-only e2fsprogs tool on an image, with the image's name taken out. */
export function toolOutput(tool, args, file) {
  const r = spawnSync(toolPath(tool), [...args, file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { status: r.status, text: (r.stdout + r.stderr).split(file).join('IMAGE') };
}
