// Where mke2fs puts every metadata block, and the per-group counts and flags that
// follow: ext2fs_initialize's per-group setup, ext2fs_allocate_group_table with its
// flex_bg placement (flexbg_offset, the contiguous last flex group), then the blocks of
// the root directory and lost+found. Ported step for step from e2fsprogs 1.47.0
// lib/ext2fs/{initialize,alloc_tables,alloc}.c so odd sizes land where mke2fs puts them.

import { Geometry, BLOCKS_PER_GROUP, GROUPS_PER_FLEX } from "./geometry";
import { UsedBlocks } from "./used-blocks";

export const BG_INODE_UNINIT: u16 = 0x1;
export const BG_BLOCK_UNINIT: u16 = 0x2;
export const BG_INODE_ZEROED: u16 = 0x4;

/** lost+found is grown to 16 KiB (mke2fs create_lost_and_found). */
export const LOST_AND_FOUND_BLOCKS: i32 = 4;

export class Placement {
  readonly geometry: Geometry;
  readonly used: UsedBlocks = new UsedBlocks();
  readonly blockBitmap: StaticArray<i64>;
  readonly inodeBitmap: StaticArray<i64>;
  readonly inodeTable: StaticArray<i64>;
  readonly freeBlocks: StaticArray<u32>;
  readonly flags: StaticArray<u16>;
  /** Blocks used by superblocks, descriptors, bitmaps and inode tables (s_overhead_clusters). */
  overhead: i64 = 0;
  rootBlock: i64 = 0;
  readonly lostAndFoundBlocks: StaticArray<i64> = new StaticArray<i64>(LOST_AND_FOUND_BLOCKS);

  constructor(geometry: Geometry) {
    this.geometry = geometry;
    const n = <i32>geometry.groups;
    this.blockBitmap = new StaticArray<i64>(n);
    this.inodeBitmap = new StaticArray<i64>(n);
    this.inodeTable = new StaticArray<i64>(n);
    this.freeBlocks = new StaticArray<u32>(n);
    this.flags = new StaticArray<u16>(n);
  }

  /** Lays out the whole file system; false if mke2fs would fail to allocate the tables. */
  build(): bool {
    this.reserveSuperblocks();
    for (let group: u32 = 0; group < this.geometry.groups; group++) {
      if (!this.allocateGroupTables(group)) return false;
    }
    this.overhead = this.used.total;
    // write_inode_tables: lazy_itable_init=0 zeroes every table and says so.
    for (let group: u32 = 0; group < this.geometry.groups; group++) this.flags[group] |= BG_INODE_ZEROED;
    // ext2fs_mkdir takes the first free block from the root's flex group start, and
    // ext2fs_expand_dir the next free one after the last block each time.
    this.rootBlock = this.allocateBlock(0);
    let goal: i64 = 0;
    for (let i = 0; i < LOST_AND_FOUND_BLOCKS; i++) {
      const block = this.allocateBlock(goal);
      this.lostAndFoundBlocks[i] = block;
      goal = block + 1;
    }
    // Inodes 1..11 are in use: group 0 is no longer INODE_UNINIT.
    this.flags[0] &= ~BG_INODE_UNINIT;
    return true;
  }

  /** initialize.c: superblock and descriptor copies, free counts, UNINIT flags. */
  private reserveSuperblocks(): void {
    const g = this.geometry;
    for (let group: u32 = 0; group < g.groups; group++) {
      let flags = BG_INODE_UNINIT;
      // The last group's block bitmap needs its padding written, so it is never uninit.
      if (group != g.groups - 1) flags |= BG_BLOCK_UNINIT;
      this.flags[group] = flags;
      let reserved: i64 = 0;
      if (g.hasSuperblock(group)) {
        reserved = 1 + <i64>g.descriptorBlocks;
        let descriptors = <i64>g.descriptorBlocks;
        const descriptorStart = g.firstBlock(group) + 1;
        if (descriptorStart + descriptors >= g.blocks) descriptors = g.blocks - descriptorStart;
        this.used.mark(g.firstBlock(group), 1);
        this.used.mark(descriptorStart, descriptors);
      }
      this.freeBlocks[group] = <u32>(g.blocksIn(group) - reserved);
    }
  }

  /** Counts `count` blocks from `block` on against the groups that hold them. */
  private take(block: i64, count: i64): void {
    const g = this.geometry;
    while (count > 0) {
      const group = g.groupOf(block);
      const last = g.lastBlock(group);
      let n = count;
      if (block + count > last) n = last - block + 1;
      this.freeBlocks[group] -= <u32>n;
      this.flags[group] &= ~BG_BLOCK_UNINIT;
      block += n;
      count -= n;
    }
  }

  /**
   * ext2fs_get_free_blocks2: the first b from `start` with [b, b + count) free, below
   * `finish`; when finish <= start the search wraps to block 0 and goes on up to finish.
   * Returns -1 when there is none.
   */
  private findFree(start: i64, finish: i64, count: i64): i64 {
    const blocks = this.geometry.blocks;
    if (finish == 0) finish = start;
    const found = this.used.firstFreeRun(start, count);
    if (finish > start) return found < finish && found + count <= blocks ? found : -1;
    if (found + count <= blocks) return found;
    const wrapped = this.used.firstFreeRun(0, count);
    const limit = finish > 0 ? finish : 1;
    return wrapped < limit && wrapped + count <= blocks ? wrapped : -1;
  }

  /** flexbg_offset: where the tables of a flex group's members should start. */
  private flexOffset(group: u32, start: i64, remainingGroups: u32, elementBlocks: i64): i64 {
    const g = this.geometry;
    let size = <i64>remainingGroups * elementBlocks;
    if (size > BLOCKS_PER_GROUP / 4) size = BLOCKS_PER_GROUP / 4;
    // Keep going from the previous table while that stays free (skips small obstacles).
    if (start != 0 && start < g.blocks) {
      const next = this.findFree(start, start + size, elementBlocks);
      if (next >= 0) return next;
    }
    const flexFirst = g.firstBlock(group & ~(GROUPS_PER_FLEX - 1));
    const flexLast = g.lastBlock(this.lastGroupOfFlex(group));
    let found = this.findFree(flexFirst, flexLast, size);
    if (found >= 0) return found;
    found = this.findFree(flexFirst, flexLast, elementBlocks);
    if (found >= 0) return found;
    found = this.findFree(0, flexLast, elementBlocks);
    return found >= 0 ? found : 0;
  }

  private lastGroupOfFlex(group: u32): u32 {
    const last = group | (GROUPS_PER_FLEX - 1);
    return last > this.geometry.groups - 1 ? this.geometry.groups - 1 : last;
  }

  /** One bitmap block near `start`, else anywhere in the group's range. */
  private allocateBitmap(start: i64, groupFirst: i64, last: i64): i64 {
    let block = this.findFree(start, last, 1);
    if (block < 0) block = this.findFree(groupFirst, last, 1);
    if (block < 0) return -1;
    this.used.mark(block, 1);
    this.take(block, 1);
    return block;
  }

  /** ext2fs_allocate_group_table for a flex_bg file system. */
  private allocateGroupTables(group: u32): bool {
    const g = this.geometry;
    const groupFirst = g.firstBlock(group);
    const lastGroup = this.lastGroupOfFlex(group);
    const remaining = lastGroup - group + 1;
    const last = g.lastBlock(lastGroup);
    const leader = group % GROUPS_PER_FLEX == 0;
    // The last flex group keeps its tables contiguous: bitmaps spaced by its group count.
    let tableOffset: i64 = GROUPS_PER_FLEX;
    if (leader && lastGroup == g.groups - 1) {
      tableOffset = <i64>(lastGroup & (GROUPS_PER_FLEX - 1));
      tableOffset = tableOffset == 0 ? GROUPS_PER_FLEX : tableOffset + 1;
    }

    let previous: i64 = leader ? 0 : this.blockBitmap[group - 1] + 1;
    const blockBitmap = this.allocateBitmap(this.flexOffset(group, previous, remaining, 1), groupFirst, last);
    if (blockBitmap < 0) return false;
    this.blockBitmap[group] = blockBitmap;

    previous = leader ? blockBitmap + tableOffset : this.inodeBitmap[group - 1] + 1;
    const inodeBitmap = this.allocateBitmap(this.flexOffset(group, previous, remaining, 1), groupFirst, last);
    if (inodeBitmap < 0) return false;
    this.inodeBitmap[group] = inodeBitmap;

    const tableBlocks = <i64>g.inodeTableBlocks;
    previous = leader ? inodeBitmap + tableOffset : this.inodeTable[group - 1] + tableBlocks;
    const table = this.findFree(this.flexOffset(group, previous, remaining, tableBlocks), last, tableBlocks);
    if (table < 0) return false;
    this.used.mark(table, tableBlocks);
    this.take(table, tableBlocks);
    this.inodeTable[group] = table;
    return true;
  }

  /** ext2fs_new_block2: the first free block from `goal`, wrapping to block 0. */
  private allocateBlock(goal: i64): i64 {
    let block = this.used.firstFreeRun(goal, 1);
    if (block >= this.geometry.blocks) block = this.used.firstFreeRun(0, 1);
    this.used.mark(block, 1);
    this.take(block, 1);
    return block;
  }
}
