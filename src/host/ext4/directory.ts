// Directory entries (kernel Documentation/filesystems/ext4/directory.rst; spec/compact-ext4.md
// §11). Linear blocks of ext4_dir_entry_2 records; htree directories keep the same leaf
// blocks and add index blocks that read as one empty record to a linear reader (the
// dx_root hides behind the '..' record's rec_len, a dx_node is one inode-0 record
// spanning the block), so a linear pass lists every entry of both kinds exactly once.
// With metadata_csum a leaf block ends in a 12-byte tail that also reads as empty.

import { crc32c } from './crc32c.js';
import { corrupt } from './fault.js';

export const DIRENT_HEADER_SIZE = 8;
const DIRENT_TAIL_SIZE = 12;
const DIRENT_TAIL_FILE_TYPE = 0xde;
/** The kernel's EXT4_DIR_REC_LEN: header plus name, rounded up to 4. */
export const direntRecordLength = (nameLength: number): number => (DIRENT_HEADER_SIZE + nameLength + 3) & ~3;

export const FILE_TYPE_NAMES = ['unknown', 'file', 'dir', 'chr', 'blk', 'fifo', 'sock', 'symlink'] as const;

export interface DirEntry {
  inode: number;
  /** ext4 file type: 1 file, 2 dir, 3 chr, 4 blk, 5 fifo, 6 sock, 7 symlink; 0 without the filetype feature. */
  fileType: number;
  /** The name decoded as UTF-8 (use nameBytes for the exact bytes, or nameBytes.toString('latin1')). */
  name: string;
  nameBytes: Buffer;
  recLen: number;
  /** '.' or '..'. */
  dot: boolean;
}

export interface DirectoryContext {
  inode: number;
  inodesCount: number;
  /** Whether name_len is 8 bits followed by a file type byte (the filetype feature). */
  fileTypeFeature: boolean;
  /** With metadata_csum: the directory inode's checksum seed, to verify leaf block tails. */
  checksumSeed?: number;
  /** Yield only the entry with exactly this name (lookups: the others are never decoded). */
  only?: Buffer;
}

/** ext4_rec_len_from_disk: 65536-byte blocks store a full-block record as 0 or 65535. */
export function decodeRecLen(stored: number, blockSize: number): number {
  if (blockSize >= 65536 && (stored === 0 || stored === 65535)) return blockSize;
  return (stored & 65532) | ((stored & 3) << 16);
}

function makeEntry(region: Buffer, at: number, recLen: number, ctx: DirectoryContext): DirEntry {
  const inode = region.readUInt32LE(at);
  const nameLen = ctx.fileTypeFeature ? region.readUInt8(at + 6) : region.readUInt16LE(at + 6);
  const nameBytes = Buffer.from(region.subarray(at + DIRENT_HEADER_SIZE, at + DIRENT_HEADER_SIZE + nameLen));
  const dot = nameLen <= 2 && (nameBytes.toString('latin1') === '.' || nameBytes.toString('latin1') === '..');
  return { inode, fileType: ctx.fileTypeFeature ? region.readUInt8(at + 7) : 0, name: nameBytes.toString('utf8'), nameBytes, recLen, dot };
}

/**
 * The live entries (inode != 0) of one region of records: a directory block, or an inline
 * directory's part of i_block or system.data. Checks each record as the kernel's
 * ext4_check_dir_entry does, so a zero or overlong rec_len is an error and cannot loop.
 */
export function* direntRecords(region: Buffer, blockSize: number, where: string, ctx: DirectoryContext): Generator<DirEntry> {
  let at = 0;
  while (at < region.length) {
    if (at + DIRENT_HEADER_SIZE > region.length) throw corrupt(`directory inode ${ctx.inode}, ${where}: record at byte ${at} is cut off`);
    const recLen = decodeRecLen(region.readUInt16LE(at + 4), blockSize);
    const nameLen = ctx.fileTypeFeature ? region.readUInt8(at + 6) : region.readUInt16LE(at + 6);
    const problem =
      recLen < direntRecordLength(1) ? `rec_len ${recLen} is below 12`
      : recLen % 4 !== 0 ? `rec_len ${recLen} is not a multiple of 4`
      : recLen < direntRecordLength(nameLen) ? `rec_len ${recLen} is too small for a ${nameLen}-byte name`
      : at + recLen > region.length ? `rec_len ${recLen} runs past the end (${region.length} bytes)`
      : null;
    if (problem) throw corrupt(`directory inode ${ctx.inode}, ${where}: record at byte ${at}: ${problem}`);
    const inode = region.readUInt32LE(at);
    if (inode > ctx.inodesCount) throw corrupt(`directory inode ${ctx.inode}, ${where}: entry at byte ${at} names inode ${inode}, above the ${ctx.inodesCount} inodes`);
    const wanted = !ctx.only || (nameLen === ctx.only.length && region.compare(ctx.only, 0, nameLen, at + DIRENT_HEADER_SIZE, at + DIRENT_HEADER_SIZE + nameLen) === 0);
    if (inode !== 0 && wanted) yield makeEntry(region, at, recLen, ctx);
    at += recLen;
  }
}

/** True when the block ends in the metadata_csum leaf tail (a fake empty record of 12 bytes, type 0xde). */
export function hasDirentTail(block: Buffer): boolean {
  const at = block.length - DIRENT_TAIL_SIZE;
  return (
    block.readUInt32LE(at) === 0 && block.readUInt16LE(at + 4) === DIRENT_TAIL_SIZE &&
    block.readUInt8(at + 6) === 0 && block.readUInt8(at + 7) === DIRENT_TAIL_FILE_TYPE
  );
}

/**
 * Whether a block of an htree directory is an index block (the kernel's test in
 * __ext4_read_dirblock): the first block, or one whose first record spans the block.
 * Index blocks carry their own dx_tail checksum, which is not verified here; a stale leaf
 * tail left in a dx_root must not be taken for theirs.
 */
export function isHtreeIndexBlock(block: Buffer, logical: number): boolean {
  return logical === 0 || decodeRecLen(block.readUInt16LE(4), block.length) === block.length;
}

/** The entries of one directory block, its checksum tail verified when it is a leaf with one. */
export function directoryBlockEntries(block: Buffer, blockNumber: number, ctx: DirectoryContext, indexBlock = false): Generator<DirEntry> {
  if (ctx.checksumSeed !== undefined && !indexBlock && hasDirentTail(block)) {
    const stored = block.readUInt32LE(block.length - 4);
    const computed = crc32c(ctx.checksumSeed, block.subarray(0, block.length - DIRENT_TAIL_SIZE));
    if (stored !== computed) {
      throw corrupt(`directory inode ${ctx.inode}: block ${blockNumber} checksum 0x${stored.toString(16)} does not match (0x${computed.toString(16)})`);
    }
  }
  return direntRecords(block, block.length, `block ${blockNumber}`, ctx);
}
