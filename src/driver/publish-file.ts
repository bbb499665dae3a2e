// Files the driver publishes (layerchain.json, cached disks) appear complete or not at
// all: written under a temporary name beside the target, flushed, then renamed.

import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { temporaryNameFor } from '../host/temporary-name.js';

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
