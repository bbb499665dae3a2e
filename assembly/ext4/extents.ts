// Extent trees for contiguous files (spec §8): up to 4 extents in i_block, else a
// depth-1 tree whose leaves follow the data. hcsshim's leaf-count bug (spec §8) is kept
// in profile hcsshim; `fixed` counts leaves and their entries as ext4 needs.

import { MAX_EXTENT_BLOCKS, EXTENTS_PER_LEAF, EXTENTS_IN_INODE } from "./constants";

const EXTENT_MAGIC: u16 = 0xf30a;
const HEADER_SIZE: i32 = 12;
const ENTRY_SIZE: i32 = 12;

export function extentCount(blocks: u64): u32 {
  return <u32>((blocks + MAX_EXTENT_BLOCKS - 1) / MAX_EXTENT_BLOCKS);
}

/** Number of leaf blocks written after the data (0 when the extents fit in the inode). */
export function leafCount(blocks: u64, fixed: bool): u32 {
  const extents = extentCount(blocks);
  if (extents <= EXTENTS_IN_INODE) return 0;
  // hcsshim adds a leaf too many when the count is a multiple of 340.
  if (fixed) return (extents + EXTENTS_PER_LEAF - 1) / EXTENTS_PER_LEAF;
  return extents / EXTENTS_PER_LEAF + 1;
}

export function putHeader(ptr: usize, entries: u32, max: u32, depth: u16): void {
  store<u16>(ptr, EXTENT_MAGIC);
  store<u16>(ptr + 2, <u16>entries);
  store<u16>(ptr + 4, <u16>max);
  store<u16>(ptr + 6, depth);
  store<u32>(ptr + 8, 0);
}

export function putExtent(ptr: usize, logical: u32, length: u32, physical: u32): void {
  store<u32>(ptr, logical);
  store<u16>(ptr + 4, <u16>length);
  store<u16>(ptr + 6, 0);
  store<u32>(ptr + 8, physical);
}

/** Fills extents k in [first, first+count) the way hcsshim does, with 32-bit wrap. */
function putExtents(ptr: usize, first: u32, count: u32, start: u32, blocks: u64): void {
  for (let i: u32 = 0; i < count; i++) {
    const k = first + i;
    const logical = k * MAX_EXTENT_BLOCKS;
    let length = <u32>blocks - logical;
    if (length > MAX_EXTENT_BLOCKS) length = MAX_EXTENT_BLOCKS;
    putExtent(ptr + <usize>(HEADER_SIZE + <i32>i * ENTRY_SIZE), logical, length, start + logical);
  }
}

/** Writes the 60-byte i_block root. For a depth-1 tree, leaves start at leafStart. */
export function putExtentRoot(iblock: usize, start: u32, blocks: u64, leafStart: u32, fixed: bool): void {
  const extents = extentCount(blocks);
  if (extents <= EXTENTS_IN_INODE) {
    putHeader(iblock, extents, EXTENTS_IN_INODE, 0);
    putExtents(iblock, 0, extents, start, blocks);
    return;
  }
  const leaves = leafCount(blocks, fixed);
  putHeader(iblock, leaves, EXTENTS_IN_INODE, 1);
  for (let i: u32 = 0; i < leaves; i++) {
    const entry = iblock + <usize>(HEADER_SIZE + <i32>i * ENTRY_SIZE);
    store<u32>(entry, i * EXTENTS_PER_LEAF * MAX_EXTENT_BLOCKS);
    store<u32>(entry + 4, leafStart + i);
    store<u16>(entry + 8, 0);
    store<u16>(entry + 10, 0);
  }
}

/** Writes leaf i (a zeroed 4096-byte block at ptr). */
export function putExtentLeaf(ptr: usize, leaf: u32, start: u32, blocks: u64, fixed: bool): void {
  const extents = extentCount(blocks);
  // hcsshim's bug (spec §8): the count uses the leaf count where 340 was meant.
  const stride = fixed ? <i64>EXTENTS_PER_LEAF : <i64>leafCount(blocks, false);
  let entries = <i64>extents - <i64>leaf * stride;
  if (entries > <i64>EXTENTS_PER_LEAF) entries = <i64>EXTENTS_PER_LEAF;
  if (entries < 0) entries = 0;
  putHeader(ptr, <u32>entries, EXTENTS_PER_LEAF, 0);
  putExtents(ptr, leaf * EXTENTS_PER_LEAF, <u32>entries, start, blocks);
}
