// Block group descriptors (kernel Documentation/filesystems/ext4/group_descr.rst):
// 32 bytes each, or s_desc_size (64) with the 64bit feature, whose second half holds the
// high words. Where the descriptor blocks lie (after the superblock, or with meta_bg one
// per meta group) is in descriptorBlock.

import { crc32c, crc32cU32 } from './crc32c.js';
import { corrupt } from './fault.js';
import {
  COMPAT_SPARSE_SUPER2,
  INCOMPAT_META_BG,
  RO_COMPAT_SPARSE_SUPER,
  type Superblock,
} from './superblock.js';

export const GD = {
  blockBitmapLo: 0x00,
  inodeBitmapLo: 0x04,
  inodeTableLo: 0x08,
  freeBlocksCountLo: 0x0c,
  freeInodesCountLo: 0x0e,
  usedDirsCountLo: 0x10,
  flags: 0x12,
  itableUnusedLo: 0x1c,
  checksum: 0x1e,
  blockBitmapHi: 0x20,
  inodeBitmapHi: 0x24,
  inodeTableHi: 0x28,
  freeBlocksCountHi: 0x2c,
  freeInodesCountHi: 0x2e,
  usedDirsCountHi: 0x30,
  itableUnusedHi: 0x32,
} as const;

/** bg_flags: the inode table and bitmap of the group were never initialised. */
export const BG_INODE_UNINIT = 0x1;
export const BG_BLOCK_UNINIT = 0x2;

export interface GroupDescriptor {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocksCount: number;
  freeInodesCount: number;
  usedDirsCount: number;
  flags: number;
  /** Inodes at the end of the table never used (valid with gdt_csum or metadata_csum). */
  itableUnused: number;
  checksum: number;
}

/** Parses the descriptor at `offset` of `buf`; `size` is 32 or the 64bit s_desc_size. */
export function parseGroupDescriptor(buf: Buffer, offset = 0, size = 32): GroupDescriptor {
  const wide = size >= 64;
  const lo32 = (at: number) => buf.readUInt32LE(offset + at);
  const lo16 = (at: number) => buf.readUInt16LE(offset + at);
  const hi32 = (at: number) => (wide ? buf.readUInt32LE(offset + at) * 2 ** 32 : 0);
  const hi16 = (at: number) => (wide ? buf.readUInt16LE(offset + at) * 0x10000 : 0);
  return {
    blockBitmap: lo32(GD.blockBitmapLo) + hi32(GD.blockBitmapHi),
    inodeBitmap: lo32(GD.inodeBitmapLo) + hi32(GD.inodeBitmapHi),
    inodeTable: lo32(GD.inodeTableLo) + hi32(GD.inodeTableHi),
    freeBlocksCount: lo16(GD.freeBlocksCountLo) + hi16(GD.freeBlocksCountHi),
    freeInodesCount: lo16(GD.freeInodesCountLo) + hi16(GD.freeInodesCountHi),
    usedDirsCount: lo16(GD.usedDirsCountLo) + hi16(GD.usedDirsCountHi),
    flags: lo16(GD.flags),
    itableUnused: lo16(GD.itableUnusedLo) + hi16(GD.itableUnusedHi),
    checksum: lo16(GD.checksum),
  };
}

/** metadata_csum: the low 16 bits of crc32c(seed, group number, descriptor without bg_checksum). */
export function groupDescriptorChecksum(seed: number, group: number, raw: Buffer): number {
  let crc = crc32cU32(seed, group);
  crc = crc32c(crc, raw.subarray(0, GD.checksum));
  crc = crc32c(crc, Buffer.alloc(2));
  crc = crc32c(crc, raw.subarray(GD.checksum + 2));
  return crc & 0xffff;
}

const isPowerOf = (n: number, base: number): boolean => {
  let p = 1;
  while (p < n) p *= base;
  return p === n;
};

/** Whether group `g` holds a superblock (and descriptor) backup (super.rst, sparse_super/2). */
export function groupHasSuperblock(sb: Superblock, g: number): boolean {
  if (g === 0) return true;
  if (sb.featureCompat & COMPAT_SPARSE_SUPER2) return g === sb.backupBgs[0] || g === sb.backupBgs[1];
  if ((sb.featureRoCompat & RO_COMPAT_SPARSE_SUPER) === 0) return true;
  return g === 1 || isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7);
}

/** The block holding the superblock (byte 1024): 1 with 1 KiB blocks, even under bigalloc, else 0. */
export function superblockBlock(sb: Superblock): number {
  return sb.blockSize === 1024 ? 1 : 0;
}

export function descriptorsPerBlock(sb: Superblock): number {
  return sb.blockSize / sb.descSize;
}

/**
 * The block holding descriptor block `nr` (the kernel's descriptor_loc): right after the
 * superblock, except that with meta_bg, from s_first_meta_bg on, each meta group of
 * descriptorsPerBlock groups keeps its one descriptor block in its own first group.
 */
export function descriptorBlock(sb: Superblock, nr: number): number {
  if ((sb.featureIncompat & INCOMPAT_META_BG) === 0 || nr < sb.firstMetaBg) return superblockBlock(sb) + 1 + nr;
  const firstGroup = nr * descriptorsPerBlock(sb);
  if (firstGroup >= sb.groupCount) throw corrupt(`meta_bg descriptor block ${nr} lies past the last group`);
  let hasSuper = groupHasSuperblock(sb, firstGroup) ? 1 : 0;
  // With 1 KiB blocks and block 0 as the first data block (bigalloc), block 1 is the superblock.
  if (sb.blockSize === 1024 && nr === 0 && sb.firstDataBlock === 0) hasSuper++;
  return sb.firstDataBlock + firstGroup * sb.blocksPerGroup + hasSuper;
}
