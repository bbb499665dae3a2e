// Block and inode bitmaps of one group (spec §13). hcsshim leaves the inode bitmap's
// bits past inodes_per_group clear; the kernel and e2fsck want that padding set (mke2fs
// sets it), so profile fixed sets it.

import { BLOCK_SIZE, BLOCKS_PER_GROUP } from "./constants";

function setBits(ptr: usize, from: u32, to: u32): void {
  for (let bit = from; bit < to; bit++) {
    const byte = ptr + <usize>(bit >> 3);
    store<u8>(byte, load<u8>(byte) | <u8>(<u32>1 << (bit & 7)));
  }
}

function clearBits(ptr: usize, from: u32, to: u32): void {
  for (let bit = from; bit < to; bit++) {
    const byte = ptr + <usize>(bit >> 3);
    store<u8>(byte, load<u8>(byte) & ~<u8>(<u32>1 << (bit & 7)));
  }
}

export function countBits(ptr: usize, bytes: i32): u32 {
  let n: u32 = 0;
  for (let i = 0; i < bytes; i += 8) n += <u32>popcnt<u64>(load<u64>(ptr + <usize>i));
  return n;
}

/** Fills a zeroed block bitmap for group g; returns its used-block count. */
export function putBlockBitmap(ptr: usize, group: u32, groups: u32, validEnd: u32, diskBlocks: u32, usedGdBlocks: u32, gdBlocks: u32): u32 {
  const first = group * BLOCKS_PER_GROUP;
  if (first + BLOCKS_PER_GROUP <= validEnd) {
    memory.fill(ptr, 0xff, BLOCK_SIZE);
  } else if (first < validEnd) {
    setBits(ptr, 0, validEnd - first);
  }
  if (group == 0 && gdBlocks > usedGdBlocks) clearBits(ptr, 1 + usedGdBlocks, gdBlocks + 1);
  if (group == groups - 1 && diskBlocks % BLOCKS_PER_GROUP != 0) setBits(ptr, diskBlocks % BLOCKS_PER_GROUP, BLOCKS_PER_GROUP);
  return countBits(ptr, BLOCK_SIZE);
}

/**
 * Fills a zeroed inode bitmap: inodes 1..inodeCount exist, and with setPadding the bits
 * from inodesPerGroup to the block's end are set; returns the used count (no padding).
 */
export function putInodeBitmap(ptr: usize, group: u32, inodesPerGroup: u32, inodeCount: u32, setPadding: bool): u32 {
  if (setPadding) setBits(ptr, inodesPerGroup, <u32>BLOCK_SIZE * 8);
  const first = group * inodesPerGroup + 1;
  if (inodeCount < first) return 0;
  let last = inodeCount - first + 1;
  if (last > inodesPerGroup) last = inodesPerGroup;
  setBits(ptr, 0, last);
  return last;
}
