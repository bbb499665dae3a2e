// Output side. The target is checked before any input is read (outputTarget): a
// regular file is replaced through a temporary file beside it and an atomic rename on
// success, so nothing partial is ever left under its name, and it keeps its mode (and
// owner, as root); a symlink is followed and its target replaced; a seekable device is
// written in place, as Go's os.Create would; a FIFO, socket or other non-seekable target
// is refused. Every message names the path the caller gave.

import { temporaryNameFor } from './temporary-name.js';
import {
  openSync, closeSync, writeSync, writevSync, ftruncateSync, renameSync, rmSync, fsyncSync, fchmodSync, fchownSync,
  statSync, lstatSync, readlinkSync, realpathSync, accessSync, constants, type Stats,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LcowError } from './errors.js';
const liveTemporaries = new Set<string>();

// File data is gathered into one pwritev per batch: a layer of small files otherwise
// costs one system call per file. Pieces join a batch when they start at most a block
// of zeros after it ends (the padding of the previous file's last block).
const JOIN_GAP = 4096;
const MAX_PIECES = 1024; // Linux IOV_MAX
const MAX_BATCH_BYTES = 1 << 20; // views keep their input chunks alive: bounds memory
const ZEROS = new Uint8Array(JOIN_GAP);
let cleanupInstalled = false;

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  const cleanup = () => {
    for (const path of liveTemporaries) rmSync(path, { force: true });
  };
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanup();
      process.kill(process.pid, signal);
    });
  }
}

/** Device and inode of a file, to tell when an output would overwrite an input. */
export interface FileIdentity {
  dev: number;
  ino: number;
  /** Set for character and block devices: two nodes of one device are the same target. */
  rdev?: number;
}

export function identityOf(stats: Stats): FileIdentity {
  const device = stats.isCharacterDevice() || stats.isBlockDevice();
  return { dev: stats.dev, ino: stats.ino, rdev: device ? stats.rdev : undefined };
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return (a.dev === b.dev && a.ino === b.ino) || (a.rdev !== undefined && a.rdev === b.rdev);
}

/** Where an output goes, decided before the input is read. */
export interface OutputTarget {
  /** The path as the caller gave it: every message names it. */
  given: string;
  /** The file written or replaced: `given` with its symlinks followed. */
  path: string;
  /** `create` a new file, `replace` a regular file, or write a `device` in place. */
  how: 'create' | 'replace' | 'device';
  /** The existing file, for the same-file check. */
  identity?: FileIdentity;
  /** A character device (/dev/null): written through but cannot be read back. */
  characterDevice?: boolean;
  /** What a replaced file keeps. */
  keep?: { mode: number; uid: number; gid: number };
}

function usageError(message: string, cause?: unknown): LcowError {
  return new LcowError('USAGE', message, { cause });
}

/** "cannot write layer.vhd: no space left on device (ENOSPC)": the caller's path, never the temporary's. */
function writeError(given: string, err: unknown, verb = 'write'): LcowError {
  return new LcowError('OUTPUT_WRITE_FAILED', `cannot ${verb} ${given}: ${systemReason(err)}`, { cause: err });
}

/** Node's "ENOSPC: no space left on device, write '/x/.y.tmp'" as "no space left on device (ENOSPC)". */
export function systemReason(err: unknown): string {
  const { code, message } = err as NodeJS.ErrnoException;
  const reason = String(message).replace(/^[A-Z0-9_]+: /, '').replace(/, \w+( '.*')?$/, '');
  return code && /^E[A-Z0-9]+$/.test(code) ? `${reason} (${code})` : reason;
}

const MAX_SYMLINK_HOPS = 40; // Linux's MAXSYMLINKS

/** Follows the symlinks of a path whose final target does not exist (yet). */
function followDanglingLinks(path: string): string {
  let current = path;
  for (let hop = 0; hop < MAX_SYMLINK_HOPS; hop++) {
    let link: string;
    try {
      if (!lstatSync(current).isSymbolicLink()) return current;
      link = readlinkSync(current);
    } catch {
      return current;
    }
    current = resolve(dirname(current), link);
  }
  throw usageError(`cannot create ${path}: too many levels of symbolic links`);
}

/** The directory a new or replacing file is created in must exist and be writable. */
function checkDirectory(given: string, directory: string): void {
  let stats: Stats;
  try {
    stats = statSync(directory);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw usageError(`cannot create ${given}: no such directory ${directory}`, err);
    throw writeError(given, err, 'create');
  }
  if (!stats.isDirectory()) throw usageError(`cannot create ${given}: ${directory} is not a directory`);
  try {
    accessSync(directory, constants.W_OK | constants.X_OK);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'EROFS' ? 'is on a read-only file system' : 'is not writable';
    throw new LcowError('OUTPUT_WRITE_FAILED', `cannot create ${given}: directory ${directory} ${reason}`, { cause: err });
  }
}

/**
 * Decides where `given` is written and refuses what cannot be: an empty name, "-"
 * (standard output cannot take positional writes), a directory, a FIFO, a socket, a
 * missing or unwritable directory. Reads nothing and creates nothing.
 */
export function outputTarget(given: string): OutputTarget {
  if (typeof given !== 'string') throw new LcowError('INVALID_OPTION', `the output must be a path string, not ${describeValue(given)}`);
  if (given === '') throw usageError('the output path is empty');
  if (given === '-') {
    throw usageError('cannot write the image to standard output: it is written at explicit positions, so it needs a file or a seekable device (for a file named "-", write ./-)');
  }
  if (given.endsWith('/')) throw usageError(`the output ${given} names a directory; give a file name`);
  let stats: Stats;
  try {
    stats = statSync(given);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const path = followDanglingLinks(given);
      checkDirectory(given, dirname(path));
      return { given, path, how: 'create' };
    }
    if (code === 'ENOTDIR') throw usageError(`cannot create ${given}: a part of the path is not a directory`, err);
    if (code === 'ELOOP') throw usageError(`cannot create ${given}: too many levels of symbolic links`, err);
    throw writeError(given, err, 'create');
  }
  const identity = identityOf(stats);
  if (stats.isDirectory()) throw usageError(`the output ${given} is a directory; give a file name`);
  if (stats.isFIFO() || stats.isSocket()) {
    throw usageError(`cannot write the image to ${given}: it is a ${stats.isFIFO() ? 'FIFO (pipe)' : 'socket'}, and the image is written at explicit positions; give a file or a seekable device`);
  }
  if (stats.isCharacterDevice() || stats.isBlockDevice()) {
    return { given, path: given, how: 'device', identity, characterDevice: stats.isCharacterDevice() };
  }
  let path: string;
  try {
    path = realpathSync.native(given);
  } catch (err) {
    throw writeError(given, err, 'resolve');
  }
  checkDirectory(given, dirname(path));
  return { given, path, how: 'replace', identity, keep: { mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid } };
}

/** A short description of a wrong value for messages: its type, or its text if short. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    if (!name || name === 'Object') return 'an object';
    return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
  }
  return `${typeof value} ${String(value)}`;
}

export class OutputFile {
  readonly target: OutputTarget;
  /** The temporary file written and renamed on commit; none for a device. */
  readonly temporary?: string;
  private fd: number;
  private batch: Uint8Array[] = [];
  private batchStart = 0;
  private batchEnd = 0;

  /** The open descriptor (read and write), for hashing or copying into what was written. */
  get descriptor(): number {
    this.flush();
    return this.fd;
  }

  /** Opens `target` (a checked OutputTarget, or a path to check now) for writing. */
  constructor(target: OutputTarget | string) {
    installCleanup();
    this.target = typeof target === 'string' ? outputTarget(target) : target;
    if (this.target.how === 'device') {
      this.fd = openDevice(this.target.given);
      return;
    }
    const temporary = temporaryNameFor(this.target.path);
    try {
      // Go's os.Create makes new files 0666 before the umask.
      this.fd = openSync(temporary, 'wx+', this.target.keep?.mode ?? 0o666);
    } catch (err) {
      throw writeError(this.target.given, err, 'create');
    }
    this.temporary = temporary;
    liveTemporaries.add(temporary);
    const keep = this.target.keep;
    if (!keep) return;
    try {
      fchmodSync(this.fd, keep.mode); // past the umask
      if (process.getuid?.() === 0) fchownSync(this.fd, keep.uid, keep.gid);
    } catch (err) {
      this.abandon();
      throw writeError(this.target.given, err, 'replace');
    }
  }

  /** Whether bytes written can be read back (for hashing): not from /dev/null and friends. */
  get readable(): boolean {
    return !this.target.characterDevice;
  }

  /** Writes all of `bytes` at `position` now. */
  write(bytes: Uint8Array, position: number): void {
    this.flush();
    this.guard(() => this.writeAll(bytes, position));
  }

  /**
   * Writes file data, possibly later (at the next write, flush, truncate or commit):
   * `bytes` must stay unchanged until then, as views of input chunks do.
   */
  writeData(bytes: Uint8Array, position: number): void {
    const gap = position - this.batchEnd;
    const joins = this.batch.length > 0 && gap >= 0 && gap <= JOIN_GAP && this.batch.length + 2 <= MAX_PIECES
      && this.batchEnd - this.batchStart < MAX_BATCH_BYTES;
    if (!joins) {
      this.flush();
      this.batchStart = position;
    } else if (gap > 0) {
      this.batch.push(ZEROS.subarray(0, gap));
    }
    this.batch.push(bytes);
    this.batchEnd = position + bytes.length;
  }

  /** Writes out the gathered file data. */
  flush(): void {
    if (this.batch.length === 0) return;
    const pieces = this.batch;
    this.batch = [];
    this.guard(() => {
      let written = writevSync(this.fd, pieces, this.batchStart);
      // A short write (a signal, a nearly full disk): the rest piece by piece, which
      // either completes or reports the error.
      let position = this.batchStart;
      for (const piece of pieces) {
        const skip = Math.min(written, piece.length);
        if (skip < piece.length) this.writeAll(piece.subarray(skip), position + skip);
        written -= skip;
        position += piece.length;
      }
    });
  }

  private writeAll(bytes: Uint8Array, position: number): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, position + done);
  }

  /** Sets the final length; bytes never written read as zeros. A device keeps its size. */
  truncate(size: number): void {
    this.flush();
    if (this.target.how === 'device') return;
    this.guard(() => ftruncateSync(this.fd, size));
  }

  /**
   * Flushes, closes and renames the temporary file over the target. The flush comes
   * first so that a crash never leaves a renamed but incomplete image, and so that a
   * file system reporting ENOSPC only at flush time still fails the conversion;
   * `sync = false` skips it for callers that flush themselves or do not care. A
   * character device has nothing to flush.
   */
  commit(sync = true): void {
    this.flush();
    this.guard(() => {
      if (sync && !this.target.characterDevice) fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
      if (this.temporary) renameSync(this.temporary, this.target.path);
    });
    if (this.temporary) liveTemporaries.delete(this.temporary);
  }

  private guard(operation: () => void): void {
    try {
      operation();
    } catch (err) {
      throw writeError(this.target.given, err);
    }
  }

  /** Removes the temporary file (on any failure); what was written to a device stays. */
  abandon(): void {
    this.batch = [];
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    if (!this.temporary) return;
    rmSync(this.temporary, { force: true });
    liveTemporaries.delete(this.temporary);
  }
}

/**
 * Opens a device for writing in place, as os.Create does (O_RDWR; truncation means
 * nothing to a device). The image is written at explicit positions, so a device that
 * cannot take them (a terminal, /dev/stdout on a pipe) is refused: a zero-byte pwrite
 * fails with ESPIPE there and writes nothing anywhere.
 */
function openDevice(given: string): number {
  let fd: number;
  try {
    fd = openSync(given, 'r+');
  } catch (err) {
    throw writeError(given, err, 'open');
  }
  try {
    writeSync(fd, new Uint8Array(0), 0, 0, 0);
  } catch (err) {
    closeSync(fd);
    if ((err as NodeJS.ErrnoException).code === 'ESPIPE') {
      throw usageError(`cannot write the image to ${given}: the device is not seekable (a terminal or pipe), and the image is written at explicit positions; give a file`, err);
    }
    throw writeError(given, err);
  }
  return fd;
}

/** A scratch file in `directory` that is never committed (root digests hash it and drop it). */
export function scratchFile(directory: string): OutputFile {
  return new OutputFile({ given: join(directory, 'lcow-scratch.img'), path: join(directory, 'lcow-scratch.img'), how: 'create' });
}
