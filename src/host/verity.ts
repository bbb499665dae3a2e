// dm-verity hash tree (spec §18.1) with node:crypto: SHA-256, 32 zero bytes of salt
// prepended, 4096-byte data and hash blocks, levels laid out top first. Levels are
// written to (and read back from) the output file, so memory stays bounded.

import { createHash } from 'node:crypto';
import { readSync, writeSync } from 'node:fs';

export const VERITY_BLOCK = 4096;
export const VERITY_SALT = Buffer.alloc(32);
const DIGEST_SIZE = 32;
const DIGESTS_PER_BLOCK = VERITY_BLOCK / DIGEST_SIZE;
const IO_BLOCKS = 1024; // 4 MiB per read

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
function hashLevel(fd: number, from: number, blocks: number, emit: (index: number, block: Buffer) => void): void {
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

/**
 * Builds the tree over the first dataBlocks blocks of fd and writes it at treeOffset.
 * Returns the root digest, sha256(salt ‖ top block).
 */
export function writeHashTree(fd: number, dataBlocks: number, treeOffset: number): Buffer {
  const layout = treeLayout(dataBlocks);
  let source = 0;
  let sourceBlocks = dataBlocks;
  for (let level = 0; level < layout.levelBlocks.length; level++) {
    const levelStart = treeOffset + layout.levelOffsets[level];
    hashLevel(fd, source, sourceBlocks, (index, block) => {
      writeSync(fd, block, 0, VERITY_BLOCK, levelStart + index * VERITY_BLOCK);
    });
    source = levelStart;
    sourceBlocks = layout.levelBlocks[level];
  }
  const top = Buffer.alloc(VERITY_BLOCK);
  readFully(fd, top, VERITY_BLOCK, treeOffset);
  return hashBlock(top);
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
