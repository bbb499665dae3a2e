// Copies a sparse file (a 20 GiB sandbox.vhdx holds a few MiB of data) so that the copy
// is just as sparse: only the data ranges are read and written, found with
// lseek(SEEK_DATA/SEEK_HOLE) through koffi. Where that is not available, the file is read
// in 1 MiB steps and all-zero steps are skipped, which is slower but gives the same file.

import { closeSync, existsSync, fstatSync, ftruncateSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { temporaryNameFor } from './temporary-name.js';
import { createRequire } from 'node:module';

const STEP = 1 << 20;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

type Lseek = (fd: number, offset: number, whence: number) => number | bigint;
let lseekLoaded: Lseek | null | undefined;

function lseek(): Lseek | null {
  if (lseekLoaded !== undefined) return lseekLoaded;
  lseekLoaded = null;
  if (process.platform !== 'linux') return lseekLoaded;
  try {
    const koffi = createRequire(import.meta.url)('koffi');
    lseekLoaded = koffi.load('libc.so.6').func('int64_t lseek(int fd, int64_t offset, int whence)') as Lseek;
  } catch {
    lseekLoaded = null;
  }
  return lseekLoaded;
}

/** The data ranges [start, end) of an open file, in order. */
export function* dataRanges(fd: number): Generator<[number, number]> {
  const size = fstatSync(fd).size;
  const seek = lseek();
  if (!seek) {
    yield* nonZeroSteps(fd, size);
    return;
  }
  let at = 0;
  while (at < size) {
    const start = Number(seek(fd, at, SEEK_DATA));
    if (start < 0) {
      // ENXIO: no data past `at`. Any other failure (EINVAL: no SEEK_DATA on this file
      // system) falls back to scanning from here.
      if (start === -1 && at === 0 && Number(seek(fd, 0, SEEK_HOLE)) < 0) yield* nonZeroSteps(fd, size);
      return;
    }
    const end = Math.min(size, Number(seek(fd, start, SEEK_HOLE)));
    if (end <= start) return;
    yield [start, end];
    at = end;
  }
}

function* nonZeroSteps(fd: number, size: number): Generator<[number, number]> {
  const buffer = Buffer.alloc(STEP);
  for (let at = 0; at < size; at += STEP) {
    const n = readSync(fd, buffer, 0, Math.min(STEP, size - at), at);
    if (n === 0) return;
    if (!isZero(buffer.subarray(0, n))) yield [at, at + n];
  }
}

const ZERO_STEP = Buffer.alloc(STEP);

function isZero(bytes: Buffer): boolean {
  // Compared in native code, not with a loop over bytes.
  return bytes.equals(ZERO_STEP.subarray(0, bytes.length));
}

/** Copies `source` to the already-open `targetFd`, sparse, and flushes it. */
export function copySparse(source: string, targetFd: number): void {
  const sourceFd = openSync(source, 'r');
  try {
    const size = fstatSync(sourceFd).size;
    ftruncateSync(targetFd, size);
    const buffer = Buffer.alloc(STEP);
    for (const [start, end] of dataRanges(sourceFd)) {
      for (let at = start; at < end; at += STEP) {
        const n = readSync(sourceFd, buffer, 0, Math.min(STEP, end - at), at);
        if (n === 0) break;
        let done = 0;
        while (done < n) done += writeSync(targetFd, buffer, done, n - done, at + done);
      }
    }
    fsyncSync(targetFd);
  } finally {
    closeSync(sourceFd);
  }
}

/**
 * Copies `source` to `target` sparsely and atomically (a temporary name beside it,
 * flushed, renamed): readers never see half a disk. `overwrite: false` refuses an
 * existing target, as CopyFileW with bFailIfExists does.
 */
export function copyFileSparse(source: string, target: string, overwrite = true): void {
  if (!overwrite && existsSync(target)) throw new Error(`${target} already exists`);
  const temporary = temporaryNameFor(target);
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    copySparse(source, fd);
    closeSync(fd);
    renameSync(temporary, target);
  } catch (err) {
    try { closeSync(fd); } catch { /* closed */ }
    rmSync(temporary, { force: true });
    throw err;
  }
}
