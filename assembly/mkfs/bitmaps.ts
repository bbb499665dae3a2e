// Block and inode bitmaps as rw_bitmaps.c write_bitmaps writes them: the block bitmap
// of the last group has the bits past the end of the disk set; an inode bitmap block
// is all ones past inodes_per_group. Checksums cover the block bitmap's 4096 bytes and
// the inode bitmap's inodes_per_group / 8 bytes (csum.c).

import { crc32c } from "../ext4/crc32c";
import { setBitRange } from "./used-blocks";
import { Placement } from "./placement";
import { BLOCK_SIZE, BLOCKS_PER_GROUP, FIRST_INODE } from "./geometry";

/** Fills the zeroed block at ptr with group `group`'s block bitmap; returns its checksum. */
export function putBlockBitmap(ptr: usize, p: Placement, group: u32, checksumSeed: u32): u32 {
  const g = p.geometry;
  const first = g.firstBlock(group);
  const count = g.blocksIn(group);
  p.used.putBits(ptr, first, first + count);
  if (count < BLOCKS_PER_GROUP) setBitRange(ptr, <u32>count, <u32>BLOCKS_PER_GROUP);
  return crc32c(checksumSeed, ptr, <i32>BLOCK_SIZE);
}

/** Group 0's inode bitmap (inodes 1..11 in use) into the zeroed block at ptr; returns its checksum. */
export function putFirstInodeBitmap(ptr: usize, inodesPerGroup: u32, checksumSeed: u32): u32 {
  setBitRange(ptr, 0, FIRST_INODE);
  setBitRange(ptr, inodesPerGroup, <u32>BLOCK_SIZE * 8);
  return crc32c(checksumSeed, ptr, <i32>(inodesPerGroup / 8));
}
