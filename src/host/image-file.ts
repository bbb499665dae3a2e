// Opening an image for inspect, verify and diff: the faults a user causes (no such file,
// a directory, no permission, something that is not an ext4 image) become LcowErrors
// with their own codes here, before the ext4 reader is involved.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { LcowError } from './errors.js';
import { systemReason } from './output.js';
import { checkImagePath } from './check-options.js';
import { EXT4_MAGIC, EXT4_MAGIC_OFFSET, KIND_NAMES, SNIFF_BYTES, fileKind, textExcerpt } from './file-kind.js';

function openFailed(path: string, reason: string, cause?: unknown): LcowError {
  return new LcowError('INPUT_OPEN_FAILED', `cannot open ${path}: ${reason}`, { cause });
}

/** Opens `path` for reading and checks it is a file or block device: INPUT_OPEN_FAILED otherwise. */
function openImage(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw openFailed(path, systemReason(err), err);
  }
  const stats = fstatSync(fd);
  const problem = stats.isDirectory() ? 'is a directory (EISDIR)'
    : stats.isFIFO() || stats.isSocket() ? 'is a pipe or socket; an image is read at explicit positions, so give a file'
      : undefined;
  if (problem) {
    closeSync(fd);
    throw openFailed(path, problem);
  }
  return fd;
}

/** Checks that `path` (given for `what`) opens as an image file; throws INPUT_OPEN_FAILED if not. */
export function checkImageFile(path: unknown, what = 'the image'): void {
  checkImagePath(path, what);
  closeSync(openImage(path as string));
}

/**
 * Null when `path` holds an ext4 superblock magic, else why not, naming what the file
 * looks like: "not an ext4 image (bad magic 0x6f6c at byte 1080); it looks like text
 * (it starts "hello")".
 */
export function whyNotExt4(path: string): string | null {
  const fd = openImage(path);
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(SNIFF_BYTES);
    const got = readSync(fd, head, 0, head.length, 0);
    const tail = size >= 512 ? Buffer.alloc(512) : undefined;
    if (tail) readSync(fd, tail, 0, 512, size - 512);
    const bytes = head.subarray(0, got);
    if (got >= EXT4_MAGIC_OFFSET + 2 && head.readUInt16LE(EXT4_MAGIC_OFFSET) === EXT4_MAGIC) return null;
    const why = got === 0 ? 'the file is empty'
      : got < EXT4_MAGIC_OFFSET + 2 ? `only ${got} bytes`
        : `bad magic 0x${head.readUInt16LE(EXT4_MAGIC_OFFSET).toString(16).padStart(4, '0')} at byte ${EXT4_MAGIC_OFFSET}`;
    const kind = fileKind(bytes, tail);
    const looks = kind === 'unknown' || kind === 'empty' ? ''
      : kind === 'tar' ? '; it looks like a tar: did you mean lcow convert?'
        : kind === 'text' ? `; it looks like text (it starts ${textExcerpt(bytes)})`
          : `; it looks like ${KIND_NAMES[kind]}`;
    return `not an ext4 image (${why})${looks}`;
  } finally {
    closeSync(fd);
  }
}

/** Throws IMAGE_NOT_EXT4 (or INPUT_OPEN_FAILED) unless `path` is an ext4 image. */
export function requireExt4Image(path: unknown, what = 'the image'): void {
  checkImagePath(path, what);
  const why = whyNotExt4(path as string);
  if (why) throw new LcowError('IMAGE_NOT_EXT4', `${path}: ${why}`);
}
