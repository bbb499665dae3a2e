// The files of an image, however it is stored: an OCI layout or an extracted `docker
// save` in a directory (DirectoryFiles), or either packed in a tar (TarArchive in
// tar-archive.ts). Manifests name files by relative slash paths; those names are
// untrusted, so every name is normalised here and one that leaves the image is refused.

import { openSync, closeSync, fstatSync, readSync, statSync } from 'node:fs';
import { posix, join } from 'node:path';
import { LcowError } from '../host/errors.js';
import { systemReason } from '../host/output.js';

/** Where a file's bytes are: `size` bytes from `offset` of the open descriptor `fd`. */
export interface ByteRange {
  fd: number;
  offset: number;
  size: number;
}

export interface ImageFiles {
  /** How messages name the image: the path the caller gave. */
  readonly given: string;
  /** True when a regular file of that name exists (after symlinks inside the image). */
  has(name: string): boolean;
  /** The file's canonical name (symlinks and hard links inside the image followed). */
  canonical(name: string, what: string): string;
  /** Where the file's bytes are; throws IMAGE_BLOB_MISSING naming `what` when absent. */
  range(name: string, what: string): ByteRange;
  /** The whole file, for manifests and configs; refused past `limit` bytes. */
  read(name: string, what: string, limit?: number): Buffer;
  close(): void;
}

/** Manifests, indexes and configs are small; a 16 MiB one is hostile or broken. */
export const JSON_LIMIT = 16 * 2 ** 20;

/**
 * `./blobs//sha256/x` as `blobs/sha256/x`. A name that is absolute or climbs out of the
 * image with `..` is refused: it would read a file the image does not hold.
 */
export function normaliseName(name: string, what: string): string {
  if (typeof name !== 'string' || name === '') throw malformed(`${what}: the file name is empty or not a string`);
  if (name.includes('\0')) throw malformed(`${what}: the file name ${JSON.stringify(name)} contains a NUL byte`);
  const clean = posix.normalize(name).replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (clean.startsWith('/') || clean === '..' || clean.startsWith('../') || clean === '.' || clean === '') {
    throw malformed(`${what}: the file name ${JSON.stringify(name)} points outside the image`);
  }
  return clean;
}

export function malformed(message: string): LcowError {
  return new LcowError('IMAGE_MALFORMED', message);
}

export function missing(what: string, name: string, given: string): LcowError {
  return new LcowError('IMAGE_BLOB_MISSING', `${what}: ${name} is not in ${given}`);
}

/** Reads exactly `length` bytes at `position`; a short read means the file shrank under us. */
export function readExactly(fd: number, length: number, position: number, what: string): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new LcowError('INPUT_READ_FAILED', `${what}: the image ends at byte ${position + done}, inside it (was it truncated?)`);
    done += n;
  }
  return buffer;
}

/** An image in a directory: an OCI layout, or what `tar -xf` of a `docker save` gives. */
export class DirectoryFiles implements ImageFiles {
  private readonly open = new Map<string, ByteRange>();

  constructor(readonly given: string, private readonly root: string) {}

  has(name: string): boolean {
    try {
      return statSync(join(this.root, normaliseName(name, name))).isFile();
    } catch {
      return false;
    }
  }

  canonical(name: string, what: string): string {
    return normaliseName(name, what);
  }

  range(name: string, what: string): ByteRange {
    const clean = normaliseName(name, what);
    const known = this.open.get(clean);
    if (known) return known;
    let fd: number;
    try {
      fd = openSync(join(this.root, clean), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missing(what, clean, this.given);
      throw new LcowError('INPUT_OPEN_FAILED', `${what}: cannot open ${join(this.given, clean)}: ${systemReason(err)}`, { cause: err });
    }
    const stats = fstatSync(fd);
    if (!stats.isFile()) {
      closeSync(fd);
      throw malformed(`${what}: ${clean} in ${this.given} is not a regular file`);
    }
    const range = { fd, offset: 0, size: stats.size };
    this.open.set(clean, range);
    return range;
  }

  read(name: string, what: string, limit = JSON_LIMIT): Buffer {
    const range = this.range(name, what);
    if (range.size > limit) throw malformed(`${what}: ${normaliseName(name, what)} is ${range.size} bytes, more than the ${limit} a manifest or config may have`);
    return readExactly(range.fd, range.size, range.offset, what);
  }

  close(): void {
    for (const { fd } of this.open.values()) closeSync(fd);
    this.open.clear();
  }
}
