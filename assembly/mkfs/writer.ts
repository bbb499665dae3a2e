// The empty ext4 file system of a sandbox, byte for byte as `mke2fs -t ext4 -E
// lazy_itable_init=0,nodiscard -O ^has_journal,sparse_super2,^resize_inode` (e2fsprogs
// 1.47.0, Debian 12's mke2fs.conf) writes it for the same size, UUID, hash seed and time.
// Everything not emitted here is zero. The non-zero blocks are emitted in ascending
// order through the plan's staging area, as many per step as fit, so a file system of
// any size passes through a bounded buffer.

import { canStage, stageWrite } from "../plan";
import { crc32c } from "../ext4/crc32c";
import { Geometry, BLOCK_SIZE, DESCRIPTOR_SIZE, DESCRIPTORS_PER_BLOCK, FIRST_INODE } from "./geometry";
import { Placement, BG_BLOCK_UNINIT, BG_INODE_UNINIT, LOST_AND_FOUND_BLOCKS } from "./placement";
import { putSuperblock, SuperblockValues, SUPERBLOCK_BYTES, PRIMARY_SUPERBLOCK_OFFSET } from "./superblock";
import { putDescriptor, DescriptorValues } from "./descriptor";
import { putBlockBitmap, putFirstInodeBitmap } from "./bitmaps";
import { putFirstInodeBlock, DirectoryInode } from "./inodes";
import { putRootBlock, putLostAndFoundBlock } from "./directories";

const ROOT_MODE: u16 = 0o755; // umask 022
const LOST_AND_FOUND_MODE: u16 = 0o700; // mke2fs sets umask 077 for it
const DIRECTORIES_IN_GROUP_0: u32 = 2;

// A piece is (block << 21) | (kind << 18) | index: sorting the keys sorts by block.
const KIND_SUPERBLOCK: u64 = 0; // index: group
const KIND_DESCRIPTORS: u64 = 1; // index: descriptor block
const KIND_BLOCK_BITMAP: u64 = 2; // index: group
const KIND_INODE_BITMAP: u64 = 3;
const KIND_INODE_TABLE: u64 = 4;
const KIND_ROOT: u64 = 5;
const KIND_LOST_AND_FOUND: u64 = 6; // index: block of lost+found
const INDEX_BITS: u64 = 18;
const KIND_BITS: u64 = 3;

/**
 * s_kbytes_written as mke2fs reports its own I/O (closefs.c ext2fs_close2): 1, plus the
 * bytes unix_io had written when the file system was closed, plus the descriptor blocks
 * and superblock it is about to write, in KiB. By then it has written the 4 KiB that
 * zap_sector clears; every other block went through unix_io's 8-block write-back
 * cache: the inode table block, the 5 directory blocks and the initialised bitmaps,
 * each once, and all but the last 8 were already flushed. The inode tables are zeroed
 * with fallocate (FALLOC_FL_ZERO_RANGE or PUNCH_HOLE), which is not counted.
 */
function kilobytesWritten(g: Geometry, writtenBitmaps: i64): u64 {
  const CACHE_BLOCKS: i64 = 8;
  const cachedBlocks = 1 + 1 + <i64>LOST_AND_FOUND_BLOCKS + writtenBitmaps;
  const flushed = cachedBlocks > CACHE_BLOCKS ? cachedBlocks - CACHE_BLOCKS : 0;
  const zappedBytes: i64 = 4096;
  return <u64>(1 + (zappedBytes + flushed * BLOCK_SIZE) / 1024 + (<i64>g.descriptorBlocks + 1) / (BLOCK_SIZE / 1024));
}

export class EmptyExt4Writer {
  private readonly geometry: Geometry;
  private readonly placement: Placement;
  private readonly superblock: SuperblockValues = new SuperblockValues();
  private readonly descriptor: DescriptorValues = new DescriptorValues();
  private readonly root: DirectoryInode = new DirectoryInode();
  private readonly lostAndFound: DirectoryInode = new DirectoryInode();
  private readonly checksumSeed: u32;
  private readonly blockBitmapChecksums: StaticArray<u32>;
  private inodeBitmapChecksum: u32 = 0;
  private readonly pieces: Array<u64> = new Array<u64>();
  private cursor: i32 = 0;
  private readonly time: u32;
  private readonly scratch: StaticArray<u8> = new StaticArray<u8>(<i32>BLOCK_SIZE);

  /** `ids` holds the 16-byte UUID then the 16-byte directory hash seed; it must outlive the writer. */
  constructor(geometry: Geometry, time: u32, rootUid: u32, rootGid: u32, ids: usize) {
    this.geometry = geometry;
    this.placement = new Placement(geometry);
    this.time = time;
    this.checksumSeed = crc32c(0xffffffff, ids, 16);
    this.blockBitmapChecksums = new StaticArray<u32>(<i32>geometry.groups);
    this.superblock.uuid = ids;
    this.superblock.hashSeed = ids + 16;
    this.root.mode = ROOT_MODE;
    this.root.uid = rootUid;
    this.root.gid = rootGid;
    this.root.links = 3;
    this.lostAndFound.mode = LOST_AND_FOUND_MODE;
    this.lostAndFound.links = 2;
  }

  /** Lays everything out and checksums the bitmaps; false if the tables cannot be placed. */
  prepare(): bool {
    const g = this.geometry;
    const p = this.placement;
    if (!p.build()) return false;
    const rootBlocks = new StaticArray<i64>(1);
    rootBlocks[0] = p.rootBlock;
    this.root.blocks = rootBlocks;
    this.lostAndFound.blocks = p.lostAndFoundBlocks;

    let freeBlocks: i64 = 0;
    let writtenBitmaps: i64 = 0;
    const scratch = changetype<usize>(this.scratch);
    for (let group: u32 = 0; group < g.groups; group++) {
      freeBlocks += <i64>p.freeBlocks[group];
      if ((p.flags[group] & BG_BLOCK_UNINIT) == 0) {
        memory.fill(scratch, 0, <usize>BLOCK_SIZE);
        this.blockBitmapChecksums[group] = putBlockBitmap(scratch, p, group, this.checksumSeed);
        this.addPiece(p.blockBitmap[group], KIND_BLOCK_BITMAP, group);
        writtenBitmaps++;
      }
      if (g.hasSuperblock(group)) {
        this.addPiece(g.firstBlock(group), KIND_SUPERBLOCK, group);
        for (let j: u32 = 0; j < g.descriptorBlocks; j++) this.addPiece(g.firstBlock(group) + 1 + <i64>j, KIND_DESCRIPTORS, j);
      }
    }
    // Only group 0 has inodes in use, so only its inode bitmap is initialised.
    memory.fill(scratch, 0, <usize>BLOCK_SIZE);
    this.inodeBitmapChecksum = putFirstInodeBitmap(scratch, g.inodesPerGroup, this.checksumSeed);
    writtenBitmaps++;
    this.addPiece(p.inodeBitmap[0], KIND_INODE_BITMAP, 0);
    this.addPiece(p.inodeTable[0], KIND_INODE_TABLE, 0);
    this.addPiece(p.rootBlock, KIND_ROOT, 0);
    for (let i = 0; i < LOST_AND_FOUND_BLOCKS; i++) this.addPiece(p.lostAndFoundBlocks[i], KIND_LOST_AND_FOUND, <u32>i);
    this.pieces.sort();

    const s = this.superblock;
    s.freeBlocks = freeBlocks;
    s.freeInodes = g.inodes - FIRST_INODE;
    s.time = this.time;
    s.overhead = p.overhead;
    s.kilobytesWritten = kilobytesWritten(g, writtenBitmaps);
    return true;
  }

  /** Bytes of the file system (its last block may fall short of the requested size). */
  get sizeBytes(): i64 {
    return this.geometry.blocks * BLOCK_SIZE;
  }

  private addPiece(block: i64, kind: u64, index: u32): void {
    this.pieces.push((<u64>block << (INDEX_BITS + KIND_BITS)) | (kind << INDEX_BITS) | <u64>index);
  }

  /** Stages the next pieces, as many as the staging area takes; true when all have been emitted. */
  step(): bool {
    while (this.cursor < this.pieces.length) {
      const key = this.pieces[this.cursor];
      const block = <i64>(key >> (INDEX_BITS + KIND_BITS));
      const kind = (key >> INDEX_BITS) & ((1 << KIND_BITS) - 1);
      const index = <u32>(key & ((1 << INDEX_BITS) - 1));
      const length = kind == KIND_SUPERBLOCK ? SUPERBLOCK_BYTES : <i32>BLOCK_SIZE;
      if (!canStage(length)) return false;
      let offset = block * BLOCK_SIZE;
      if (kind == KIND_SUPERBLOCK && index == 0) offset = PRIMARY_SUPERBLOCK_OFFSET;
      this.put(stageWrite(<f64>offset, length), kind, index);
      this.cursor++;
    }
    return true;
  }

  private put(ptr: usize, kind: u64, index: u32): void {
    const p = this.placement;
    switch (<i32>kind) {
      case <i32>KIND_SUPERBLOCK: putSuperblock(ptr, this.geometry, this.superblock, index); break;
      case <i32>KIND_DESCRIPTORS: this.putDescriptorBlock(ptr, index); break;
      case <i32>KIND_BLOCK_BITMAP: putBlockBitmap(ptr, p, index, this.checksumSeed); break;
      case <i32>KIND_INODE_BITMAP: putFirstInodeBitmap(ptr, this.geometry.inodesPerGroup, this.checksumSeed); break;
      case <i32>KIND_INODE_TABLE: putFirstInodeBlock(ptr, this.root, this.lostAndFound, this.time, this.checksumSeed); break;
      case <i32>KIND_ROOT: putRootBlock(ptr, this.checksumSeed); break;
      case <i32>KIND_LOST_AND_FOUND: putLostAndFoundBlock(ptr, <i32>index, this.checksumSeed); break;
    }
  }

  private putDescriptorBlock(ptr: usize, blockIndex: u32): void {
    const g = this.geometry;
    const p = this.placement;
    const d = this.descriptor;
    const first = <i64>blockIndex * DESCRIPTORS_PER_BLOCK;
    let end = first + DESCRIPTORS_PER_BLOCK;
    if (end > <i64>g.groups) end = <i64>g.groups;
    for (let group = <u32>first; group < <u32>end; group++) {
      const inUse: u32 = group == 0 ? FIRST_INODE : 0;
      d.blockBitmap = p.blockBitmap[group];
      d.inodeBitmap = p.inodeBitmap[group];
      d.inodeTable = p.inodeTable[group];
      d.freeBlocks = p.freeBlocks[group];
      d.freeInodes = g.inodesPerGroup - inUse;
      d.usedDirectories = group == 0 ? DIRECTORIES_IN_GROUP_0 : 0;
      d.flags = p.flags[group];
      d.blockBitmapChecksum = this.blockBitmapChecksums[group];
      d.inodeBitmapChecksum = (p.flags[group] & BG_INODE_UNINIT) == 0 ? this.inodeBitmapChecksum : 0;
      d.unusedInodes = g.inodesPerGroup - inUse;
      putDescriptor(ptr + <usize>((<i64>group - first) * DESCRIPTOR_SIZE), group, d, this.checksumSeed);
    }
  }
}
