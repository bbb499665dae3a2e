// The ext4 superblock: 1024 bytes at byte 1024 of the image (kernel
// Documentation/filesystems/ext4/super.rst; spec/compact-ext4.md §15). Offsets are
// relative to the superblock's first byte.

import { crc32c } from './crc32c.js';
import { notExt4, unsupported, corrupt } from './fault.js';

export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
export const EXT4_MAGIC = 0xef53;

export const SB = {
  inodesCount: 0x00,
  blocksCountLo: 0x04,
  freeBlocksCountLo: 0x0c,
  freeInodesCount: 0x10,
  firstDataBlock: 0x14,
  logBlockSize: 0x18,
  logClusterSize: 0x1c,
  blocksPerGroup: 0x20,
  clustersPerGroup: 0x24,
  inodesPerGroup: 0x28,
  magic: 0x38,
  state: 0x3a,
  errors: 0x3c,
  creatorOs: 0x48,
  revLevel: 0x4c,
  firstIno: 0x54,
  inodeSize: 0x58,
  featureCompat: 0x5c,
  featureIncompat: 0x60,
  featureRoCompat: 0x64,
  uuid: 0x68,
  hashSeed: 0xec,
  defHashVersion: 0xfc,
  descSize: 0xfe,
  firstMetaBg: 0x104,
  blocksCountHi: 0x150,
  freeBlocksCountHi: 0x158,
  minExtraIsize: 0x15c,
  wantExtraIsize: 0x15e,
  flags: 0x160,
  logGroupsPerFlex: 0x174,
  checksumType: 0x175,
  backupBgs: 0x24c,
  lpfIno: 0x268,
  checksumSeed: 0x270,
  checksum: 0x3fc,
} as const;

// Feature bits (super.rst, "feature_compat" / "feature_incompat" / "feature_ro_compat").
export const COMPAT_SPARSE_SUPER2 = 0x200;
export const INCOMPAT_COMPRESSION = 0x1;
export const INCOMPAT_FILETYPE = 0x2;
export const INCOMPAT_RECOVER = 0x4;
export const INCOMPAT_JOURNAL_DEV = 0x8;
export const INCOMPAT_META_BG = 0x10;
export const INCOMPAT_EXTENTS = 0x40;
export const INCOMPAT_64BIT = 0x80;
export const INCOMPAT_MMP = 0x100;
export const INCOMPAT_FLEX_BG = 0x200;
export const INCOMPAT_EA_INODE = 0x400;
export const INCOMPAT_DIRDATA = 0x1000;
export const INCOMPAT_CSUM_SEED = 0x2000;
export const INCOMPAT_LARGEDIR = 0x4000;
export const INCOMPAT_INLINE_DATA = 0x8000;
export const INCOMPAT_ENCRYPT = 0x10000;
export const INCOMPAT_CASEFOLD = 0x20000;
export const RO_COMPAT_SPARSE_SUPER = 0x1;
export const RO_COMPAT_HUGE_FILE = 0x8;
export const RO_COMPAT_GDT_CSUM = 0x10;
export const RO_COMPAT_BIGALLOC = 0x200;
export const RO_COMPAT_METADATA_CSUM = 0x400;

/**
 * Incompat features this reader understands. The others change on-disk layouts it
 * cannot decode (compression, dirdata) or mean the image is no file system (journal_dev);
 * encrypt is accepted here and refused per inode, where it is used.
 */
const READABLE_INCOMPAT =
  INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_META_BG | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_MMP |
  INCOMPAT_FLEX_BG | INCOMPAT_EA_INODE | INCOMPAT_CSUM_SEED | INCOMPAT_LARGEDIR | INCOMPAT_INLINE_DATA |
  INCOMPAT_ENCRYPT | INCOMPAT_CASEFOLD;

const INCOMPAT_REFUSED: Record<number, string> = {
  [INCOMPAT_COMPRESSION]: 'compression',
  [INCOMPAT_JOURNAL_DEV]: 'journal_dev (an external journal device, not a file system)',
  [INCOMPAT_DIRDATA]: 'dirdata',
};

export const MIN_BLOCK_SIZE = 1024;
export const MAX_BLOCK_SIZE = 65536;
const GOOD_OLD_INODE_SIZE = 128;
const GOOD_OLD_FIRST_INO = 11;

export interface Superblock {
  inodesCount: number;
  /** s_blocks_count_lo, plus _hi with the 64bit feature. */
  blocksCount: number;
  freeBlocksCount: number;
  freeInodesCount: number;
  firstDataBlock: number;
  blockSize: number;
  clusterSize: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  magic: number;
  state: number;
  errors: number;
  creatorOs: number;
  revLevel: number;
  /** 11 on revision 0 file systems. */
  firstIno: number;
  /** 128 on revision 0 file systems. */
  inodeSize: number;
  featureCompat: number;
  featureIncompat: number;
  featureRoCompat: number;
  uuid: Buffer;
  /** The four s_hash_seed words of htree name hashes. */
  hashSeed: Buffer;
  defHashVersion: number;
  /** Group descriptor size: 32, or s_desc_size with the 64bit feature. */
  descSize: number;
  firstMetaBg: number;
  minExtraIsize: number;
  wantExtraIsize: number;
  flags: number;
  logGroupsPerFlex: number;
  /** s_backup_bgs: the two groups holding backups with sparse_super2. */
  backupBgs: [number, number];
  lpfIno: number;
  checksumType: number;
  checksumSeed: number;
  checksum: number;
  /** ceil((blocksCount - firstDataBlock) / blocksPerGroup). */
  groupCount: number;
}

const u64 = (lo: number, hi: number): number => lo + hi * 2 ** 32;

/** Parses the 1024-byte superblock. Does not validate: see checkSuperblock. */
export function parseSuperblock(sb: Buffer): Superblock {
  const featureIncompat = sb.readUInt32LE(SB.featureIncompat);
  const is64 = (featureIncompat & INCOMPAT_64BIT) !== 0;
  const revLevel = sb.readUInt32LE(SB.revLevel);
  const blocksCount = u64(sb.readUInt32LE(SB.blocksCountLo), is64 ? sb.readUInt32LE(SB.blocksCountHi) : 0);
  const firstDataBlock = sb.readUInt32LE(SB.firstDataBlock);
  const blocksPerGroup = sb.readUInt32LE(SB.blocksPerGroup);
  const logBlockSize = sb.readUInt32LE(SB.logBlockSize);
  const logClusterSize = sb.readUInt32LE(SB.logClusterSize);
  return {
    inodesCount: sb.readUInt32LE(SB.inodesCount),
    blocksCount,
    freeBlocksCount: u64(sb.readUInt32LE(SB.freeBlocksCountLo), is64 ? sb.readUInt32LE(SB.freeBlocksCountHi) : 0),
    freeInodesCount: sb.readUInt32LE(SB.freeInodesCount),
    firstDataBlock,
    // Out-of-range shifts are caught by checkSuperblock; 2 ** keeps them finite here.
    blockSize: 1024 * 2 ** Math.min(logBlockSize, 32),
    clusterSize: 1024 * 2 ** Math.min(logClusterSize, 32),
    blocksPerGroup,
    inodesPerGroup: sb.readUInt32LE(SB.inodesPerGroup),
    magic: sb.readUInt16LE(SB.magic),
    state: sb.readUInt16LE(SB.state),
    errors: sb.readUInt16LE(SB.errors),
    creatorOs: sb.readUInt32LE(SB.creatorOs),
    revLevel,
    firstIno: revLevel === 0 ? GOOD_OLD_FIRST_INO : sb.readUInt32LE(SB.firstIno),
    inodeSize: revLevel === 0 ? GOOD_OLD_INODE_SIZE : sb.readUInt16LE(SB.inodeSize),
    featureCompat: sb.readUInt32LE(SB.featureCompat),
    featureIncompat,
    featureRoCompat: sb.readUInt32LE(SB.featureRoCompat),
    uuid: Buffer.from(sb.subarray(SB.uuid, SB.uuid + 16)),
    hashSeed: Buffer.from(sb.subarray(SB.hashSeed, SB.hashSeed + 16)),
    defHashVersion: sb.readUInt8(SB.defHashVersion),
    descSize: is64 ? sb.readUInt16LE(SB.descSize) : 32,
    firstMetaBg: sb.readUInt32LE(SB.firstMetaBg),
    minExtraIsize: sb.readUInt16LE(SB.minExtraIsize),
    wantExtraIsize: sb.readUInt16LE(SB.wantExtraIsize),
    flags: sb.readUInt32LE(SB.flags),
    logGroupsPerFlex: sb.readUInt8(SB.logGroupsPerFlex),
    backupBgs: [sb.readUInt32LE(SB.backupBgs), sb.readUInt32LE(SB.backupBgs + 4)],
    lpfIno: sb.readUInt32LE(SB.lpfIno),
    checksumType: sb.readUInt8(SB.checksumType),
    checksumSeed: sb.readUInt32LE(SB.checksumSeed),
    checksum: sb.readUInt32LE(SB.checksum),
    groupCount: blocksPerGroup === 0 || blocksCount <= firstDataBlock ? 0 : Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup),
  };
}

export function hasMetadataCsum(sb: Superblock): boolean {
  return (sb.featureRoCompat & RO_COMPAT_METADATA_CSUM) !== 0;
}

/** The seed of every metadata checksum: s_checksum_seed, or crc32c(~0, uuid). */
export function checksumSeed(sb: Superblock): number {
  return sb.featureIncompat & INCOMPAT_CSUM_SEED ? sb.checksumSeed : crc32c(0xffffffff, sb.uuid);
}

const isPowerOfTwo = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/**
 * Refuses a superblock this reader cannot trust or read, with one line saying why.
 * `raw` is the 1024-byte superblock (for its checksum, checked when `verifyChecksum`),
 * `imageBytes` the source size.
 */
export function checkSuperblock(sb: Superblock, raw: Buffer, imageBytes: number, verifyChecksum = true): void {
  if (sb.magic !== EXT4_MAGIC) throw notExt4(`bad superblock magic 0x${sb.magic.toString(16)} (ext2/3/4 have 0xef53)`);
  if (sb.blockSize < MIN_BLOCK_SIZE || sb.blockSize > MAX_BLOCK_SIZE) throw corrupt(`block size ${sb.blockSize} is outside 1024..65536`);
  if (hasMetadataCsum(sb)) {
    if (sb.checksumType !== 1) throw unsupported(`metadata checksum type ${sb.checksumType} (only 1, crc32c, exists)`);
    const expected = crc32c(0xffffffff, raw.subarray(0, SB.checksum));
    if (verifyChecksum && expected !== sb.checksum) throw corrupt(`superblock checksum 0x${sb.checksum.toString(16)} does not match its contents (0x${expected.toString(16)})`);
  }
  const refused = sb.featureIncompat & ~READABLE_INCOMPAT;
  if (refused !== 0) {
    const names = Object.entries(INCOMPAT_REFUSED).filter(([bit]) => refused & Number(bit)).map(([, name]) => name);
    throw unsupported(`incompatible feature ${names.length ? names.join(', ') : `0x${refused.toString(16)}`}`);
  }
  if (sb.clusterSize !== sb.blockSize && (sb.featureRoCompat & RO_COMPAT_BIGALLOC) === 0) throw corrupt(`cluster size ${sb.clusterSize} differs from the block size without bigalloc`);
  if (sb.blocksPerGroup === 0 || sb.blocksPerGroup > sb.blockSize * 8 * (sb.clusterSize / sb.blockSize)) {
    throw corrupt(`${sb.blocksPerGroup} blocks per group (one bitmap block holds ${sb.blockSize * 8})`);
  }
  // One inode bitmap block bounds the inodes per group.
  if (sb.inodesPerGroup === 0 || sb.inodesPerGroup > sb.blockSize * 8) throw corrupt(`${sb.inodesPerGroup} inodes per group (one bitmap block holds ${sb.blockSize * 8})`);
  if (sb.inodeSize < GOOD_OLD_INODE_SIZE || sb.inodeSize > sb.blockSize || !isPowerOfTwo(sb.inodeSize)) throw corrupt(`inode size ${sb.inodeSize}`);
  if (sb.descSize < 32 || sb.descSize > sb.blockSize || !isPowerOfTwo(sb.descSize) || (sb.featureIncompat & INCOMPAT_64BIT && sb.descSize < 64)) {
    throw corrupt(`group descriptor size ${sb.descSize}`);
  }
  // Block 0 holds the superblock (at byte 1024) unless blocks are 1024 bytes, when it is block 1.
  const firstDataBlocks = sb.blockSize === MIN_BLOCK_SIZE ? [0, 1] : [0];
  if (!firstDataBlocks.includes(sb.firstDataBlock)) throw corrupt(`first data block ${sb.firstDataBlock} with ${sb.blockSize}-byte blocks`);
  if (sb.groupCount === 0) throw corrupt(`${sb.blocksCount} blocks is too few for a file system`);
  if (sb.inodesCount !== sb.groupCount * sb.inodesPerGroup) {
    throw corrupt(`inodes count ${sb.inodesCount} is not ${sb.groupCount} groups x ${sb.inodesPerGroup} inodes`);
  }
  if (sb.firstIno < 3 || sb.firstIno > sb.inodesCount) throw corrupt(`first inode ${sb.firstIno}`);
  const fsBytes = sb.blocksCount * sb.blockSize;
  if (imageBytes < fsBytes) {
    throw corrupt(`truncated: the superblock says ${sb.blocksCount} blocks of ${sb.blockSize} bytes (${fsBytes} bytes), the image has ${imageBytes}`);
  }
}
