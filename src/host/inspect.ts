// `lcow inspect`: what an image file holds, read from its own headers. Covers the ext4
// superblock and groups (spec §14-15), the optional dm-verity superblock (§18.2) and the
// optional fixed VHD footer (§19). Reads a few blocks only, so 16 GiB sparse images are fine.

import { VHD_FOOTER_SIZE, parseVhdFooter, type VhdFooter } from './vhd-footer.js';
import { createHash } from 'node:crypto';
import { Ext4Reader } from './ext4/reader.js';
import { openFileSource, type ByteSource } from './ext4/source.js';
import { VERITY_BLOCK } from './verity.js';
import { checkImageFile } from './image-file.js';

export { VHD_FOOTER_SIZE, vhdChecksum, parseVhdFooter, type VhdFooter } from './vhd-footer.js';

export function readVhdFooter(source: ByteSource): VhdFooter | null {
  if (source.size < VHD_FOOTER_SIZE) return null;
  return parseVhdFooter(source.read(source.size - VHD_FOOTER_SIZE, VHD_FOOTER_SIZE));
}

// ---------------------------------------------------------------------------
// dm-verity superblock (§18.2): one 4096-byte block right after the ext4 image,
// followed by the hash tree, top level first.

export const VERITY_SIGNATURE = Buffer.from('verity\0\0', 'latin1');

export const VERITY = {
  signature: 0,
  version: 8,
  hashType: 12,
  uuid: 16,
  algorithm: 32,
  dataBlockSize: 64,
  hashBlockSize: 68,
  dataBlocks: 72,
  saltSize: 80,
  salt: 88,
} as const;

export const VERITY_SALT_MAX = 256;

export interface VeritySuperblock {
  version: number;
  hashType: number;
  uuidHex: string;
  algorithm: string;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  saltSize: number;
  saltHex: string;
  /** sha256(salt ‖ first tree block), as hcsshim's ReadDMVerityInfo computes it (§18.3). */
  rootDigestHex: string;
}

export function isVeritySuperblock(block: Buffer): boolean {
  return block.subarray(0, VERITY_SIGNATURE.length).equals(VERITY_SIGNATURE);
}

/** Parses the verity superblock at `offset` (the ext4 size); null without a signature. */
export function readVeritySuperblock(source: ByteSource, offset: number): VeritySuperblock | null {
  if (offset + VERITY_BLOCK > source.size) return null;
  const block = source.read(offset, VERITY_BLOCK);
  if (!isVeritySuperblock(block)) return null;
  const saltSize = Math.min(block.readUInt16LE(VERITY.saltSize), VERITY_SALT_MAX);
  const salt = block.subarray(VERITY.salt, VERITY.salt + saltSize);
  const topTreeBlock = source.read(offset + VERITY_BLOCK, VERITY_BLOCK);
  return {
    version: block.readUInt32LE(VERITY.version),
    hashType: block.readUInt32LE(VERITY.hashType),
    uuidHex: block.toString('hex', VERITY.uuid, VERITY.uuid + 16),
    algorithm: block.toString('latin1', VERITY.algorithm, VERITY.algorithm + 32).replace(/\0+$/, ''),
    dataBlockSize: block.readUInt32LE(VERITY.dataBlockSize),
    hashBlockSize: block.readUInt32LE(VERITY.hashBlockSize),
    dataBlocks: Number(block.readBigUInt64LE(VERITY.dataBlocks)),
    saltSize,
    saltHex: salt.toString('hex'),
    rootDigestHex: createHash('sha256').update(salt).update(topTreeBlock).digest('hex'),
  };
}

// ---------------------------------------------------------------------------
// Feature flag names (kernel ext4 documentation, "Super Block" feature tables).

const COMPAT_NAMES: Record<number, string> = {
  0x1: 'dir_prealloc', 0x2: 'imagic_inodes', 0x4: 'has_journal', 0x8: 'ext_attr',
  0x10: 'resize_inode', 0x20: 'dir_index', 0x40: 'lazy_bg', 0x80: 'exclude_inode',
  0x100: 'exclude_bitmap', 0x200: 'sparse_super2', 0x400: 'fast_commit',
  0x800: 'stable_inodes', 0x1000: 'orphan_file',
};
const INCOMPAT_NAMES: Record<number, string> = {
  0x1: 'compression', 0x2: 'filetype', 0x4: 'needs_recovery', 0x8: 'journal_dev',
  0x10: 'meta_bg', 0x40: 'extent', 0x80: '64bit', 0x100: 'mmp', 0x200: 'flex_bg',
  0x400: 'ea_inode', 0x1000: 'dirdata', 0x2000: 'metadata_csum_seed', 0x4000: 'large_dir',
  0x8000: 'inline_data', 0x10000: 'encrypt', 0x20000: 'casefold',
};
const RO_COMPAT_NAMES: Record<number, string> = {
  0x1: 'sparse_super', 0x2: 'large_file', 0x4: 'btree_dir', 0x8: 'huge_file',
  0x10: 'gdt_csum', 0x20: 'dir_nlink', 0x40: 'extra_isize', 0x80: 'has_snapshot',
  0x100: 'quota', 0x200: 'bigalloc', 0x400: 'metadata_csum', 0x800: 'replica',
  0x1000: 'read-only', 0x2000: 'project', 0x4000: 'shared_blocks', 0x8000: 'verity',
  0x10000: 'orphan_present',
};

/** Names the set bits, in bit order; unknown bits appear as `0x...`. */
export function featureNames(flags: number, table: Record<number, string>): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    const mask = 2 ** bit;
    if (Math.floor(flags / mask) % 2 === 1) names.push(table[mask] ?? `0x${mask.toString(16)}`);
  }
  return names;
}

// ---------------------------------------------------------------------------
// Summary.

export interface FeatureSet {
  hex: string;
  names: string[];
}

export interface GroupSummary {
  group: number;
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  usedDirs: number;
}

export interface Ext4Summary {
  inodesCount: number;
  blocksCount: number;
  freeBlocks: number;
  freeInodes: number;
  inodesPerGroup: number;
  blocksPerGroup: number;
  inodeSize: number;
  firstIno: number;
  featureCompat: FeatureSet;
  featureIncompat: FeatureSet;
  featureRoCompat: FeatureSet;
  uuidHex: string;
  groupCount: number;
  groups: GroupSummary[];
}

export interface ImageSummary {
  path: string;
  fileSize: number;
  vhdFooter: VhdFooter | null;
  /** s_blocks_count_lo × 4096; null when no ext4 superblock was found. */
  ext4Bytes: number | null;
  verity: VeritySuperblock | null;
  ext4: Ext4Summary | null;
  /** Why the ext4 part could not be read, when it could not. */
  ext4Error?: string;
}

const hex32 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

function summarizeExt4(image: Ext4Reader): Ext4Summary {
  const sb = image.superblock;
  return {
    inodesCount: sb.inodesCount,
    blocksCount: sb.blocksCount,
    freeBlocks: sb.freeBlocksCount,
    freeInodes: sb.freeInodesCount,
    inodesPerGroup: sb.inodesPerGroup,
    blocksPerGroup: sb.blocksPerGroup,
    inodeSize: sb.inodeSize,
    firstIno: sb.firstIno,
    featureCompat: { hex: hex32(sb.featureCompat), names: featureNames(sb.featureCompat, COMPAT_NAMES) },
    featureIncompat: { hex: hex32(sb.featureIncompat), names: featureNames(sb.featureIncompat, INCOMPAT_NAMES) },
    featureRoCompat: { hex: hex32(sb.featureRoCompat), names: featureNames(sb.featureRoCompat, RO_COMPAT_NAMES) },
    uuidHex: sb.uuid.toString('hex'),
    groupCount: sb.groupCount,
    groups: [...image.groupDescriptors()].map((gd, group) => ({
      group,
      blockBitmap: gd.blockBitmap,
      inodeBitmap: gd.inodeBitmap,
      inodeTable: gd.inodeTable,
      freeBlocks: gd.freeBlocksCount,
      freeInodes: gd.freeInodesCount,
      usedDirs: gd.usedDirsCount,
    })),
  };
}

/**
 * Reads what `path` holds. A file that cannot be opened throws INPUT_OPEN_FAILED; one
 * without a readable ext4 part is summarised with `ext4: null` and `ext4Error`.
 */
export function inspectImage(path: string): ImageSummary {
  checkImageFile(path);
  const source = openFileSource(path);
  try {
    const summary: ImageSummary = {
      path,
      fileSize: source.size,
      vhdFooter: readVhdFooter(source),
      ext4Bytes: null,
      verity: null,
      ext4: null,
    };
    try {
      const image = Ext4Reader.open(source);
      summary.ext4 = summarizeExt4(image);
      summary.ext4Bytes = image.ext4Bytes;
      summary.verity = readVeritySuperblock(source, image.ext4Bytes);
    } catch (err) {
      summary.ext4Error = (err as Error).message;
    }
    return summary;
  } finally {
    source.close();
  }
}

// ---------------------------------------------------------------------------
// Text output.

function formatFooter(f: VhdFooter): string[] {
  return [
    `VHD footer:       present (cookie ${f.cookie}, checksum ${hex32(f.checksum)} ${f.checksumValid ? 'valid' : 'INVALID'})`,
    `  features ${hex32(f.features)}, version ${hex32(f.fileFormatVersion)}, disk type ${f.diskType}${f.diskType === 2 ? ' (fixed)' : ''}`,
    `  original size ${f.originalSize}, current size ${f.currentSize}`,
    `  unique id ${f.uniqueIdHex}`,
  ];
}

function formatVerity(v: VeritySuperblock): string[] {
  return [
    `dm-verity:        version ${v.version}, hash type ${v.hashType}, ${v.algorithm}, ${v.dataBlocks} data blocks of ${v.dataBlockSize}`,
    `  salt size ${v.saltSize}, uuid ${v.uuidHex}`,
    `  root digest ${v.rootDigestHex}`,
  ];
}

function formatExt4(e: Ext4Summary): string[] {
  const feature = (label: string, f: FeatureSet): string => `  ${label} ${f.hex} ${f.names.join(' ') || '(none)'}`;
  const lines = [
    `ext4:             ${e.blocksCount} blocks (${e.freeBlocks} free), ${e.inodesCount} inodes (${e.freeInodes} free)`,
    `  ${e.blocksPerGroup} blocks and ${e.inodesPerGroup} inodes per group, inode size ${e.inodeSize}, first inode ${e.firstIno}`,
    feature('compat   ', e.featureCompat),
    feature('incompat ', e.featureIncompat),
    feature('ro_compat', e.featureRoCompat),
    `  uuid ${/^0+$/.test(e.uuidHex) ? '<none>' : e.uuidHex}`,
    `groups:           ${e.groupCount}`,
  ];
  for (const g of e.groups) {
    lines.push(
      `  group ${g.group}: block bitmap ${g.blockBitmap}, inode bitmap ${g.inodeBitmap}, inode table ${g.inodeTable}; ` +
        `${g.freeBlocks} free blocks, ${g.freeInodes} free inodes, ${g.usedDirs} dirs`,
    );
  }
  return lines;
}

export function formatSummary(s: ImageSummary): string {
  const lines = [`image:            ${s.path}`, `file size:        ${s.fileSize} bytes`];
  lines.push(...(s.vhdFooter ? formatFooter(s.vhdFooter) : ['VHD footer:       none']));
  if (s.ext4Bytes !== null) lines.push(`ext4 size:        ${s.ext4Bytes} bytes`);
  if (s.ext4) {
    lines.push(...(s.verity ? formatVerity(s.verity) : ['dm-verity:        none']));
    lines.push(...formatExt4(s.ext4));
  } else {
    lines.push(`ext4:             unreadable (${s.ext4Error ?? 'unknown reason'})`);
  }
  return lines.join('\n') + '\n';
}
