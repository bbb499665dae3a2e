// On-disk constants of the compact ext4 layout (spec/compact-ext4.md §4).

export const BLOCK_SIZE: i32 = 4096;
export const BLOCK_SHIFT: i32 = 12;
export const BLOCKS_PER_GROUP: u32 = 32768;
export const INODE_SIZE: i32 = 256;
export const INODES_PER_BLOCK: u32 = 16;
export const GROUP_DESCRIPTOR_SIZE: i32 = 32;
export const DESCRIPTORS_PER_BLOCK: u32 = 128;
export const MAX_INODES_PER_GROUP: u32 = 32768; // one bitmap block of inode bits
export const MAX_EXTENT_BLOCKS: u32 = 32768;
export const EXTENTS_PER_LEAF: u32 = 340; // (4096 - 12) / 12
export const EXTENTS_IN_INODE: u32 = 4;
export const FAST_SYMLINK_MAX: i32 = 59;
export const INLINE_DATA_MAX: i64 = 136; // 60 in i_block + 76 in system.data
export const INODE_BLOCK_BYTES: i32 = 60;
export const MAX_FILE_SIZE: i64 = 137438953472; // 128 GiB
export const MAX_LINKS: u32 = 65000;
export const DEFAULT_MAX_DISK_SIZE: i64 = 17179869184; // 16 GiB
export const LARGEST_MAX_DISK_SIZE: i64 = 17592186044416; // 16 TiB

export const INODE_ROOT: u32 = 2;
export const INODE_FIRST_NON_RESERVED: u32 = 11; // lost+found

export const S_IFMT: u16 = 0xf000;
export const S_IFSOCK: u16 = 0xc000;
export const S_IFLNK: u16 = 0xa000;
export const S_IFREG: u16 = 0x8000;
export const S_IFBLK: u16 = 0x6000;
export const S_IFDIR: u16 = 0x4000;
export const S_IFCHR: u16 = 0x2000;
export const S_IFIFO: u16 = 0x1000;

export const INODE_FLAG_HUGE_FILE: u32 = 0x40000;
export const INODE_FLAG_EXTENTS: u32 = 0x80000;
export const INODE_FLAG_INLINE_DATA: u32 = 0x10000000;

export const FEATURE_COMPAT: u32 = 0x208; // EXT_ATTR | SPARSE_SUPER2
export const FEATURE_INCOMPAT: u32 = 0x242; // FILETYPE | EXTENTS | FLEX_BG
export const FEATURE_INCOMPAT_INLINE_DATA: u32 = 0x8000;
export const FEATURE_RO_COMPAT: u32 = 0x104a; // LARGE_FILE | HUGE_FILE | EXTRA_ISIZE | READONLY

export function blocksFor(bytes: i64): i64 {
  return (bytes + BLOCK_SIZE - 1) >> BLOCK_SHIFT;
}
