// Extended attributes (kernel Documentation/filesystems/ext4/attributes.rst;
// spec/compact-ext4.md §10): entries in the inode after i_extra_isize (behind a 4-byte
// magic) and in one xattr block (behind a 32-byte header). Names are stored without
// their namespace prefix, which a one-byte index stands for.

import { crc32c } from './crc32c.js';
import { corrupt } from './fault.js';
import { INODE_GOOD_OLD_SIZE, type Inode } from './inode.js';

export const XATTR_MAGIC = 0xea020000;
export const XATTR_BLOCK_HEADER_SIZE = 32;
export const XATTR_ENTRY_HEADER_SIZE = 16;
const XATTR_BLOCK_BLOCKS = 0x08;
const XATTR_BLOCK_CHECKSUM = 0x10;
/** XATTR_SIZE_MAX: the kernel never stores a longer value. */
export const XATTR_VALUE_MAX = 65536;

/** Name prefixes by index (attributes.rst, "Attribute Name Indices"). */
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
  /** Full name as bytes (names need not be valid UTF-8). */
  nameBytes: Buffer;
  index: number;
  value: Buffer;
  valueOffset: number;
  /** With ea_inode: the inode holding the value (0 when the value is inline). */
  valueInode: number;
  valueSize: number;
  hash: number;
  location: 'inode' | 'block';
}

/**
 * Parses entries from `entriesStart` of `area` to the 4-byte zero terminator (or the
 * area's end). Value offsets count from `valueBase`: the first entry in the inode, the
 * block start in a block. `where` names the area in errors. Values kept in an ea_inode
 * come back empty with `valueInode` set; the reader fills them in.
 */
export function parseXattrEntries(area: Buffer, entriesStart: number, valueBase: number, location: Xattr['location'], where: string): Xattr[] {
  const out: Xattr[] = [];
  let at = entriesStart;
  while (at + 4 <= area.length && area.readUInt32LE(at) !== 0) {
    if (at + XATTR_ENTRY_HEADER_SIZE > area.length) throw corrupt(`${where}: xattr entry at byte ${at} runs past the end`);
    const nameLen = area.readUInt8(at);
    const index = area.readUInt8(at + 1);
    const valueOffset = area.readUInt16LE(at + 2);
    const valueInode = area.readUInt32LE(at + 4);
    const valueSize = area.readUInt32LE(at + 8);
    const hash = area.readUInt32LE(at + 12);
    const nameEnd = at + XATTR_ENTRY_HEADER_SIZE + nameLen;
    if (nameEnd > area.length) throw corrupt(`${where}: xattr name at byte ${at} runs past the end`);
    const suffix = area.subarray(at + XATTR_ENTRY_HEADER_SIZE, nameEnd);
    const nameBytes = Buffer.concat([Buffer.from(XATTR_PREFIXES[index] ?? '', 'latin1'), suffix]);
    if (valueSize > XATTR_VALUE_MAX) throw corrupt(`${where}: xattr ${nameBytes.toString('utf8')} claims a ${valueSize}-byte value`);
    let value = Buffer.alloc(0);
    if (valueInode === 0) {
      const valueStart = valueBase + valueOffset;
      if (valueStart + valueSize > area.length) throw corrupt(`${where}: value of xattr ${nameBytes.toString('utf8')} runs past the end`);
      value = Buffer.from(area.subarray(valueStart, valueStart + valueSize));
    }
    out.push({ name: nameBytes.toString('utf8'), nameBytes, index, value, valueOffset, valueInode, valueSize, hash, location });
    at = (nameEnd + 3) & ~3;
  }
  return out;
}

/** The in-inode xattrs, at 128 + i_extra_isize behind a 4-byte magic; none without the magic. */
export function parseInodeXattrs(inode: Inode): Xattr[] {
  const areaStart = INODE_GOOD_OLD_SIZE + inode.extraIsize;
  if (inode.raw.length <= INODE_GOOD_OLD_SIZE || areaStart + 4 > inode.raw.length || inode.raw.readUInt32LE(areaStart) !== XATTR_MAGIC) return [];
  return parseXattrEntries(inode.raw.subarray(areaStart), 4, 4, 'inode', `inode ${inode.number}`);
}

/** Parses an xattr block (without checking its checksum: see xattrBlockChecksums). */
export function parseXattrBlock(block: Buffer, where = 'xattr block'): Xattr[] {
  const magic = block.readUInt32LE(0);
  if (magic !== XATTR_MAGIC) throw corrupt(`${where}: bad xattr block magic 0x${magic.toString(16)}`);
  const blocks = block.readUInt32LE(XATTR_BLOCK_BLOCKS);
  if (blocks !== 1) throw corrupt(`${where}: xattr block claims ${blocks} blocks (only 1 exists)`);
  return parseXattrEntries(block, XATTR_BLOCK_HEADER_SIZE, 0, 'block', where);
}

/** metadata_csum: [stored, computed], computed = crc32c(seed, le64 block number, block with h_checksum zero). */
export function xattrBlockChecksums(seed: number, blockNumber: number, block: Buffer): [number, number] {
  const number = Buffer.alloc(8);
  number.writeBigUInt64LE(BigInt(blockNumber));
  let crc = crc32c(seed, number);
  crc = crc32c(crc, block.subarray(0, XATTR_BLOCK_CHECKSUM));
  crc = crc32c(crc, Buffer.alloc(4));
  crc = crc32c(crc, block.subarray(XATTR_BLOCK_CHECKSUM + 4));
  return [block.readUInt32LE(XATTR_BLOCK_CHECKSUM), crc];
}
