// The size arithmetic of mke2fs 1.47 (misc/mke2fs.c PRS and lib/ext2fs/initialize.c)
// for `mke2fs -t ext4` with Debian 12's mke2fs.conf: 4 KiB blocks, 256-byte inodes,
// 16 KiB per inode ("default" size type) or 32 KiB ("big", 4 TiB and up), 5% reserved,
// flex_bg of 16 groups, sparse_super2 with backups in group 1 and the last group, no
// resize inode.

export const BLOCK_SIZE: i64 = 4096;
export const LOG_BLOCK_SIZE: u32 = 2; // 1024 << 2
export const BLOCKS_PER_GROUP: i64 = 32768; // one bitmap block of bits
export const INODE_SIZE: u32 = 256;
export const INODES_PER_BLOCK: u32 = 16;
export const DESCRIPTOR_SIZE: i32 = 64; // 64bit feature
export const DESCRIPTORS_PER_BLOCK: i64 = 64;
export const LOG_GROUPS_PER_FLEX: u32 = 4;
export const GROUPS_PER_FLEX: u32 = 16;
export const FIRST_INODE: u32 = 11; // lost+found; 1..10 are reserved
/** mke2fs picks the "small" type (1 KiB blocks) below this; that layout is not written here. */
export const MIN_SIZE: i64 = 512 << 20;
/** From 16 TiB mke2fs picks the "huge" type; not written here either. */
export const MAX_SIZE: i64 = <i64>16 << 40;
const BIG_TYPE_SIZE: i64 = <i64>4 << 40;
const MAX_INODES_PER_GROUP: u32 = 65536 - INODES_PER_BLOCK; // EXT2_MAX_INODES_PER_GROUP
const RESERVED_RATIO: f64 = 5.0; // mke2fs.conf reserved_ratio default
const LAST_GROUP_SLACK: i64 = 50; // initialize.c: a last group smaller than overhead + 50 is dropped

export class Geometry {
  blocks: i64 = 0;
  groups: u32 = 0;
  descriptorBlocks: u32 = 0;
  inodesPerGroup: u32 = 0;
  inodeTableBlocks: u32 = 0;
  inodes: u32 = 0;
  reservedBlocks: i64 = 0;
  /** s_backup_bgs: the groups other than 0 that hold a superblock and descriptor copy. */
  backupGroup0: u32 = 0;
  backupGroup1: u32 = 0;

  firstBlock(group: u32): i64 {
    return <i64>group * BLOCKS_PER_GROUP;
  }

  lastBlock(group: u32): i64 {
    return group == this.groups - 1 ? this.blocks - 1 : this.firstBlock(group) + BLOCKS_PER_GROUP - 1;
  }

  blocksIn(group: u32): i64 {
    return this.lastBlock(group) - this.firstBlock(group) + 1;
  }

  groupOf(block: i64): u32 {
    return <u32>(block / BLOCKS_PER_GROUP);
  }

  /** sparse_super2: group 0 and the (at most two) backup groups. */
  hasSuperblock(group: u32): bool {
    if (group == 0) return true;
    return group == this.backupGroup0 || group == this.backupGroup1;
  }
}

function ceilDiv(a: i64, b: i64): i64 {
  return (a + b - 1) / b;
}

/** The geometry mke2fs gives a file system of `sizeBytes`; null outside [MIN_SIZE, MAX_SIZE). */
export function geometryFor(sizeBytes: i64): Geometry | null {
  if (sizeBytes < MIN_SIZE || sizeBytes >= MAX_SIZE) return null;
  const inodeRatio: i64 = sizeBytes < BIG_TYPE_SIZE ? 16384 : 32768;
  const requestedBlocks = sizeBytes / BLOCK_SIZE;
  // PRS: inode and reserved counts come from the full size, before initialize trims it.
  const requestedInodes = requestedBlocks * BLOCK_SIZE / inodeRatio;
  const requestedReserved = <i64>(RESERVED_RATIO * <f64>requestedBlocks / 100.0);

  const g = new Geometry();
  g.blocks = requestedBlocks;
  g.reservedBlocks = requestedReserved;
  for (;;) {
    g.groups = <u32>ceilDiv(g.blocks, BLOCKS_PER_GROUP);
    g.descriptorBlocks = <u32>ceilDiv(<i64>g.groups, DESCRIPTORS_PER_BLOCK);
    let perGroup = <u32>ceilDiv(requestedInodes, <i64>g.groups);
    if (perGroup > MAX_INODES_PER_GROUP) perGroup = MAX_INODES_PER_GROUP;
    // Fill whole inode-table blocks, then keep a multiple of 8 (initialize.c).
    for (;;) {
      g.inodeTableBlocks = <u32>ceilDiv(<i64>perGroup * INODE_SIZE, BLOCK_SIZE);
      g.inodesPerGroup = (g.inodeTableBlocks * INODES_PER_BLOCK) & ~7;
      g.inodeTableBlocks = <u32>ceilDiv(<i64>g.inodesPerGroup * INODE_SIZE, BLOCK_SIZE);
      if (<u64>g.inodesPerGroup * <u64>g.groups <= 0xffffffff) break;
      perGroup--;
    }
    g.inodes = g.inodesPerGroup * g.groups;
    // The last group also holds a backup (sparse_super2 keeps one there) and must fit it.
    const lastGroupOverhead = <i64>(2 + g.inodeTableBlocks) + 1 + <i64>g.descriptorBlocks;
    const remainder = g.blocks % BLOCKS_PER_GROUP;
    if (remainder == 0 || remainder >= lastGroupOverhead + LAST_GROUP_SLACK) break;
    g.blocks -= remainder;
    const ratio = 100.0 * <f64>requestedReserved / <f64>requestedBlocks;
    g.reservedBlocks = <i64>(ratio * <f64>g.blocks / 100.0);
  }
  // initialize.c: backups requested in group 1 and the last group, clamped and ordered.
  let first: u32 = 1;
  let second: u32 = 0xffffffff;
  if (first >= g.groups) first = g.groups - 1;
  if (second >= g.groups) second = g.groups - 1;
  if (first == second) second = 0;
  if (first > second) {
    const t = first;
    first = second;
    second = t;
  }
  g.backupGroup0 = first;
  g.backupGroup1 = second;
  return g;
}
