// Files the driver publishes (layerchain.json, cached disks) appear complete or not at
// all: written under a temporary name beside the target, flushed, then renamed.

import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export function temporaryNameFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes `content` to `target` atomically with the given mode. */
export function publishFile(target: string, content: string | Uint8Array, mode: number): void {
  const temporary = temporaryNameFor(target);
  const fd = openSync(temporary, 'wx', mode);
  try {
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temporary, target);
  } catch (err) {
    try { closeSync(fd); } catch { /* already closed */ }
    rmSync(temporary, { force: true });
    throw err;
  }
}

/** Leftovers of publishFile and of the converter's output (".NAME.XXXXXXXX.tmp") after a crash. */
export function isTemporaryName(name: string): boolean {
  return /^\..+\.[0-9a-f]{8}\.tmp$/.test(name);
}
