// A small read-only view of the compact ext4 images hcsshim's tar2ext4 writes
// (spec/compact-ext4.md §4, §10, §11, §13-16, §23). It covers only the subset those
// images use: 4096-byte blocks, 32-byte group descriptors, linear directories,
// extent trees, in-inode and single-block xattrs, fast symlinks and inline data.
//
// Images can be 16 GiB sparse files, so blocks are read on demand with positional
// reads and nothing ever loads the whole file.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export const BLOCK_SIZE = 4096;
export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
export const EXT4_MAGIC = 0xef53;
export const GROUP_DESCRIPTOR_SIZE = 32;
export const ROOT_INODE = 2;

// ---------------------------------------------------------------------------
// Byte source: positional reads over a file or an in-memory buffer.

export interface ByteSource {
  readonly size: number;
  /** Reads `length` bytes at `offset`; bytes past the end read as zero. */
  read(offset: number, length: number): Buffer;
  close(): void;
}

export function openFileSource(path: string): ByteSource {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  return {
    size,
    read(offset, length) {
      const out = Buffer.alloc(length);
      let done = 0;
      while (done < length && offset + done < size) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return out;
    },
    close: () => closeSync(fd),
  };
}

export function bufferSource(image: Buffer): ByteSource {
  return {
    size: image.length,
    read(offset, length) {
      const out = Buffer.alloc(length);
      if (offset < image.length) image.copy(out, 0, offset, Math.min(image.length, offset + length));
      return out;
    },
    close() {},
  };
}

// ---------------------------------------------------------------------------
// Superblock (§15). Offsets are relative to the superblock's first byte.

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
  descSize: 0xfe,
  blocksCountHi: 0x150,
  minExtraIsize: 0x15c,
  wantExtraIsize: 0x15e,
  logGroupsPerFlex: 0x174,
  lpfIno: 0x268,
} as const;

export interface Superblock {
  inodesCount: number;
  blocksCount: number;
  freeBlocksCount: number;
  freeInodesCount: number;
  firstDataBlock: number;
  blockSize: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  magic: number;
  state: number;
  errors: number;
  revLevel: number;
  firstIno: number;
  inodeSize: number;
  featureCompat: number;
  featureIncompat: number;
  featureRoCompat: number;
  uuid: Buffer;
  descSize: number;
  minExtraIsize: number;
  wantExtraIsize: number;
  logGroupsPerFlex: number;
  lpfIno: number;
  /** ceil(blocksCount / blocksPerGroup) (§23). */
  groupCount: number;
}

/** Parses the 1024-byte superblock (the bytes at image offset 1024). */
export function parseSuperblock(sb: Buffer): Superblock {
  const blocksPerGroup = sb.readUInt32LE(SB.blocksPerGroup);
  // The _hi half only exists with the 64bit feature, which these images never set (§15).
  const blocksCount = sb.readUInt32LE(SB.blocksCountLo);
  return {
    inodesCount: sb.readUInt32LE(SB.inodesCount),
    blocksCount,
    freeBlocksCount: sb.readUInt32LE(SB.freeBlocksCountLo),
    freeInodesCount: sb.readUInt32LE(SB.freeInodesCount),
    firstDataBlock: sb.readUInt32LE(SB.firstDataBlock),
    blockSize: 1024 * 2 ** sb.readUInt32LE(SB.logBlockSize),
    blocksPerGroup,
    inodesPerGroup: sb.readUInt32LE(SB.inodesPerGroup),
    magic: sb.readUInt16LE(SB.magic),
    state: sb.readUInt16LE(SB.state),
    errors: sb.readUInt16LE(SB.errors),
    revLevel: sb.readUInt32LE(SB.revLevel),
    firstIno: sb.readUInt32LE(SB.firstIno),
    inodeSize: sb.readUInt16LE(SB.inodeSize),
    featureCompat: sb.readUInt32LE(SB.featureCompat),
    featureIncompat: sb.readUInt32LE(SB.featureIncompat),
    featureRoCompat: sb.readUInt32LE(SB.featureRoCompat),
    uuid: Buffer.from(sb.subarray(SB.uuid, SB.uuid + 16)),
    descSize: sb.readUInt16LE(SB.descSize),
    minExtraIsize: sb.readUInt16LE(SB.minExtraIsize),
    wantExtraIsize: sb.readUInt16LE(SB.wantExtraIsize),
    logGroupsPerFlex: sb.readUInt8(SB.logGroupsPerFlex),
    lpfIno: sb.readUInt32LE(SB.lpfIno),
    groupCount: blocksPerGroup === 0 ? 0 : Math.ceil(blocksCount / blocksPerGroup),
  };
}

// ---------------------------------------------------------------------------
// Group descriptors (§14): 32 bytes each, packed from block 1.

export const GD = {
  blockBitmapLo: 0x00,
  inodeBitmapLo: 0x04,
  inodeTableLo: 0x08,
  freeBlocksCountLo: 0x0c,
  freeInodesCountLo: 0x0e,
  usedDirsCountLo: 0x10,
  flags: 0x12,
} as const;

export interface GroupDescriptor {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocksCount: number;
  freeInodesCount: number;
  usedDirsCount: number;
  flags: number;
}

export function parseGroupDescriptor(buf: Buffer, offset = 0): GroupDescriptor {
  return {
    blockBitmap: buf.readUInt32LE(offset + GD.blockBitmapLo),
    inodeBitmap: buf.readUInt32LE(offset + GD.inodeBitmapLo),
    inodeTable: buf.readUInt32LE(offset + GD.inodeTableLo),
    freeBlocksCount: buf.readUInt16LE(offset + GD.freeBlocksCountLo),
    freeInodesCount: buf.readUInt16LE(offset + GD.freeInodesCountLo),
    usedDirsCount: buf.readUInt16LE(offset + GD.usedDirsCountLo),
    flags: buf.readUInt16LE(offset + GD.flags),
  };
}

// ---------------------------------------------------------------------------
// Inodes (§16).

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
  extraIsize: 0x80,
  ctimeExtra: 0x84,
  mtimeExtra: 0x88,
  atimeExtra: 0x8c,
  crtime: 0x90,
  crtimeExtra: 0x94,
} as const;

export const I_BLOCK_SIZE = 60;
/** The fixed part of every inode; i_extra_isize counts from here (§4). */
export const INODE_GOOD_OLD_SIZE = 128;

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

export const EXT4_HUGE_FILE_FL = 0x40000;
export const EXT4_EXTENTS_FL = 0x80000;
export const EXT4_INLINE_DATA_FL = 0x10000000;

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
  /** The raw `_extra` field: 2 epoch bits, then nanoseconds << 2. */
  extra: number;
  /** Decoded the way Linux does (§23): (int32)lo + (epoch bits << 32). */
  seconds: number;
  nanoseconds: number;
}

export interface Inode {
  number: number;
  mode: number;
  type: InodeType;
  uid: number;
  gid: number;
  size: number;
  linksCount: number;
  /** i_blocks; counts 4096-byte blocks because every inode has HUGE_FILE (§16). */
  blocks: number;
  flags: number;
  atime: InodeTime;
  ctime: InodeTime;
  mtime: InodeTime;
  crtime: InodeTime;
  dtime: number;
  generation: number;
  /** The 60 bytes of i_block (extents, symlink target, inline data or device). */
  iBlock: Buffer;
  fileAcl: number;
  extraIsize: number;
  /** The whole on-disk inode record. */
  raw: Buffer;
}

function decodeTime(lo: number, extra: number): InodeTime {
  const signedLo = lo | 0;
  return { lo, extra, seconds: signedLo + (extra & 3) * 2 ** 32, nanoseconds: extra >>> 2 };
}

/** Parses one inode record (normally 256 bytes). */
export function parseInode(number: number, raw: Buffer): Inode {
  const extraIsize = raw.length > INODE_GOOD_OLD_SIZE ? raw.readUInt16LE(INODE.extraIsize) : 0;
  // An _extra time field exists only if i_extra_isize reaches past it.
  const extra = (offset: number): number =>
    INODE_GOOD_OLD_SIZE + extraIsize >= offset + 4 ? raw.readUInt32LE(offset) : 0;
  const mode = raw.readUInt16LE(INODE.mode);
  return {
    number,
    mode,
    type: inodeType(mode),
    uid: raw.readUInt16LE(INODE.uidLo) + raw.readUInt16LE(INODE.uidHigh) * 0x10000,
    gid: raw.readUInt16LE(INODE.gidLo) + raw.readUInt16LE(INODE.gidHigh) * 0x10000,
    size: raw.readUInt32LE(INODE.sizeLo) + raw.readUInt32LE(INODE.sizeHigh) * 2 ** 32,
    linksCount: raw.readUInt16LE(INODE.linksCount),
    blocks: raw.readUInt32LE(INODE.blocksLo) + raw.readUInt16LE(INODE.blocksHigh) * 2 ** 32,
    flags: raw.readUInt32LE(INODE.flags),
    atime: decodeTime(raw.readUInt32LE(INODE.atime), extra(INODE.atimeExtra)),
    ctime: decodeTime(raw.readUInt32LE(INODE.ctime), extra(INODE.ctimeExtra)),
    mtime: decodeTime(raw.readUInt32LE(INODE.mtime), extra(INODE.mtimeExtra)),
    crtime: decodeTime(extra(INODE.crtime), extra(INODE.crtimeExtra)),
    dtime: raw.readUInt32LE(INODE.dtime),
    generation: raw.readUInt32LE(INODE.generation),
    iBlock: Buffer.from(raw.subarray(INODE.block, INODE.block + I_BLOCK_SIZE)),
    fileAcl: raw.readUInt32LE(INODE.fileAclLo) + raw.readUInt16LE(INODE.fileAclHigh) * 2 ** 32,
    extraIsize,
    raw,
  };
}

export interface DeviceNumber {
  major: number;
  minor: number;
}

/** Decodes the "new" device encoding kept in i_block word 1 (§16). */
export function decodeDevice(iBlock: Buffer): DeviceNumber {
  const word = iBlock.readUInt32LE(4);
  return { major: (word >>> 8) & 0xfff, minor: (word & 0xff) | ((word >>> 12) & 0xfff00) };
}

// ---------------------------------------------------------------------------
// Extent trees (§8): a header, then leaf extents (depth 0) or index entries.

export const EXTENT_MAGIC = 0xf30a;
export const EXTENT_HEADER_SIZE = 12;
export const EXTENT_ENTRY_SIZE = 12;
/** ee_len above this marks an uninitialized extent of (ee_len - 32768) blocks. */
export const EXTENT_INIT_MAX_LEN = 32768;

export interface Extent {
  logical: number;
  start: number;
  length: number;
  uninitialized: boolean;
}

export interface ExtentIndex {
  logical: number;
  leaf: number;
}

export interface ExtentNode {
  entries: number;
  max: number;
  depth: number;
  extents: Extent[];
  indexes: ExtentIndex[];
}

export function parseExtentNode(buf: Buffer): ExtentNode {
  const magic = buf.readUInt16LE(0);
  if (magic !== EXTENT_MAGIC) throw new Error(`bad extent header magic 0x${magic.toString(16)}`);
  const entries = buf.readUInt16LE(2);
  const max = buf.readUInt16LE(4);
  const depth = buf.readUInt16LE(6);
  const count = Math.min(entries, Math.floor((buf.length - EXTENT_HEADER_SIZE) / EXTENT_ENTRY_SIZE));
  const node: ExtentNode = { entries, max, depth, extents: [], indexes: [] };
  for (let i = 0; i < count; i++) {
    const at = EXTENT_HEADER_SIZE + i * EXTENT_ENTRY_SIZE;
    const logical = buf.readUInt32LE(at);
    if (depth === 0) {
      const rawLength = buf.readUInt16LE(at + 4);
      const start = buf.readUInt32LE(at + 8) + buf.readUInt16LE(at + 6) * 2 ** 32;
      const uninitialized = rawLength > EXTENT_INIT_MAX_LEN;
      node.extents.push({ logical, start, length: uninitialized ? rawLength - EXTENT_INIT_MAX_LEN : rawLength, uninitialized });
    } else {
      const leaf = buf.readUInt32LE(at + 4) + buf.readUInt16LE(at + 8) * 2 ** 32;
      node.indexes.push({ logical, leaf });
    }
  }
  return node;
}

export interface ExtentMap {
  /** Data extents in tree order. */
  extents: Extent[];
  /** Blocks holding extent tree nodes below the root in i_block. */
  treeBlocks: number[];
}

// ---------------------------------------------------------------------------
// Directories (§11): linear ext4 dirent2 records.

export const FILE_TYPE_NAMES = ['unknown', 'file', 'dir', 'chr', 'blk', 'fifo', 'sock', 'symlink'] as const;

export interface DirEntry {
  inode: number;
  recLen: number;
  fileType: number;
  name: string;
  nameBytes: Buffer;
}

/** Lists the entries of one directory block, skipping inode-0 placeholders. */
export function parseDirectoryBlock(block: Buffer): DirEntry[] {
  const out: DirEntry[] = [];
  let at = 0;
  while (at + 8 <= block.length) {
    const inode = block.readUInt32LE(at);
    const recLen = block.readUInt16LE(at + 4);
    const nameLen = block.readUInt8(at + 6);
    const fileType = block.readUInt8(at + 7);
    if (recLen < 8 || at + recLen > block.length) break;
    if (inode !== 0) {
      const nameBytes = Buffer.from(block.subarray(at + 8, at + 8 + nameLen));
      out.push({ inode, recLen, fileType, name: nameBytes.toString('utf8'), nameBytes });
    }
    at += recLen;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Extended attributes (§10).

export const XATTR_MAGIC = 0xea020000;
export const XATTR_BLOCK_HEADER_SIZE = 32;
export const XATTR_ENTRY_HEADER_SIZE = 16;

/** Name prefixes by index (§10.1). */
export const XATTR_PREFIXES: Readonly<Record<number, string>> = {
  1: 'user.',
  2: 'system.posix_acl_access',
  3: 'system.posix_acl_default',
  4: 'trusted.',
  6: 'security.',
  7: 'system.',
  8: 'system.richacl',
};

export interface Xattr {
  /** Full name, prefix restored, decoded as UTF-8. */
  name: string;
  /** Full name as bytes (names are not necessarily valid UTF-8). */
  nameBytes: Buffer;
  index: number;
  value: Buffer;
  valueOffset: number;
  hash: number;
  location: 'inode' | 'block';
}

/**
 * Parses xattr entries starting at `entriesStart` in `area` until the 4-byte zero
 * terminator. Value offsets count from `valueBase` (the first entry in the inode, the
 * block start in a block).
 */
export function parseXattrEntries(area: Buffer, entriesStart: number, valueBase: number, location: Xattr['location']): Xattr[] {
  const out: Xattr[] = [];
  let at = entriesStart;
  while (at + XATTR_ENTRY_HEADER_SIZE <= area.length && area.readUInt32LE(at) !== 0) {
    const nameLen = area.readUInt8(at);
    const index = area.readUInt8(at + 1);
    const valueOffset = area.readUInt16LE(at + 2);
    const valueSize = area.readUInt32LE(at + 8);
    const hash = area.readUInt32LE(at + 12);
    const suffix = area.subarray(at + XATTR_ENTRY_HEADER_SIZE, at + XATTR_ENTRY_HEADER_SIZE + nameLen);
    const nameBytes = Buffer.concat([Buffer.from(XATTR_PREFIXES[index] ?? '', 'latin1'), suffix]);
    const valueStart = valueBase + valueOffset;
    const value = Buffer.from(area.subarray(valueStart, Math.min(area.length, valueStart + valueSize)));
    out.push({ name: nameBytes.toString('utf8'), nameBytes, index, value, valueOffset, hash, location });
    at += XATTR_ENTRY_HEADER_SIZE + ((nameLen + 3) & ~3);
  }
  return out;
}

/** The in-inode xattrs, at 128 + i_extra_isize (= 152 here) behind a 4-byte magic. */
export function parseInodeXattrs(inode: Inode): Xattr[] {
  const areaStart = INODE_GOOD_OLD_SIZE + inode.extraIsize;
  if (areaStart + 4 > inode.raw.length || inode.raw.readUInt32LE(areaStart) !== XATTR_MAGIC) return [];
  const area = inode.raw.subarray(areaStart);
  return parseXattrEntries(area, 4, 4, 'inode');
}

export function parseXattrBlock(block: Buffer): Xattr[] {
  if (block.readUInt32LE(0) !== XATTR_MAGIC) throw new Error('bad xattr block magic');
  return parseXattrEntries(block, XATTR_BLOCK_HEADER_SIZE, 0, 'block');
}

// ---------------------------------------------------------------------------
// The image: ties the codecs above to positional reads.

export class Ext4Image {
  readonly superblock: Superblock;
  readonly groups: GroupDescriptor[];

  constructor(readonly source: ByteSource) {
    this.superblock = parseSuperblock(source.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE));
    const sb = this.superblock;
    if (sb.magic !== EXT4_MAGIC) throw new Error(`not an ext4 image (magic 0x${sb.magic.toString(16)})`);
    if (sb.blockSize !== BLOCK_SIZE) throw new Error(`unsupported block size ${sb.blockSize}`);
    // One inode bitmap block bounds the inodes per group (§4), which also caps how much
    // forEachInode reads at once.
    if (sb.inodesPerGroup === 0 || sb.inodesPerGroup > BLOCK_SIZE * 8 || sb.inodeSize < INODE_GOOD_OLD_SIZE) {
      throw new Error('bad inode geometry');
    }
    if (sb.groupCount * GROUP_DESCRIPTOR_SIZE > Math.max(source.size, BLOCK_SIZE)) throw new Error('bad group count');
    // sparse_super2 without backups: the one GDT is at block 1 (§23).
    const table = source.read(BLOCK_SIZE, sb.groupCount * GROUP_DESCRIPTOR_SIZE);
    this.groups = [];
    for (let g = 0; g < sb.groupCount; g++) this.groups.push(parseGroupDescriptor(table, g * GROUP_DESCRIPTOR_SIZE));
  }

  static open(path: string): Ext4Image {
    const source = openFileSource(path);
    try {
      return new Ext4Image(source);
    } catch (err) {
      source.close();
      throw err;
    }
  }

  close(): void {
    this.source.close();
  }

  /** Bytes of the ext4 file system proper (anything after is verity data or a footer). */
  get ext4Bytes(): number {
    return this.superblock.blocksCount * BLOCK_SIZE;
  }

  readBlock(block: number, count = 1): Buffer {
    return this.source.read(block * BLOCK_SIZE, count * BLOCK_SIZE);
  }

  /** Byte offset of inode `n`'s record (§23). */
  inodeOffset(n: number): number {
    const { inodesPerGroup, inodeSize, inodesCount } = this.superblock;
    if (n < 1 || n > inodesCount) throw new RangeError(`inode ${n} out of range 1..${inodesCount}`);
    const group = Math.floor((n - 1) / inodesPerGroup);
    const index = (n - 1) % inodesPerGroup;
    return this.groups[group].inodeTable * BLOCK_SIZE + index * inodeSize;
  }

  readInode(n: number): Inode {
    return parseInode(n, this.source.read(this.inodeOffset(n), this.superblock.inodeSize));
  }

  /** The inode bitmap of group `g`, one bit per inode, LSB first (§13). */
  readInodeBitmap(g: number): Buffer {
    return this.readBlock(this.groups[g].inodeBitmap);
  }

  readBlockBitmap(g: number): Buffer {
    return this.readBlock(this.groups[g].blockBitmap);
  }

  /**
   * Calls `visit` for every inode in use: marked in its group's inode bitmap or with a
   * non-zero mode (so a bitmap bug cannot hide an inode). Reads one group's table at a time.
   */
  forEachInode(visit: (inode: Inode) => void): void {
    const { inodesPerGroup, inodeSize } = this.superblock;
    this.groups.forEach((gd, g) => {
      const bitmap = this.readInodeBitmap(g);
      const table = this.source.read(gd.inodeTable * BLOCK_SIZE, inodesPerGroup * inodeSize);
      for (let i = 0; i < inodesPerGroup; i++) {
        const raw = table.subarray(i * inodeSize, (i + 1) * inodeSize);
        const marked = i < bitmap.length * 8 && (bitmap[i >> 3] & (1 << (i & 7))) !== 0;
        const mode = raw.readUInt16LE(INODE.mode);
        if (marked || mode !== 0) visit(parseInode(g * inodesPerGroup + i + 1, raw));
      }
    });
  }

  /**
   * The data extents of an inode and the tree blocks below its root. With `strict`
   * false, a corrupt node is skipped instead of thrown, so a damaged image can still be
   * mapped (the diff tool needs this); its block stays listed in `treeBlocks`.
   */
  extentMap(inode: Inode, strict = true): ExtentMap {
    const map: ExtentMap = { extents: [], treeBlocks: [] };
    if ((inode.flags & EXT4_EXTENTS_FL) === 0) return map;
    this.walkExtentNode(() => inode.iBlock, map, 0, strict);
    return map;
  }

  private walkExtentNode(readNode: () => Buffer, map: ExtentMap, level: number, strict: boolean): void {
    let node: ExtentNode;
    try {
      // ext4 trees are at most 5 levels deep; deeper means a corrupt or cyclic tree.
      if (level > 5) throw new Error('extent tree too deep');
      node = parseExtentNode(readNode());
    } catch (err) {
      if (strict) throw err;
      return;
    }
    map.extents.push(...node.extents);
    for (const index of node.indexes) {
      map.treeBlocks.push(index.leaf);
      this.walkExtentNode(() => this.readBlock(index.leaf), map, level + 1, strict);
    }
  }

  /** Physical block numbers of an inode's data in logical order (expands the extents). */
  physicalBlocks(inode: Inode): number[] {
    const out: number[] = [];
    for (const e of this.extentMap(inode).extents) for (let i = 0; i < e.length; i++) out.push(e.start + i);
    return out;
  }

  /**
   * Reads an inode's contents: inline data, a fast symlink target, or extent-mapped
   * blocks (holes read as zero). Refuses sizes above `maxBytes` to protect memory.
   */
  readData(inode: Inode, maxBytes = 64 * 1024 * 1024): Buffer {
    if (inode.size > maxBytes) throw new RangeError(`inode ${inode.number} is ${inode.size} bytes, above ${maxBytes}`);
    if (inode.flags & EXT4_INLINE_DATA_FL) return this.readInlineData(inode);
    if (isFastSymlink(inode)) return Buffer.from(inode.iBlock.subarray(0, inode.size));
    const out = Buffer.alloc(inode.size);
    for (const e of this.extentMap(inode).extents) {
      const from = e.logical * BLOCK_SIZE;
      if (from >= out.length || e.uninitialized) continue;
      const bytes = this.readBlock(e.start, e.length);
      bytes.copy(out, from, 0, Math.min(bytes.length, out.length - from));
    }
    return out;
  }

  /** Inline files keep 60 bytes in i_block and the rest in `system.data` (§9). */
  readInlineData(inode: Inode): Buffer {
    const head = inode.iBlock.subarray(0, Math.min(inode.size, I_BLOCK_SIZE));
    const tail = parseInodeXattrs(inode).find((x) => x.name === 'system.data')?.value ?? Buffer.alloc(0);
    return Buffer.concat([head, tail]).subarray(0, inode.size);
  }

  readSymlink(inode: Inode): string {
    return this.readData(inode).toString('utf8');
  }

  /** All entries of a directory (inode-0 placeholders skipped). */
  readDirectory(inode: Inode): DirEntry[] {
    if (inode.type !== 'dir') throw new Error(`inode ${inode.number} is not a directory`);
    const out: DirEntry[] = [];
    for (const e of this.extentMap(inode).extents) {
      for (let i = 0; i < e.length; i++) out.push(...parseDirectoryBlock(this.readBlock(e.start + i)));
    }
    return out;
  }

  /** In-inode xattrs first, then those in the xattr block. */
  readXattrs(inode: Inode): Xattr[] {
    const out = parseInodeXattrs(inode);
    if (inode.fileAcl !== 0) out.push(...parseXattrBlock(this.readBlock(inode.fileAcl)));
    return out;
  }

  /** Resolves an absolute path (no symlink following); undefined when missing. */
  lookup(path: string): Inode | undefined {
    let inode = this.readInode(ROOT_INODE);
    for (const part of path.split('/').filter((p) => p !== '' && p !== '.')) {
      if (inode.type !== 'dir') return undefined;
      const entry = this.readDirectory(inode).find((e) => e.name === part);
      if (!entry) return undefined;
      inode = this.readInode(entry.inode);
    }
    return inode;
  }
}

/** A symlink whose target lives in i_block: no extents, no inline data (§23). */
export function isFastSymlink(inode: Inode): boolean {
  return inode.type === 'symlink' && (inode.flags & (EXT4_EXTENTS_FL | EXT4_INLINE_DATA_FL)) === 0;
}

/** Opens an image file, runs `use`, and always closes the file. */
export function withExt4Image<T>(path: string, use: (image: Ext4Image) => T): T {
  const image = Ext4Image.open(path);
  try {
    return use(image);
  } finally {
    image.close();
  }
}
