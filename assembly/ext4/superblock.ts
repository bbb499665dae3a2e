// The superblock (spec §15) and group descriptors (spec §14); every field not set is 0.

import { BLOCKS_PER_GROUP, INODE_SIZE, INODE_FIRST_NON_RESERVED, FEATURE_COMPAT, FEATURE_INCOMPAT, FEATURE_INCOMPAT_INLINE_DATA, FEATURE_RO_COMPAT } from "./constants";

export const SUPERBLOCK_OFFSET: i32 = 1024;
export const SUPERBLOCK_SIZE: i32 = 1024;
const EXT4_MAGIC: u16 = 0xef53;

export class SuperblockFields {
  inodesCount: u32 = 0;
  blocksCount: u32 = 0;
  freeBlocks: u32 = 0;
  freeInodes: u32 = 0;
  inodesPerGroup: u32 = 0;
  inlineData: bool = false;
}

export function putSuperblock(ptr: usize, f: SuperblockFields): void {
  store<u32>(ptr + 0x00, f.inodesCount);
  store<u32>(ptr + 0x04, f.blocksCount);
  store<u32>(ptr + 0x0c, f.freeBlocks);
  store<u32>(ptr + 0x10, f.freeInodes);
  store<u32>(ptr + 0x14, 0); // first data block
  store<u32>(ptr + 0x18, 2); // log block size: 1024 << 2
  store<u32>(ptr + 0x1c, 2); // log cluster size
  store<u32>(ptr + 0x20, BLOCKS_PER_GROUP);
  store<u32>(ptr + 0x24, BLOCKS_PER_GROUP);
  store<u32>(ptr + 0x28, f.inodesPerGroup);
  store<u16>(ptr + 0x38, EXT4_MAGIC);
  store<u16>(ptr + 0x3a, 1); // state: clean
  store<u16>(ptr + 0x3c, 1); // errors: continue
  store<u32>(ptr + 0x4c, 1); // dynamic revision
  store<u32>(ptr + 0x54, INODE_FIRST_NON_RESERVED);
  store<u16>(ptr + 0x58, <u16>INODE_SIZE);
  store<u32>(ptr + 0x5c, FEATURE_COMPAT);
  store<u32>(ptr + 0x60, FEATURE_INCOMPAT | (f.inlineData ? FEATURE_INCOMPAT_INLINE_DATA : 0));
  store<u32>(ptr + 0x64, FEATURE_RO_COMPAT);
  store<u16>(ptr + 0x15c, 24); // min extra isize
  store<u16>(ptr + 0x15e, 24); // want extra isize
  store<u8>(ptr + 0x174, 31); // log groups per flex
  store<u32>(ptr + 0x268, INODE_FIRST_NON_RESERVED); // lost+found
}

export class GroupDescriptor {
  blockBitmap: u32 = 0;
  inodeBitmap: u32 = 0;
  inodeTable: u32 = 0;
  freeBlocks: u32 = 0;
  freeInodes: u32 = 0;
  usedDirs: u32 = 0;
}

export function putGroupDescriptor(ptr: usize, d: GroupDescriptor): void {
  store<u32>(ptr + 0x00, d.blockBitmap);
  store<u32>(ptr + 0x04, d.inodeBitmap);
  store<u32>(ptr + 0x08, d.inodeTable);
  store<u16>(ptr + 0x0c, <u16>d.freeBlocks);
  store<u16>(ptr + 0x0e, <u16>d.freeInodes);
  store<u16>(ptr + 0x10, <u16>d.usedDirs);
}
