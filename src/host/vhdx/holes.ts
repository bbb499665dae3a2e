// Where a sparse file holds data (lseek SEEK_DATA / SEEK_HOLE, through koffi: Node's fs
// has no lseek). Releasing a block that is one big hole then costs one system call
// instead of reading a mebibyte of zeros. Without lseek, every range counts as data
// and the callers read it.

import { createRequire } from 'node:module';

type Lseek = (fd: number, offset: number, whence: number) => number | bigint;

const SEEK_DATA = 3;
const SEEK_HOLE = 4;

let loaded: Lseek | null | undefined;

function lseek(): Lseek | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.platform !== 'linux') return loaded;
  try {
    const koffi = createRequire(import.meta.url)('koffi');
    loaded = koffi.load('libc.so.6').func('int64_t lseek(int fd, int64_t offset, int whence)') as Lseek;
  } catch {
    loaded = null; // no koffi build here
  }
  return loaded;
}

/**
 * The ranges of [start, end) that may hold data, in order. Holes are left out; without
 * SEEK_DATA support the whole range comes back as one piece.
 */
export function dataRanges(fd: number, start: number, end: number): Array<[number, number]> {
  const seek = lseek();
  if (!seek) return start < end ? [[start, end]] : [];
  const ranges: Array<[number, number]> = [];
  let position = start;
  while (position < end) {
    const dataAt = Number(seek(fd, position, SEEK_DATA));
    if (dataAt < 0 || dataAt >= end) break; // ENXIO: nothing but holes up to the end of the file
    const holeAt = Number(seek(fd, dataAt, SEEK_HOLE));
    const stop = holeAt < 0 ? end : Math.min(holeAt, end);
    ranges.push([dataAt, stop]);
    position = stop;
  }
  return ranges;
}
