// Finds the first byte where two image files differ and names the on-disk structure
// it belongs to, so a golden mismatch reads "inode table (inode 14)" rather than
// "byte 1482752". Files are compared in large positional reads; only the image being
// explained has its metadata walked, once.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Inode } from './ext4/inode.js';
import { Ext4Reader } from './ext4/reader.js';
import { openFileSource, type ByteSource } from './ext4/source.js';
import { SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE } from './ext4/superblock.js';
import { VHD_FOOTER_SIZE, isVeritySuperblock, readVhdFooter } from './inspect.js';
import { checkImageFile } from './image-file.js';

export interface ImageDiff {
  offset: number;
  block: number;
  structure: string;
  detail?: string;
  sizeA: number;
  sizeB: number;
}

const COMPARE_CHUNK = 1024 * 1024;
/** Offsets are explained in hcsshim's 4096-byte blocks, the images this tool compares. */
const BLOCK_SIZE = 4096;

/** Null when both files are byte-identical, else the first difference, explained. */
export function diffImages(a: string, b: string): ImageDiff | null {
  checkImageFile(a);
  checkImageFile(b, 'the image to compare with');
  const { offset, sizeA, sizeB } = firstDifference(a, b);
  if (offset === null) return null;
  const block = Math.floor(offset / BLOCK_SIZE);
  if (offset >= sizeA) {
    return { offset, block, structure: 'past the end of A', detail: `A is ${sizeA} bytes, B is ${sizeB}`, sizeA, sizeB };
  }
  const where = explainOffset(a, offset) ?? (offset < sizeB ? explainOffset(b, offset) : null);
  const fallback: Located = { structure: 'unknown (no ext4 superblock in either image)' };
  return { offset, block, ...(where ?? fallback), sizeA, sizeB };
}

export function formatDiff(d: ImageDiff): string {
  const detail = d.detail ? ` (${d.detail})` : '';
  return `first difference at byte ${d.offset} (block ${d.block}): ${d.structure}${detail}`;
}

// ---------------------------------------------------------------------------
// Byte comparison.

function firstDifference(a: string, b: string): { offset: number | null; sizeA: number; sizeB: number } {
  const fdA = openSync(a, 'r');
  const fdB = openSync(b, 'r');
  try {
    const sizeA = fstatSync(fdA).size;
    const sizeB = fstatSync(fdB).size;
    const common = Math.min(sizeA, sizeB);
    const bufA = Buffer.alloc(COMPARE_CHUNK);
    const bufB = Buffer.alloc(COMPARE_CHUNK);
    for (let pos = 0; pos < common; pos += COMPARE_CHUNK) {
      const length = Math.min(COMPARE_CHUNK, common - pos);
      readFully(fdA, bufA, length, pos);
      readFully(fdB, bufB, length, pos);
      const chunkA = bufA.subarray(0, length);
      const chunkB = bufB.subarray(0, length);
      if (!chunkA.equals(chunkB)) return { offset: pos + firstUnequalByte(chunkA, chunkB), sizeA, sizeB };
    }
    return { offset: sizeA === sizeB ? null : common, sizeA, sizeB };
  } finally {
    closeSync(fdA);
    closeSync(fdB);
  }
}

function readFully(fd: number, buf: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new Error(`short read at byte ${position + done}`);
    done += n;
  }
}

function firstUnequalByte(a: Buffer, b: Buffer): number {
  // Narrow down by 4 KiB slices with the native comparison before scanning bytes.
  let slice = 0;
  while (a.subarray(slice, slice + BLOCK_SIZE).equals(b.subarray(slice, slice + BLOCK_SIZE))) slice += BLOCK_SIZE;
  let i = slice;
  while (a[i] === b[i]) i++;
  return i;
}

// ---------------------------------------------------------------------------
// Naming the structure at an offset.

interface Located {
  structure: string;
  detail?: string;
}

/** Names what `offset` holds in the image at `path`; null if it has no readable ext4. */
function explainOffset(path: string, offset: number): Located | null {
  const source = openFileSource(path);
  try {
    let image: Ext4Reader | null = null;
    try {
      image = Ext4Reader.open(source);
    } catch {
      image = null;
    }
    const trailer = explainVhdFooter(source, offset, image?.ext4Bytes ?? 0);
    if (trailer) return trailer;
    return image ? explainExt4Offset(image, offset) : null;
  } finally {
    source.close();
  }
}

/**
 * The footer is the last 512 bytes when they start with its cookie and lie past the
 * ext4 image (an ext4 block could hold those bytes by chance); it is recognised even
 * when the ext4 part is unreadable.
 */
function explainVhdFooter(source: ByteSource, offset: number, ext4Bytes: number): Located | null {
  const footerStart = source.size - VHD_FOOTER_SIZE;
  if (offset < footerStart || footerStart < ext4Bytes || !readVhdFooter(source)) return null;
  return { structure: 'VHD footer', detail: fieldAt(VHD_FOOTER_FIELDS, offset - footerStart) };
}

function explainExt4Offset(image: Ext4Reader, offset: number): Located {
  const block = Math.floor(offset / BLOCK_SIZE);
  if (offset >= image.ext4Bytes) return explainPastExt4(image, offset);
  if (block === 0) return explainSuperblock(offset);
  const metadata = explainGroupMetadata(image, offset);
  if (metadata) return metadata;
  const owners = buildOwnershipMap(image);
  const owned = owners.find(block);
  if (owned) return explainOwnedBlock(image, owned, offset);
  if (block < owners.firstOwnedBlock) return { structure: 'group descriptor area (unused)' };
  return { structure: 'free/zero fill' };
}

function explainSuperblock(offset: number): Located {
  const within = offset - SUPERBLOCK_OFFSET;
  if (within < 0 || within >= SUPERBLOCK_SIZE) return { structure: 'superblock', detail: 'zero padding of block 0' };
  return { structure: 'superblock', detail: fieldAt(SUPERBLOCK_FIELDS, within) };
}

function explainPastExt4(image: Ext4Reader, offset: number): Located {
  const hashAreaStart = image.ext4Bytes;
  if (!isVeritySuperblock(image.source.read(hashAreaStart, BLOCK_SIZE))) {
    return { structure: 'data after the ext4 image', detail: `ext4 ends at byte ${hashAreaStart}` };
  }
  if (offset < hashAreaStart + BLOCK_SIZE) {
    return { structure: 'dm-verity superblock', detail: fieldAt(VERITY_FIELDS, offset - hashAreaStart) };
  }
  const treeBlock = Math.floor((offset - hashAreaStart - BLOCK_SIZE) / BLOCK_SIZE);
  return { structure: 'dm-verity hash tree', detail: `tree block ${treeBlock} (0 is the top level)` };
}

/** Descriptors, bitmaps and inode tables, all found through the descriptors (§23). */
function explainGroupMetadata(image: Ext4Reader, offset: number): Located | null {
  const block = Math.floor(offset / BLOCK_SIZE);
  const { groupCount, inodesPerGroup, inodeSize, blocksPerGroup } = image.superblock;
  const descriptorBytes = offset - BLOCK_SIZE;
  const { descSize } = image.superblock;
  if (descriptorBytes >= 0 && descriptorBytes < groupCount * descSize) {
    const group = Math.floor(descriptorBytes / descSize);
    const field = fieldAt(GROUP_DESCRIPTOR_FIELDS, descriptorBytes % descSize);
    return { structure: 'group descriptors', detail: `group ${group}, ${field}` };
  }
  const bit = (offset % BLOCK_SIZE) * 8;
  for (let g = 0; g < groupCount; g++) {
    const gd = image.groupDescriptor(g);
    if (block === gd.blockBitmap) {
      return { structure: `block bitmap of group ${g}`, detail: `bits for blocks ${g * blocksPerGroup + bit}..${g * blocksPerGroup + bit + 7}` };
    }
    if (block === gd.inodeBitmap) {
      const first = g * inodesPerGroup + bit + 1;
      return { structure: `inode bitmap of group ${g}`, detail: `bits for inodes ${first}..${first + 7}` };
    }
    const tableStart = gd.inodeTable * BLOCK_SIZE;
    if (offset >= tableStart && offset < tableStart + inodesPerGroup * inodeSize) {
      const index = Math.floor((offset - tableStart) / inodeSize);
      const inode = g * inodesPerGroup + index + 1;
      return { structure: `inode table (inode ${inode})`, detail: fieldAt(INODE_FIELDS, (offset - tableStart) % inodeSize) };
    }
  }
  return null;
}

function explainOwnedBlock(image: Ext4Reader, owned: OwnedRun, offset: number): Located {
  const block = Math.floor(offset / BLOCK_SIZE);
  const structure = `${owned.kind} of inode ${owned.inode}`;
  if (owned.kind === 'directory block') {
    return { structure, detail: directoryEntryAt(image.readBlock(block), offset % BLOCK_SIZE) };
  }
  if (owned.logical === undefined) return { structure };
  return { structure, detail: `logical block ${owned.logical + (block - owned.start)}` };
}

/** Names the directory entry whose record covers byte `within` of a block. */
function directoryEntryAt(dirBlock: Buffer, within: number): string {
  let at = 0;
  while (at + 8 <= dirBlock.length) {
    const inode = dirBlock.readUInt32LE(at);
    const recLen = dirBlock.readUInt16LE(at + 4);
    if (recLen < 8) break;
    if (within < at + recLen) {
      if (inode === 0) return 'in the empty placeholder entry';
      const name = dirBlock.toString('utf8', at + 8, at + 8 + dirBlock.readUInt8(at + 6));
      return `in the entry "${name}" (inode ${inode})`;
    }
    at += recLen;
  }
  return 'past the last parseable entry';
}

// ---------------------------------------------------------------------------
// Ownership map: which inode uses which block, from one walk over the inode tables.

type OwnerKind = 'directory block' | 'extent leaf' | 'xattr block' | 'file data' | 'symlink data';

interface OwnedRun {
  start: number;
  length: number;
  kind: OwnerKind;
  inode: number;
  /** Logical block of `start`, for data runs. */
  logical?: number;
}

class OwnershipMap {
  private readonly runs: OwnedRun[];
  readonly firstOwnedBlock: number;

  constructor(runs: OwnedRun[], metadataBlocks: number[]) {
    this.runs = runs.sort((x, y) => x.start - y.start);
    // A loop, not Math.min(...spread): a large image can have millions of runs.
    let first = Infinity;
    for (const block of metadataBlocks) first = Math.min(first, block);
    for (const run of runs) first = Math.min(first, run.start);
    this.firstOwnedBlock = first;
  }

  /** Binary search over runs sorted by start; runs never overlap in a sound image. */
  find(block: number): OwnedRun | undefined {
    let lo = 0;
    let hi = this.runs.length - 1;
    let candidate = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.runs[mid].start <= block) {
        candidate = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    // A damaged image can overlap runs, so look back over earlier starts too.
    for (let i = candidate; i >= 0; i--) {
      const run = this.runs[i];
      if (block < run.start + run.length) return run;
    }
    return undefined;
  }
}

function dataKind(inode: Inode): OwnerKind {
  if (inode.type === 'dir') return 'directory block';
  if (inode.type === 'symlink') return 'symlink data';
  return 'file data';
}

function buildOwnershipMap(image: Ext4Reader): OwnershipMap {
  const runs: OwnedRun[] = [];
  image.forEachInode((inode) => {
    const number = inode.number;
    if (inode.fileAcl !== 0) runs.push({ start: inode.fileAcl, length: 1, kind: 'xattr block', inode: number });
    const kind = dataKind(inode);
    for (const run of image.blockMap(inode, { lenient: true })) {
      if (run.kind === 'tree') runs.push({ start: run.physical, length: 1, kind: 'extent leaf', inode: number });
      else runs.push({ start: run.physical, length: run.length, kind, inode: number, logical: run.logical });
    }
  }, { lenient: true });
  const metadata = [...image.groupDescriptors()].flatMap((gd) => [gd.blockBitmap, gd.inodeBitmap, gd.inodeTable]);
  return new OwnershipMap(runs, metadata);
}

// ---------------------------------------------------------------------------
// Field tables for the detail text: [offset, size, name], sorted by offset.

type FieldTable = ReadonlyArray<readonly [number, number, string]>;

function fieldAt(table: FieldTable, within: number): string {
  for (const [start, size, name] of table) {
    if (within >= start && within < start + size) return `field ${name} (+${within - start})`;
  }
  return `byte ${within} (no named field)`;
}

const SUPERBLOCK_FIELDS: FieldTable = [
  [0x00, 4, 's_inodes_count'], [0x04, 4, 's_blocks_count_lo'], [0x08, 4, 's_r_blocks_count_lo'],
  [0x0c, 4, 's_free_blocks_count_lo'], [0x10, 4, 's_free_inodes_count'], [0x14, 4, 's_first_data_block'],
  [0x18, 4, 's_log_block_size'], [0x1c, 4, 's_log_cluster_size'], [0x20, 4, 's_blocks_per_group'],
  [0x24, 4, 's_clusters_per_group'], [0x28, 4, 's_inodes_per_group'], [0x2c, 4, 's_mtime'],
  [0x30, 4, 's_wtime'], [0x34, 2, 's_mnt_count'], [0x36, 2, 's_max_mnt_count'], [0x38, 2, 's_magic'],
  [0x3a, 2, 's_state'], [0x3c, 2, 's_errors'], [0x3e, 2, 's_minor_rev_level'], [0x40, 4, 's_lastcheck'],
  [0x44, 4, 's_checkinterval'], [0x48, 4, 's_creator_os'], [0x4c, 4, 's_rev_level'],
  [0x50, 2, 's_def_resuid'], [0x52, 2, 's_def_resgid'], [0x54, 4, 's_first_ino'], [0x58, 2, 's_inode_size'],
  [0x5a, 2, 's_block_group_nr'], [0x5c, 4, 's_feature_compat'], [0x60, 4, 's_feature_incompat'],
  [0x64, 4, 's_feature_ro_compat'], [0x68, 16, 's_uuid'], [0x78, 16, 's_volume_name'],
  [0x88, 64, 's_last_mounted'], [0xc8, 4, 's_algorithm_usage_bitmap'], [0xcc, 1, 's_prealloc_blocks'],
  [0xcd, 1, 's_prealloc_dir_blocks'], [0xce, 2, 's_reserved_gdt_blocks'], [0xd0, 16, 's_journal_uuid'],
  [0xe0, 4, 's_journal_inum'], [0xe4, 4, 's_journal_dev'], [0xe8, 4, 's_last_orphan'], [0xec, 16, 's_hash_seed'],
  [0xfc, 1, 's_def_hash_version'], [0xfd, 1, 's_jnl_backup_type'], [0xfe, 2, 's_desc_size'],
  [0x100, 4, 's_default_mount_opts'], [0x104, 4, 's_first_meta_bg'], [0x108, 4, 's_mkfs_time'],
  [0x10c, 68, 's_jnl_blocks'], [0x150, 4, 's_blocks_count_hi'], [0x154, 4, 's_r_blocks_count_hi'],
  [0x158, 4, 's_free_blocks_count_hi'], [0x15c, 2, 's_min_extra_isize'], [0x15e, 2, 's_want_extra_isize'],
  [0x160, 4, 's_flags'], [0x164, 2, 's_raid_stride'], [0x166, 2, 's_mmp_interval'], [0x168, 8, 's_mmp_block'],
  [0x170, 4, 's_raid_stripe_width'], [0x174, 1, 's_log_groups_per_flex'], [0x175, 1, 's_checksum_type'],
  [0x178, 8, 's_kbytes_written'], [0x24c, 8, 's_backup_bgs'], [0x268, 4, 's_lpf_ino'],
  [0x3fc, 4, 's_checksum'],
];

const GROUP_DESCRIPTOR_FIELDS: FieldTable = [
  [0x00, 4, 'bg_block_bitmap_lo'], [0x04, 4, 'bg_inode_bitmap_lo'], [0x08, 4, 'bg_inode_table_lo'],
  [0x0c, 2, 'bg_free_blocks_count_lo'], [0x0e, 2, 'bg_free_inodes_count_lo'], [0x10, 2, 'bg_used_dirs_count_lo'],
  [0x12, 2, 'bg_flags'], [0x14, 4, 'bg_exclude_bitmap_lo'], [0x18, 2, 'bg_block_bitmap_csum_lo'],
  [0x1a, 2, 'bg_inode_bitmap_csum_lo'], [0x1c, 2, 'bg_itable_unused_lo'], [0x1e, 2, 'bg_checksum'],
];

const INODE_FIELDS: FieldTable = [
  [0x00, 2, 'i_mode'], [0x02, 2, 'i_uid'], [0x04, 4, 'i_size_lo'], [0x08, 4, 'i_atime'], [0x0c, 4, 'i_ctime'],
  [0x10, 4, 'i_mtime'], [0x14, 4, 'i_dtime'], [0x18, 2, 'i_gid'], [0x1a, 2, 'i_links_count'],
  [0x1c, 4, 'i_blocks_lo'], [0x20, 4, 'i_flags'], [0x24, 4, 'i_version'], [0x28, 60, 'i_block'],
  [0x64, 4, 'i_generation'], [0x68, 4, 'i_file_acl_lo'], [0x6c, 4, 'i_size_high'], [0x70, 4, 'i_obso_faddr'],
  [0x74, 2, 'l_i_blocks_high'], [0x76, 2, 'l_i_file_acl_high'], [0x78, 2, 'l_i_uid_high'],
  [0x7a, 2, 'l_i_gid_high'], [0x7c, 2, 'l_i_checksum_lo'], [0x7e, 2, 'l_i_reserved'],
  [0x80, 2, 'i_extra_isize'], [0x82, 2, 'i_checksum_hi'], [0x84, 4, 'i_ctime_extra'],
  [0x88, 4, 'i_mtime_extra'], [0x8c, 4, 'i_atime_extra'], [0x90, 4, 'i_crtime'], [0x94, 4, 'i_crtime_extra'],
  // With i_extra_isize 24 the rest of the 256 bytes is the in-inode xattr area (§16).
  [0x98, 104, 'in-inode xattr area'],
];

const VERITY_FIELDS: FieldTable = [
  [0, 8, 'signature'], [8, 4, 'version'], [12, 4, 'hash_type'], [16, 16, 'uuid'], [32, 32, 'algorithm'],
  [64, 4, 'data_block_size'], [68, 4, 'hash_block_size'], [72, 8, 'data_blocks'], [80, 2, 'salt_size'],
  [82, 6, 'padding'], [88, 256, 'salt'], [344, 3752, 'padding'],
];

const VHD_FOOTER_FIELDS: FieldTable = [
  [0, 8, 'cookie'], [8, 4, 'features'], [12, 4, 'file format version'], [16, 8, 'data offset'],
  [24, 4, 'timestamp'], [28, 4, 'creator application'], [32, 4, 'creator version'], [36, 4, 'creator host OS'],
  [40, 8, 'original size'], [48, 8, 'current size'], [56, 4, 'disk geometry'], [60, 4, 'disk type'],
  [64, 4, 'checksum'], [68, 16, 'unique id'], [84, 1, 'saved state'], [85, 427, 'reserved'],
];
