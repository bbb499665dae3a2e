// Extent trees (kernel Documentation/filesystems/ext4/ifork.rst; spec/compact-ext4.md §8):
// a 12-byte header, then leaf extents (depth 0) or index entries pointing at the next
// level. The root sits in i_block (4 entries), the other nodes fill one block each.

import type { BlockMapContext, BlockRun } from './block-run.js';
import { crc32c } from './crc32c.js';
import { corrupt } from './fault.js';

export const EXTENT_MAGIC = 0xf30a;
export const EXTENT_HEADER_SIZE = 12;
export const EXTENT_ENTRY_SIZE = 12;
/** ee_len above this marks an unwritten (uninitialized) extent of ee_len - 32768 blocks. */
export const EXTENT_INIT_MAX_LEN = 32768;
/** EXT4_MAX_EXTENT_DEPTH: a deeper tree is corrupt (and could loop). */
export const MAX_EXTENT_DEPTH = 5;
/** Logical block numbers are 32 bits. */
export const MAX_LOGICAL_BLOCKS = 2 ** 32;

export interface ExtentHeader {
  entries: number;
  max: number;
  depth: number;
}

export interface Extent {
  logical: number;
  start: number;
  length: number;
  uninitialized: boolean;
}

export interface ExtentIndex {
  logical: number;
  leaf: number;
}

export function parseExtentHeader(node: Buffer): ExtentHeader | null {
  if (node.length < EXTENT_HEADER_SIZE || node.readUInt16LE(0) !== EXTENT_MAGIC) return null;
  return { entries: node.readUInt16LE(2), max: node.readUInt16LE(4), depth: node.readUInt16LE(6) };
}

export function parseExtent(node: Buffer, i: number): Extent {
  const at = EXTENT_HEADER_SIZE + i * EXTENT_ENTRY_SIZE;
  const rawLength = node.readUInt16LE(at + 4);
  const uninitialized = rawLength > EXTENT_INIT_MAX_LEN;
  return {
    logical: node.readUInt32LE(at),
    start: node.readUInt32LE(at + 8) + node.readUInt16LE(at + 6) * 2 ** 32,
    length: uninitialized ? rawLength - EXTENT_INIT_MAX_LEN : rawLength,
    uninitialized,
  };
}

export function parseExtentIndex(node: Buffer, i: number): ExtentIndex {
  const at = EXTENT_HEADER_SIZE + i * EXTENT_ENTRY_SIZE;
  return { logical: node.readUInt32LE(at), leaf: node.readUInt32LE(at + 4) + node.readUInt16LE(at + 8) * 2 ** 32 };
}

/** The checksum tail of a non-root node: crc32c(inode seed, node up to the tail). */
function checkTail(ctx: BlockMapContext, block: number, node: Buffer, max: number): void {
  if (ctx.checksumSeed === undefined) return;
  const tail = EXTENT_HEADER_SIZE + max * EXTENT_ENTRY_SIZE;
  const stored = node.readUInt32LE(tail);
  const computed = crc32c(ctx.checksumSeed, node.subarray(0, tail));
  if (stored !== computed) throw corrupt(`inode ${ctx.inode}: extent block ${block} checksum 0x${stored.toString(16)} does not match (0x${computed.toString(16)})`);
}

/**
 * Where the walk has got to. Keys must rise strictly across the whole walk at every level,
 * so a subtree reached twice (an index pointing at itself, an ancestor or a sibling's
 * child) fails at its first entry instead of being walked again: work stays linear.
 */
interface WalkState {
  lastIndexKey: number[];
  nextLogical: number;
}

/** The extents of the tree rooted in `iBlock`, in logical order, with the tree blocks. */
export function* walkExtentTree(iBlock: Buffer, ctx: BlockMapContext): Generator<BlockRun> {
  const header = parseExtentHeader(iBlock);
  if (!header) throw corrupt(`inode ${ctx.inode}: bad extent header magic 0x${iBlock.readUInt16LE(0).toString(16)} in i_block`);
  if (header.depth > MAX_EXTENT_DEPTH) throw corrupt(`inode ${ctx.inode}: extent tree depth ${header.depth} (at most ${MAX_EXTENT_DEPTH})`);
  yield* walkNode(iBlock, header, 'i_block', ctx, { lastIndexKey: [], nextLogical: 0 });
}

function* walkNode(node: Buffer, header: ExtentHeader, where: string, ctx: BlockMapContext, state: WalkState): Generator<BlockRun> {
  const capacity = Math.floor((node.length - EXTENT_HEADER_SIZE) / EXTENT_ENTRY_SIZE);
  if (header.max > capacity || header.entries > header.max) {
    throw corrupt(`inode ${ctx.inode}: extent node in ${where} has ${header.entries} of ${header.max} entries, room for ${capacity}`);
  }
  if (header.depth > 0 && header.entries === 0) throw corrupt(`inode ${ctx.inode}: empty extent index node in ${where}`);
  if (header.depth === 0) {
    for (let i = 0; i < header.entries; i++) yield leafRun(parseExtent(node, i), where, ctx, state);
    return;
  }
  for (let i = 0; i < header.entries; i++) {
    const index = parseExtentIndex(node, i);
    const last = state.lastIndexKey[header.depth];
    if (last !== undefined && index.logical <= last) {
      throw corrupt(`inode ${ctx.inode}: extent index in ${where} for logical block ${index.logical} repeats or goes back (a loop or overlapping tree)`);
    }
    state.lastIndexKey[header.depth] = index.logical;
    const childWhere = `block ${index.leaf}`;
    const child = ctx.readBlock(index.leaf, `extent tree node of inode ${ctx.inode}`);
    const childHeader = parseExtentHeader(child);
    if (!childHeader) throw corrupt(`inode ${ctx.inode}: extent ${childWhere} has bad magic 0x${child.readUInt16LE(0).toString(16)}`);
    if (childHeader.depth !== header.depth - 1) {
      throw corrupt(`inode ${ctx.inode}: extent ${childWhere} has depth ${childHeader.depth} under a node of depth ${header.depth} (a loop?)`);
    }
    checkTail(ctx, index.leaf, child, childHeader.max);
    yield { kind: 'tree', logical: index.logical, physical: index.leaf, length: 1 };
    yield* walkNode(child, childHeader, childWhere, ctx, state);
  }
}

function leafRun(extent: Extent, where: string, ctx: BlockMapContext, state: WalkState): BlockRun {
  const { logical, start, length } = extent;
  if (length === 0) throw corrupt(`inode ${ctx.inode}: zero-length extent at logical block ${logical} in ${where}`);
  if (logical < state.nextLogical) throw corrupt(`inode ${ctx.inode}: extent at logical block ${logical} in ${where} overlaps the one before`);
  if (logical + length > MAX_LOGICAL_BLOCKS) throw corrupt(`inode ${ctx.inode}: extent at logical block ${logical} runs past 2^32 blocks`);
  ctx.checkRange(start, length, `extent of inode ${ctx.inode} at logical block ${logical}`);
  state.nextLogical = logical + length;
  return { kind: extent.uninitialized ? 'unwritten' : 'data', logical, physical: start, length };
}
