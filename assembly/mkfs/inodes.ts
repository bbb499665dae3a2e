// The first inode-table block of group 0, the only one mke2fs leaves non-zero: inodes
// 1..10 are reserved (written zeroed, with a checksum, by write_reserved_inodes; inode
// 1 also gets times from ext2fs_update_bb_inode), 2 is the root directory and 11 is
// lost+found. Offsets: ext4 wiki "Inode Table".

import { crc32c, crc32cU32 } from "../ext4/crc32c";
import { S_IFDIR, INODE_FLAG_EXTENTS, INODE_ROOT } from "../ext4/constants";
import { putHeader, putExtent } from "../ext4/extents";
import { INODE_SIZE, FIRST_INODE, BLOCK_SIZE } from "./geometry";

const EXTRA_ISIZE: u16 = 32;
const CHECKSUM_HI_EXTRA_END: u16 = 4; // i_checksum_hi is covered from this extra size on
const EXTENTS_IN_INODE: u32 = 4;

export class DirectoryInode {
  mode: u16 = 0;
  uid: u32 = 0;
  gid: u32 = 0;
  links: u16 = 0;
  /** Its data blocks in logical order. */
  blocks: StaticArray<i64> = new StaticArray<i64>(0);
}

/** One extent per run of consecutive blocks; directories here have at most 4 blocks, so they fit. */
function putExtents(iblock: usize, blocks: StaticArray<i64>): void {
  let extents: u32 = 0;
  let runStart = 0;
  for (let i = 1; i <= blocks.length; i++) {
    if (i < blocks.length && blocks[i] == blocks[i - 1] + 1) continue;
    putExtent(iblock + 12 + <usize>extents * 12, <u32>runStart, <u32>(i - runStart), <u32>blocks[runStart]);
    extents++;
    runStart = i;
  }
  putHeader(iblock, extents, EXTENTS_IN_INODE, 0);
}

function putDirectoryInode(ptr: usize, d: DirectoryInode, time: u32): void {
  const bytes = <u64>d.blocks.length * <u64>BLOCK_SIZE;
  store<u16>(ptr + 0x00, S_IFDIR | d.mode);
  store<u16>(ptr + 0x02, <u16>d.uid);
  store<u32>(ptr + 0x04, <u32>bytes);
  store<u32>(ptr + 0x08, time);
  store<u32>(ptr + 0x0c, time);
  store<u32>(ptr + 0x10, time);
  store<u16>(ptr + 0x18, <u16>d.gid);
  store<u16>(ptr + 0x1a, d.links);
  store<u32>(ptr + 0x1c, <u32>(bytes / 512));
  store<u32>(ptr + 0x20, INODE_FLAG_EXTENTS);
  putExtents(ptr + 0x28, d.blocks);
  store<u16>(ptr + 0x78, <u16>(d.uid >> 16));
  store<u16>(ptr + 0x7a, <u16>(d.gid >> 16));
  store<u16>(ptr + 0x80, EXTRA_ISIZE);
  store<u32>(ptr + 0x90, time); // crtime
}

/** csum.c ext2fs_inode_csum_set; generation is 0 for all of these inodes. */
function setInodeChecksum(ptr: usize, number: u32, checksumSeed: u32): void {
  const hasHigh = load<u16>(ptr + 0x80) >= CHECKSUM_HI_EXTRA_END;
  let crc = crc32cU32(crc32cU32(checksumSeed, number), 0);
  crc = crc32c(crc, ptr, <i32>INODE_SIZE);
  store<u16>(ptr + 0x7c, <u16>crc);
  if (hasHigh) store<u16>(ptr + 0x82, <u16>(crc >> 16));
}

/** Fills the zeroed first block of group 0's inode table. */
export function putFirstInodeBlock(ptr: usize, root: DirectoryInode, lostAndFound: DirectoryInode, time: u32, checksumSeed: u32): void {
  // The bad-blocks inode keeps only the times ext2fs_update_bb_inode gives it.
  store<u32>(ptr + 0x08, time);
  store<u32>(ptr + 0x0c, time);
  store<u32>(ptr + 0x10, time);
  putDirectoryInode(ptr + <usize>(INODE_ROOT - 1) * INODE_SIZE, root, time);
  putDirectoryInode(ptr + <usize>(FIRST_INODE - 1) * INODE_SIZE, lostAndFound, time);
  for (let number: u32 = 1; number <= FIRST_INODE; number++) {
    setInodeChecksum(ptr + <usize>(number - 1) * INODE_SIZE, number, checksumSeed);
  }
}
