// Helpers for the VHDX tests: qemu-img runs, small VHDX files with known content, and
// in-place rewrites of one structure (checksums recomputed) for the hostile cases.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { toolPath } from './corpus.js';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export const QEMU_IMG = toolPath('qemu-img');

/** Runs qemu-img; returns { status, stdout, stderr }. */
export function qemuImg(...args) {
  const r = spawnSync(QEMU_IMG, args, { encoding: 'utf8', maxBuffer: 64 * MiB });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** qemu-img check must pass cleanly. */
export function assertQemuCheckClean(assert, file) {
  const r = qemuImg('check', '-f', 'vhdx', file);
  assert.equal(r.status, 0, `qemu-img check ${file}: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /No errors/, r.stdout);
}

export function qemuInfo(file) {
  const r = qemuImg('info', '--output=json', '-f', 'vhdx', file);
  if (r.status !== 0) throw new Error(`qemu-img info ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** qemu-img convert -O raw into `raw`. */
export function qemuToRaw(assert, file, raw) {
  const r = qemuImg('convert', '-f', 'vhdx', '-O', 'raw', file, raw);
  assert.equal(r.status, 0, `qemu-img convert: ${r.stderr}`);
}

/** Reads `length` bytes at `offset` of a file (zeros past its end). */
export function readAt(file, offset, length) {
  const fd = fs.openSync(file, 'r');
  try {
    const out = Buffer.alloc(length);
    fs.readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Deterministic bytes that differ from offset to offset (and are not zero). */
export function pattern(length, seed) {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x & 0xff) | 1;
  }
  return out;
}

/** Scattered writes over a disk of `size`: the first sector, a piece across a block boundary, one mid-disk, the last sector. */
export function scatteredWrites(size, blockSize = MiB) {
  const half = Math.floor(size / 2 / 512) * 512;
  return [
    { offset: 0, data: pattern(4096, 1) },
    { offset: 3 * blockSize - 1000, data: pattern(3000, 2) },
    { offset: half + 12345, data: pattern(70000, 3) },
    { offset: size - 512, data: pattern(512, 4) },
  ];
}

/** Writes `bytes` at `offset` into a file in place. */
export function patchFile(file, offset, bytes) {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/** The apparent size and the allocated bytes of a file. */
export function sizes(file) {
  const st = fs.statSync(file);
  return { size: st.size, allocated: st.blocks * 512 };
}
