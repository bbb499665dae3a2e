// dm-verity hash tree (spec §18.1) with node:crypto: SHA-256, 32 zero bytes of salt
// prepended, 4096-byte data and hash blocks, levels laid out top first. writeHashTree reads
// an image back and writes its levels to (and reads them from) the file, so memory stays
// bounded; conversions hash as they write instead (verity-stream.ts, treeFromLevel0).

import { createHash } from 'node:crypto';
import { readSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import type * as WorkerThreads from 'node:worker_threads';

export const VERITY_BLOCK = 4096;
export const VERITY_SALT = Buffer.alloc(32);
const DIGEST_SIZE = 32;
const DIGESTS_PER_BLOCK = VERITY_BLOCK / DIGEST_SIZE;
const IO_BLOCKS = 1024; // 4 MiB per read
/** Below this many data blocks (256 MiB) one thread hashes faster than starting workers. */
const PARALLEL_MIN_BLOCKS = 65536;
const MAX_WORKERS = 4;

export interface TreeLayout {
  /** Blocks per level, level 0 (over the data) first. */
  levelBlocks: number[];
  /** Offset of each level from the tree start (the top level is at 0). */
  levelOffsets: number[];
  treeBlocks: number;
}

export function treeLayout(dataBlocks: number): TreeLayout {
  if (dataBlocks <= 0) throw new Error('dm-verity needs at least one data block');
  const levelBlocks: number[] = [];
  let n = dataBlocks;
  for (;;) {
    const blocks = Math.ceil((n * DIGEST_SIZE) / VERITY_BLOCK);
    levelBlocks.push(blocks);
    if (blocks === 1) break;
    n = blocks;
  }
  const levelOffsets = new Array<number>(levelBlocks.length);
  let offset = 0;
  for (let level = levelBlocks.length - 1; level >= 0; level--) {
    levelOffsets[level] = offset;
    offset += levelBlocks[level] * VERITY_BLOCK;
  }
  return { levelBlocks, levelOffsets, treeBlocks: offset / VERITY_BLOCK };
}

function hashBlock(block: Uint8Array): Buffer {
  return createHash('sha256').update(VERITY_SALT).update(block).digest();
}

function readFully(fd: number, buffer: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new Error(`short read at byte ${position + done}`);
    done += n;
  }
}

/**
 * Hashes `blocks` blocks starting at byte `from` of fd, handing each finished 4096-byte
 * hash block (zero padded) to `emit(index, block)`.
 */
export function hashLevel(fd: number, from: number, blocks: number, emit: (index: number, block: Buffer) => void): void {
  const input = Buffer.alloc(IO_BLOCKS * VERITY_BLOCK);
  let out = Buffer.alloc(VERITY_BLOCK);
  let filled = 0;
  let emitted = 0;
  for (let done = 0; done < blocks; done += IO_BLOCKS) {
    const count = Math.min(IO_BLOCKS, blocks - done);
    readFully(fd, input, count * VERITY_BLOCK, from + done * VERITY_BLOCK);
    for (let i = 0; i < count; i++) {
      hashBlock(input.subarray(i * VERITY_BLOCK, (i + 1) * VERITY_BLOCK)).copy(out, filled * DIGEST_SIZE);
      if (++filled === DIGESTS_PER_BLOCK) {
        emit(emitted++, out);
        out = Buffer.alloc(VERITY_BLOCK);
        filled = 0;
      }
    }
  }
  if (filled > 0) emit(emitted, out);
}

/** Hashes `blocks` blocks at byte `from` and writes the hash blocks from byte `to`. */
export function writeLevel(fd: number, from: number, blocks: number, to: number): void {
  hashLevel(fd, from, blocks, (index, block) => {
    writeSync(fd, block, 0, VERITY_BLOCK, to + index * VERITY_BLOCK);
  });
}

/**
 * Level 0 over `dataBlocks` blocks, written at byte `levelStart`. Each worker takes a run
 * of whole hash blocks (128 data blocks each), so no hash block is shared between two.
 */
async function hashRangesInWorkers(fd: number, dataBlocks: number, levelStart: number): Promise<void> {
  const workers = Math.min(MAX_WORKERS, availableParallelism());
  if (dataBlocks < PARALLEL_MIN_BLOCKS || workers < 2) {
    writeLevel(fd, 0, dataBlocks, levelStart);
    return;
  }
  const hashBlocks = Math.ceil(dataBlocks / DIGESTS_PER_BLOCK);
  const perWorker = Math.ceil(hashBlocks / workers);
  const runs: Promise<void>[] = [];
  for (let first = 0; first < hashBlocks; first += perWorker) {
    const count = Math.min(perWorker, hashBlocks - first) * DIGESTS_PER_BLOCK;
    const range = { fd, from: first * DIGESTS_PER_BLOCK * VERITY_BLOCK, blocks: Math.min(count, dataBlocks - first * DIGESTS_PER_BLOCK), to: levelStart + first * VERITY_BLOCK };
    runs.push(runWorker(range));
  }
  await Promise.all(runs);
}

function runWorker(range: { fd: number; from: number; blocks: number; to: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    // Loaded here: only images of 256 MiB and more start workers, and the module costs start-up.
    const { Worker } = createRequire(import.meta.url)('node:worker_threads') as typeof WorkerThreads;
    const worker = new Worker(new URL('./verity-worker.js', import.meta.url), { workerData: range });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`verity worker exited with status ${code}`))));
  });
}

/**
 * Builds the tree over the first dataBlocks blocks of fd and writes it at treeOffset.
 * Returns the root digest, sha256(salt ‖ top block).
 */
export async function writeHashTree(fd: number, dataBlocks: number, treeOffset: number): Promise<Buffer> {
  const layout = treeLayout(dataBlocks);
  // Level 0 reads and hashes every image byte: SHA-256 is the cost, so large images are
  // split over worker threads. The levels above are 128 times smaller each.
  await hashRangesInWorkers(fd, dataBlocks, treeOffset + layout.levelOffsets[0]);
  let source = treeOffset + layout.levelOffsets[0];
  let sourceBlocks = layout.levelBlocks[0];
  for (let level = 1; level < layout.levelBlocks.length; level++) {
    const levelStart = treeOffset + layout.levelOffsets[level];
    writeLevel(fd, source, sourceBlocks, levelStart);
    source = levelStart;
    sourceBlocks = layout.levelBlocks[level];
  }
  const top = Buffer.alloc(VERITY_BLOCK);
  readFully(fd, top, VERITY_BLOCK, treeOffset);
  return hashBlock(top);
}

/**
 * The levels above a level 0 computed elsewhere (verity-stream.ts), level 0 first, and the
 * root digest: each level hashes the 4096-byte blocks of the one below, in memory.
 */
export function treeFromLevel0(level0: Buffer, dataBlocks: number): { levels: Buffer[]; rootDigest: Buffer } {
  const layout = treeLayout(dataBlocks);
  if (level0.length !== layout.levelBlocks[0] * VERITY_BLOCK) throw new Error(`level 0 holds ${level0.length} bytes, want ${layout.levelBlocks[0] * VERITY_BLOCK}`);
  const levels = [level0];
  for (let level = 1; level < layout.levelBlocks.length; level++) {
    const below = levels[level - 1];
    const hashes = Buffer.alloc(layout.levelBlocks[level] * VERITY_BLOCK);
    for (let i = 0; i * VERITY_BLOCK < below.length; i++) hashBlock(below.subarray(i * VERITY_BLOCK, (i + 1) * VERITY_BLOCK)).copy(hashes, i * DIGEST_SIZE);
    levels.push(hashes);
  }
  return { levels, rootDigest: hashBlock(levels[levels.length - 1]) };
}

export interface TreeCheck {
  ok: boolean;
  rootDigest: string;
  /** The first stored hash block that differs from the recomputed one. */
  mismatch?: { level: number; block: number };
}

/** Recomputes the tree over fd's data and compares it with the stored one at treeOffset. */
export function checkHashTree(fd: number, dataBlocks: number, treeOffset: number): TreeCheck {
  const layout = treeLayout(dataBlocks);
  const stored = Buffer.alloc(VERITY_BLOCK);
  let source = 0;
  let sourceBlocks = dataBlocks;
  let mismatch: TreeCheck['mismatch'];
  for (let level = 0; level < layout.levelBlocks.length && !mismatch; level++) {
    const levelStart = treeOffset + layout.levelOffsets[level];
    hashLevel(fd, source, sourceBlocks, (index, block) => {
      if (mismatch) return;
      readFully(fd, stored, VERITY_BLOCK, levelStart + index * VERITY_BLOCK);
      if (!stored.equals(block)) mismatch = { level, block: index };
    });
    source = levelStart;
    sourceBlocks = layout.levelBlocks[level];
  }
  const top = Buffer.alloc(VERITY_BLOCK);
  readFully(fd, top, VERITY_BLOCK, treeOffset);
  return { ok: !mismatch, rootDigest: hashBlock(top).toString('hex'), mismatch };
}

/** A deterministic 16-byte id derived from content (for --uuid-from-content). */
export function contentId(purpose: string, ...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256').update(`lcow ${purpose}\0`);
  for (const p of parts) h.update(p);
  return h.digest().subarray(0, 16);
}

/** SHA-256 of the first `length` bytes of fd. */
export function hashFile(fd: number, length: number): Buffer {
  const h = createHash('sha256');
  const buffer = Buffer.alloc(IO_BLOCKS * VERITY_BLOCK);
  for (let done = 0; done < length; ) {
    const n = Math.min(buffer.length, length - done);
    readFully(fd, buffer, n, done);
    h.update(buffer.subarray(0, n));
    done += n;
  }
  return h.digest();
}
