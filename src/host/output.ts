// Output side: a temporary file beside the target, positional writes, and an atomic
// rename on success. Nothing partial is ever left under the target name.

import { openSync, closeSync, writeSync, writevSync, ftruncateSync, renameSync, rmSync, fsyncSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
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

export class OutputFile {
  readonly target: string;
  readonly temporary: string;
  private fd: number;
  private batch: Uint8Array[] = [];
  private batchStart = 0;
  private batchEnd = 0;

  /** The open descriptor (read and write), for hashing or copying into what was written. */
  get descriptor(): number {
    this.flush();
    return this.fd;
  }

  constructor(target: string) {
    installCleanup();
    this.target = target;
    this.temporary = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      this.fd = openSync(this.temporary, 'wx+', 0o644);
    } catch (err) {
      throw new LcowError('OUTPUT_WRITE_FAILED', `cannot create ${this.temporary}: ${(err as Error).message}`, { cause: err });
    }
    liveTemporaries.add(this.temporary);
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

  /** Sets the final length; bytes never written read as zeros. */
  truncate(size: number): void {
    this.flush();
    this.guard(() => ftruncateSync(this.fd, size));
  }

  /**
   * Flushes, closes and renames the temporary file over the target. The flush comes
   * first so that a crash never leaves a renamed but incomplete image, and so that a
   * file system reporting ENOSPC only at flush time still fails the conversion;
   * `sync = false` skips it for callers that flush themselves or do not care.
   */
  commit(sync = true): void {
    this.flush();
    this.guard(() => {
      if (sync) fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
      renameSync(this.temporary, this.target);
    });
    liveTemporaries.delete(this.temporary);
  }

  private guard(operation: () => void): void {
    try {
      operation();
    } catch (err) {
      throw new LcowError('OUTPUT_WRITE_FAILED', `cannot write ${this.target}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Removes the temporary file (on any failure). */
  abandon(): void {
    this.batch = [];
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    rmSync(this.temporary, { force: true });
    liveTemporaries.delete(this.temporary);
  }
}
