// The superblock as mke2fs 1.47 writes it for `-t ext4 -O ^has_journal,sparse_super2,
// ^resize_inode` (ext4 wiki "Super Block" field offsets). The primary copy says clean;
// backups are written while the state is cleared (closefs.c ext2fs_flush2), carry
// their group number, and each has its own checksum.

import { crc32c } from "../ext4/crc32c";
import { Geometry, LOG_BLOCK_SIZE, BLOCKS_PER_GROUP, INODE_SIZE, FIRST_INODE, DESCRIPTOR_SIZE, LOG_GROUPS_PER_FLEX } from "./geometry";

export const SUPERBLOCK_BYTES: i32 = 1024;
export const PRIMARY_SUPERBLOCK_OFFSET: i64 = 1024;

const MAGIC: u16 = 0xef53;
const STATE_CLEAN: u16 = 1;
const ERRORS_CONTINUE: u16 = 1;
const DYNAMIC_REVISION: u32 = 1;
// ext_attr, dir_index, sparse_super2
const COMPAT: u32 = 0x0008 | 0x0020 | 0x0200;
// filetype, extents, 64bit, flex_bg
const INCOMPAT: u32 = 0x0002 | 0x0040 | 0x0080 | 0x0200;
// sparse_super, large_file, huge_file, dir_nlink, extra_isize, metadata_csum
const RO_COMPAT: u32 = 0x0001 | 0x0002 | 0x0008 | 0x0020 | 0x0040 | 0x0400;
const HASH_HALF_MD4: u8 = 1;
const MOUNT_USER_XATTR_ACL: u32 = 0x0004 | 0x0008; // mke2fs.conf default_mntopts
const FLAGS_SIGNED_HASH: u32 = 0x0001; // char is signed on the x86 and arm64 builds
const EXTRA_ISIZE: u16 = 32; // sizeof(ext2_inode_large) - 128
const CHECKSUM_CRC32C: u8 = 1;

export class SuperblockValues {
  freeBlocks: i64 = 0;
  freeInodes: u32 = 0;
  time: u32 = 0;
  kilobytesWritten: u64 = 0;
  overhead: i64 = 0;
  /** 16 bytes each. */
  uuid: usize = 0;
  hashSeed: usize = 0;
}

/** Fills the zeroed 1024 bytes at ptr with the copy kept in `group` (0 = primary). */
export function putSuperblock(ptr: usize, g: Geometry, v: SuperblockValues, group: u32): void {
  store<u32>(ptr + 0x00, g.inodes);
  store<u32>(ptr + 0x04, <u32>g.blocks);
  store<u32>(ptr + 0x08, <u32>g.reservedBlocks);
  store<u32>(ptr + 0x0c, <u32>v.freeBlocks);
  store<u32>(ptr + 0x10, v.freeInodes);
  store<u32>(ptr + 0x14, 0); // first data block
  store<u32>(ptr + 0x18, LOG_BLOCK_SIZE);
  store<u32>(ptr + 0x1c, LOG_BLOCK_SIZE); // cluster = block
  store<u32>(ptr + 0x20, <u32>BLOCKS_PER_GROUP);
  store<u32>(ptr + 0x24, <u32>BLOCKS_PER_GROUP);
  store<u32>(ptr + 0x28, g.inodesPerGroup);
  store<u32>(ptr + 0x30, v.time); // s_wtime (ext2fs_flush2)
  store<u16>(ptr + 0x36, 0xffff); // max mount count -1: enable_periodic_fsck = 0
  store<u16>(ptr + 0x38, MAGIC);
  store<u16>(ptr + 0x3a, group == 0 ? STATE_CLEAN : 0);
  store<u16>(ptr + 0x3c, ERRORS_CONTINUE);
  store<u32>(ptr + 0x40, v.time); // s_lastcheck
  store<u32>(ptr + 0x4c, DYNAMIC_REVISION);
  store<u32>(ptr + 0x54, FIRST_INODE);
  store<u16>(ptr + 0x58, <u16>INODE_SIZE);
  store<u16>(ptr + 0x5a, <u16>(group > 0xffff ? 0xffff : group));
  store<u32>(ptr + 0x5c, COMPAT);
  store<u32>(ptr + 0x60, INCOMPAT);
  store<u32>(ptr + 0x64, RO_COMPAT);
  memory.copy(ptr + 0x68, v.uuid, 16);
  memory.copy(ptr + 0xec, v.hashSeed, 16);
  store<u8>(ptr + 0xfc, HASH_HALF_MD4);
  store<u16>(ptr + 0xfe, <u16>DESCRIPTOR_SIZE);
  store<u32>(ptr + 0x100, MOUNT_USER_XATTR_ACL);
  store<u32>(ptr + 0x108, v.time); // s_mkfs_time
  store<u32>(ptr + 0x150, <u32>(g.blocks >> 32));
  store<u32>(ptr + 0x154, <u32>(g.reservedBlocks >> 32));
  store<u32>(ptr + 0x158, <u32>(v.freeBlocks >> 32));
  store<u16>(ptr + 0x15c, EXTRA_ISIZE);
  store<u16>(ptr + 0x15e, EXTRA_ISIZE);
  store<u32>(ptr + 0x160, FLAGS_SIGNED_HASH);
  store<u8>(ptr + 0x174, <u8>LOG_GROUPS_PER_FLEX);
  store<u8>(ptr + 0x175, CHECKSUM_CRC32C);
  store<u64>(ptr + 0x178, v.kilobytesWritten);
  store<u32>(ptr + 0x248, <u32>v.overhead);
  store<u32>(ptr + 0x24c, g.backupGroup0);
  store<u32>(ptr + 0x250, g.backupGroup1);
  store<u32>(ptr + 0x3fc, crc32c(0xffffffff, ptr, 0x3fc));
}
