// Where a sparse file holds data (lseek SEEK_DATA / SEEK_HOLE) and giving ranges back
// (fallocate PUNCH_HOLE), through koffi: Node's fs has neither. Releasing a block that is
// one big hole then costs one system call instead of reading a mebibyte of zeros.
// Without koffi, every range counts as data (the callers read it) and nothing is punched.

import { createRequire } from 'node:module';

type Lseek = (fd: number, offset: number, whence: number) => number | bigint;
type Fallocate = (fd: number, mode: number, offset: number, length: number) => number;

const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;

let libc: { lseek: Lseek; fallocate: Fallocate } | null | undefined;

function loadLibc(): typeof libc {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform !== 'linux') return libc;
  try {
    const library = createRequire(import.meta.url)('koffi').load('libc.so.6');
    libc = {
      lseek: library.func('int64_t lseek(int fd, int64_t offset, int whence)') as Lseek,
      fallocate: library.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)') as Fallocate,
    };
  } catch {
    libc = null; // no koffi build for this platform
  }
  return libc;
}

/**
 * The ranges of [start, end) that may hold data, in order. Holes are left out; without
 * SEEK_DATA support the whole range comes back as one piece.
 */
export function dataRanges(fd: number, start: number, end: number): Array<[number, number]> {
  const calls = loadLibc();
  if (!calls) return start < end ? [[start, end]] : [];
  const ranges: Array<[number, number]> = [];
  let position = start;
  while (position < end) {
    const dataAt = Number(calls.lseek(fd, position, SEEK_DATA));
    if (dataAt < 0 || dataAt >= end) break; // ENXIO: nothing but holes up to the end of the file
    const holeAt = Number(calls.lseek(fd, dataAt, SEEK_HOLE));
    const stop = holeAt < 0 ? end : Math.min(holeAt, end);
    ranges.push([dataAt, stop]);
    position = stop;
  }
  return ranges;
}

/** Gives [offset, offset + length) back to the file system (it reads as zeros after); false where not possible. */
export function punchHole(fd: number, offset: number, length: number): boolean {
  const calls = loadLibc();
  return calls !== null && calls !== undefined && calls.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) === 0;
}
