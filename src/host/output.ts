// Output side: a temporary file beside the target, positional writes, and an atomic
// rename on success. Nothing partial is ever left under the target name.

import { openSync, closeSync, writeSync, ftruncateSync, renameSync, rmSync, fsyncSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LcowError } from './errors.js';

const liveTemporaries = new Set<string>();
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

  /** The open descriptor (read and write), for hashing what was written. */
  get descriptor(): number {
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

  /** Writes all of `bytes` at `position`. */
  write(bytes: Uint8Array, position: number): void {
    this.guard(() => {
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, position + done);
    });
  }

  /** Sets the final length; bytes never written read as zeros. */
  truncate(size: number): void {
    this.guard(() => ftruncateSync(this.fd, size));
  }

  /**
   * Flushes, closes and renames the temporary file over the target. The flush comes
   * first so that a crash never leaves a renamed but incomplete image, and so that a
   * file system reporting ENOSPC only at flush time still fails the conversion;
   * `sync = false` skips it for callers that flush themselves or do not care.
   */
  commit(sync = true): void {
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
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    rmSync(this.temporary, { force: true });
    liveTemporaries.delete(this.temporary);
  }
}
