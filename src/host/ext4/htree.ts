// htree (hashed b-tree) directory indexes (kernel Documentation/filesystems/ext4/directory.rst,
// "Hash Tree Directories"): the first block holds '.', '..' and a dx_root, whose sorted
// (hash, block) entries lead, through up to two levels of dx_node blocks, to the leaf
// block that holds a name. Used to look a name up in a few blocks instead of all of them;
// anything unexpected in the index sends the caller back to a linear scan, which is
// always right (the index is an accelerator, never the only way to an entry).

import { decodeRecLen } from './directory.js';
import { dxHash } from './dx-hash.js';

const DX_ROOT_INFO = 24;
const DX_ROOT_ENTRIES = 32;
const DX_NODE_ENTRIES = 8;
const DX_ROOT_INFO_LENGTH = 8;
const DX_ENTRY_SIZE = 8;
/** s_flags: names hash as unsigned chars (the kernel adds 3 to versions 0-2). */
const FLAGS_UNSIGNED_HASH = 0x2;

export interface HtreeContext {
  blockSize: number;
  hashSeed: Buffer;
  superblockFlags: number;
  /** Levels of dx_node allowed below the root: 2 with large_dir, else 1. */
  maxIndirectLevels: number;
  /** Reads the directory's logical block, or returns undefined when it is not mapped. */
  readLogical(logical: number): Buffer | undefined;
}

/** The entry covering `hash` in a dx entry array: the last whose hash is <= it (entry 0 covers from 0). */
function findEntry(node: Buffer, entriesAt: number, hash: number): number | undefined {
  const limit = node.readUInt16LE(entriesAt);
  const count = node.readUInt16LE(entriesAt + 2);
  if (count === 0 || count > limit || entriesAt + limit * DX_ENTRY_SIZE > node.length) return undefined;
  let lo = 1;
  let hi = count - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (node.readUInt32LE(entriesAt + mid * DX_ENTRY_SIZE) <= hash) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return node.readUInt32LE(entriesAt + found * DX_ENTRY_SIZE + 4);
}

/**
 * The logical block of the leaf that would hold `name`, following the index from `root`
 * (the directory's block 0); undefined when the index cannot be used.
 */
export function htreeLeafFor(root: Buffer, name: Buffer, ctx: HtreeContext): number | undefined {
  if (root.length < DX_ROOT_ENTRIES + DX_ENTRY_SIZE || decodeRecLen(root.readUInt16LE(16), ctx.blockSize) !== ctx.blockSize - 12) return undefined;
  if (root.readUInt8(DX_ROOT_INFO + 5) !== DX_ROOT_INFO_LENGTH) return undefined;
  let version = root.readUInt8(DX_ROOT_INFO + 4);
  if (version <= 2 && ctx.superblockFlags & FLAGS_UNSIGNED_HASH) version += 3;
  const levels = root.readUInt8(DX_ROOT_INFO + 6);
  if (levels > ctx.maxIndirectLevels) return undefined;
  const hash = dxHash(name, version, ctx.hashSeed);
  if (hash === undefined) return undefined;
  let block = findEntry(root, DX_ROOT_ENTRIES, hash);
  for (let level = 0; level < levels && block !== undefined; level++) {
    const node = ctx.readLogical(block);
    if (!node || decodeRecLen(node.readUInt16LE(4), ctx.blockSize) !== ctx.blockSize || node.readUInt32LE(0) !== 0) return undefined;
    block = findEntry(node, DX_NODE_ENTRIES, hash);
  }
  return block;
}
