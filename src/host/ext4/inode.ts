// Inodes (kernel Documentation/filesystems/ext4/inodes.rst; spec/compact-ext4.md §16):
// the 128-byte base record, then i_extra_isize bytes of extra fields, then the in-inode
// xattr area up to the inode size.

import { crc32c, crc32cU32 } from './crc32c.js';

export const INODE = {
  mode: 0x00,
  uidLo: 0x02,
  sizeLo: 0x04,
  atime: 0x08,
  ctime: 0x0c,
  mtime: 0x10,
  dtime: 0x14,
  gidLo: 0x18,
  linksCount: 0x1a,
  blocksLo: 0x1c,
  flags: 0x20,
  block: 0x28,
  generation: 0x64,
  fileAclLo: 0x68,
  sizeHigh: 0x6c,
  blocksHigh: 0x74,
  fileAclHigh: 0x76,
  uidHigh: 0x78,
  gidHigh: 0x7a,
  checksumLo: 0x7c,
  extraIsize: 0x80,
  checksumHi: 0x82,
  ctimeExtra: 0x84,
  mtimeExtra: 0x88,
  atimeExtra: 0x8c,
  crtime: 0x90,
  crtimeExtra: 0x94,
} as const;

export const I_BLOCK_SIZE = 60;
/** The fixed part of every inode; i_extra_isize counts from here. */
export const INODE_GOOD_OLD_SIZE = 128;
export const ROOT_INODE = 2;

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

// i_flags (inodes.rst, "i_flags").
export const EXT4_INDEX_FL = 0x1000;
export const EXT4_ENCRYPT_FL = 0x800;
export const EXT4_HUGE_FILE_FL = 0x40000;
export const EXT4_EXTENTS_FL = 0x80000;
export const EXT4_EA_INODE_FL = 0x200000;
export const EXT4_INLINE_DATA_FL = 0x10000000;
export const EXT4_CASEFOLD_FL = 0x40000000;

export type InodeType = 'file' | 'dir' | 'symlink' | 'chr' | 'blk' | 'fifo' | 'sock' | 'none' | 'unknown';

export function inodeType(mode: number): InodeType {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'file';
    case S_IFDIR: return 'dir';
    case S_IFLNK: return 'symlink';
    case S_IFCHR: return 'chr';
    case S_IFBLK: return 'blk';
    case S_IFIFO: return 'fifo';
    case S_IFSOCK: return 'sock';
    case 0: return 'none';
    default: return 'unknown';
  }
}

export interface InodeTime {
  /** The raw 32-bit seconds field. */
  lo: number;
  /** The raw `_extra` field (0 when absent): 2 epoch bits, then nanoseconds << 2. */
  extra: number;
  /** As the kernel decodes it (ext4_decode_extra_time): (int32)lo + (epoch bits << 32). */
  seconds: number;
  nanoseconds: number;
}

export interface Inode {
  number: number;
  mode: number;
  type: InodeType;
  /** i_uid with l_i_uid_high. */
  uid: number;
  gid: number;
  /** i_size_lo + i_size_high << 32 (exact below 2^53; larger sizes are refused where data is read). */
  size: number;
  linksCount: number;
  /** The raw i_blocks (with l_i_blocks_high): 512-byte units, or file system blocks under EXT4_HUGE_FILE_FL. */
  blocks: number;
  flags: number;
  atime: InodeTime;
  ctime: InodeTime;
  mtime: InodeTime;
  /** Absent when the inode's extra fields do not reach i_crtime. */
  crtime?: InodeTime;
  dtime: number;
  generation: number;
  /** The 60 bytes of i_block (extent root, block map, symlink target, inline data or device). */
  iBlock: Buffer;
  /** The xattr block (i_file_acl), 0 for none. */
  fileAcl: number;
  extraIsize: number;
  /** The whole on-disk inode record. */
  raw: Buffer;
}

function decodeTime(lo: number, extra: number): InodeTime {
  return { lo, extra, seconds: (lo | 0) + (extra & 3) * 2 ** 32, nanoseconds: extra >>> 2 };
}

/** EXT4_FITS_IN_INODE: a field at `offset` of `size` bytes lies within 128 + i_extra_isize. */
function fitsInInode(raw: Buffer, extraIsize: number, offset: number, size: number): boolean {
  return offset + size <= INODE_GOOD_OLD_SIZE + extraIsize && offset + size <= raw.length;
}

/** Parses one inode record (normally 256 bytes). `hugeFileFeature` says whether l_i_blocks_high counts. */
export function parseInode(number: number, raw: Buffer, hugeFileFeature = true): Inode {
  const extraIsize = raw.length > INODE_GOOD_OLD_SIZE ? raw.readUInt16LE(INODE.extraIsize) : 0;
  const extra = (offset: number): number => (fitsInInode(raw, extraIsize, offset, 4) ? raw.readUInt32LE(offset) : 0);
  const mode = raw.readUInt16LE(INODE.mode);
  return {
    number,
    mode,
    type: inodeType(mode),
    uid: raw.readUInt16LE(INODE.uidLo) + raw.readUInt16LE(INODE.uidHigh) * 0x10000,
    gid: raw.readUInt16LE(INODE.gidLo) + raw.readUInt16LE(INODE.gidHigh) * 0x10000,
    size: raw.readUInt32LE(INODE.sizeLo) + raw.readUInt32LE(INODE.sizeHigh) * 2 ** 32,
    linksCount: raw.readUInt16LE(INODE.linksCount),
    blocks: raw.readUInt32LE(INODE.blocksLo) + (hugeFileFeature ? raw.readUInt16LE(INODE.blocksHigh) * 2 ** 32 : 0),
    flags: raw.readUInt32LE(INODE.flags),
    atime: decodeTime(raw.readUInt32LE(INODE.atime), extra(INODE.atimeExtra)),
    ctime: decodeTime(raw.readUInt32LE(INODE.ctime), extra(INODE.ctimeExtra)),
    mtime: decodeTime(raw.readUInt32LE(INODE.mtime), extra(INODE.mtimeExtra)),
    crtime: fitsInInode(raw, extraIsize, INODE.crtime, 4) ? decodeTime(raw.readUInt32LE(INODE.crtime), extra(INODE.crtimeExtra)) : undefined,
    dtime: raw.readUInt32LE(INODE.dtime),
    generation: raw.readUInt32LE(INODE.generation),
    iBlock: Buffer.from(raw.subarray(INODE.block, INODE.block + I_BLOCK_SIZE)),
    fileAcl: raw.readUInt32LE(INODE.fileAclLo) + raw.readUInt16LE(INODE.fileAclHigh) * 2 ** 32,
    extraIsize,
    raw,
  };
}

/** Bytes i_blocks accounts for: 512-byte sectors unless the inode has EXT4_HUGE_FILE_FL. */
export function allocatedBytes(inode: Inode, blockSize: number, hugeFileFeature: boolean): number {
  return inode.blocks * (hugeFileFeature && inode.flags & EXT4_HUGE_FILE_FL ? blockSize : 512);
}

/**
 * metadata_csum inode checksum (the kernel's ext4_inode_csum): crc32c over the inode
 * number, the generation and the record with both checksum fields taken as zero. Returns
 * [stored, computed], both cut to 16 bits when the record has no i_checksum_hi.
 */
export function inodeChecksums(seed: number, inode: Inode): [number, number] {
  const { raw, extraIsize } = inode;
  const hasHi = raw.length > INODE_GOOD_OLD_SIZE && fitsInInode(raw, extraIsize, INODE.checksumHi, 2);
  const copy = Buffer.from(raw);
  copy.writeUInt16LE(0, INODE.checksumLo);
  if (hasHi) copy.writeUInt16LE(0, INODE.checksumHi);
  let crc = crc32cU32(seed, inode.number);
  crc = crc32cU32(crc, inode.generation);
  crc = crc32c(crc, copy);
  const stored = raw.readUInt16LE(INODE.checksumLo) + (hasHi ? raw.readUInt16LE(INODE.checksumHi) * 0x10000 : 0);
  return hasHi ? [stored >>> 0, crc >>> 0] : [stored, crc & 0xffff];
}

/** The per-inode seed of extent, directory and inline checksums: crc32c(seed, number, generation). */
export function inodeChecksumSeed(seed: number, inode: Inode): number {
  return crc32cU32(crc32cU32(seed, inode.number), inode.generation);
}

export interface DeviceNumber {
  major: number;
  minor: number;
}

/**
 * A device inode's number as the kernel reads it (ext4_iget): the old 16-bit encoding in
 * i_block word 0 when that word is non-zero, else the new 32-bit encoding in word 1.
 */
export function decodeDevice(iBlock: Buffer): DeviceNumber {
  const old = iBlock.readUInt32LE(0);
  if (old !== 0) return { major: (old >>> 8) & 0xff, minor: old & 0xff };
  const word = iBlock.readUInt32LE(4);
  return { major: (word >>> 8) & 0xfff, minor: (word & 0xff) | ((word >>> 12) & 0xfff00) };
}
