// Close (spec §5.2), as a resumable sequence of steps: each step stages as many
// metadata blocks as fit, so memory stays bounded however large the image is.
// Order: directories (pre-order), inode table, bitmaps, group descriptors, superblock.

import * as E from "../errors";
import { fail, failed } from "../errors";
import { formatDecimal } from "../bytes";
import { BLOCK_SIZE, BLOCKS_PER_GROUP, INODE_SIZE, INODES_PER_BLOCK, DESCRIPTORS_PER_BLOCK, GROUP_DESCRIPTOR_SIZE, S_IFDIR, S_IFMT } from "./constants";
import { Inode, encodeInode, fileTypeOf } from "./inode";
import { DirectoryPacker, direntLength, putDirent, putPlaceholder } from "./dirent";
import { bestGroupCount } from "./layout";
import { putBlockBitmap, putInodeBitmap } from "./bitmap";
import { putSuperblock, putGroupDescriptor, SuperblockFields, GroupDescriptor, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE } from "./superblock";
import { Writer } from "./writer";
import { stageWrite, canStage } from "../plan";

const PHASE_DIRECTORIES = 0;
const PHASE_INODE_TABLE = 1;
const PHASE_BITMAPS = 2;
const PHASE_DESCRIPTORS = 3;
const PHASE_SUPERBLOCK = 4;
const PHASE_DONE = 5;

/** hcsshim's (and e2fsck's) entry order: inode number, then name in byte order. */
function sortedChildren(dir: Inode): Array<string> {
  const children = dir.children!;
  const names = children.keys();
  names.sort((a: string, b: string): i32 => {
    const na = sortingChildren!.get(a).number;
    const nb = sortingChildren!.get(b).number;
    if (na != nb) return na < nb ? -1 : 1;
    return a < b ? -1 : (a == b ? 0 : 1);
  });
  return names;
}
let sortingChildren: Map<string, Inode> | null = null;

class PendingDirectory {
  dir: Inode;
  parent: Inode;
  constructor(dir: Inode, parent: Inode) {
    this.dir = dir;
    this.parent = parent;
  }
}

export class Closer {
  writer: Writer;
  phase: i32 = PHASE_DIRECTORIES;
  // Directory walk: an explicit pre-order stack (deep trees must not recurse).
  private stack: Array<PendingDirectory> = [];
  private current: PendingDirectory | null = null;
  private names: Array<string> = [];
  private nextEntry: i32 = 0; // -2 ".", -1 "..", then children
  private nextBlock: i64 = 0;
  // Layout chosen after the directories.
  groups: u32 = 0;
  inodesPerGroup: u32 = 0;
  inodeTableBlock: u32 = 0;
  bitmapStart: u32 = 0;
  diskBlocks: u32 = 0;
  private nextInode: u32 = 1;
  private nextGroup: u32 = 0;
  private usedBlocks: Array<u32> = [];
  private usedInodes: Array<u32> = [];
  private usedDirs: Array<u32> = [];

  constructor(writer: Writer) {
    this.writer = writer;
    const root = writer.root;
    this.stack.push(new PendingDirectory(root, root));
  }

  /** Runs until the staging area is full; returns true when everything is written. */
  step(): bool {
    while (!failed()) {
      switch (this.phase) {
        case PHASE_DIRECTORIES: if (!this.stepDirectories()) return false; break;
        case PHASE_INODE_TABLE: if (!this.stepInodeTable()) return false; break;
        case PHASE_BITMAPS: if (!this.stepBitmaps()) return false; break;
        case PHASE_DESCRIPTORS: if (!this.stepDescriptors()) return false; break;
        case PHASE_SUPERBLOCK: this.writeSuperblock(); break;
        default: return true;
      }
    }
    return false;
  }

  private stepDirectories(): bool {
    while (true) {
      if (this.current == null) {
        if (this.stack.length == 0) {
          this.chooseLayout();
          return true;
        }
        if (!this.startDirectory(this.stack.pop())) return true;
      }
      if (!this.writeDirectoryBlocks()) return false;
      if (this.current != null) continue;
    }
  }

  private startDirectory(pending: PendingDirectory): bool {
    const dir = pending.dir;
    sortingChildren = dir.children;
    this.names = sortedChildren(dir);
    const packer = new DirectoryPacker();
    packer.add(1);
    packer.add(2);
    for (let i = 0; i < this.names.length; i++) packer.add(this.names[i].length);
    if (!this.writer.placeDirectory(dir, packer.blocks)) return false;
    this.current = pending;
    this.nextEntry = -2;
    this.nextBlock = 0;
    // Children directories are visited after this one, in entry order.
    const children = dir.children!;
    for (let i = this.names.length - 1; i >= 0; i--) {
      const child = children.get(this.names[i]);
      if (child.isDir()) this.stack.push(new PendingDirectory(child, dir));
    }
    return true;
  }

  /** Writes whole blocks of the current directory while staging room lasts. */
  private writeDirectoryBlocks(): bool {
    const pending = this.current!;
    const dir = pending.dir;
    const children = dir.children!;
    while (true) {
      if (!canStage(BLOCK_SIZE)) return false;
      const offset = (<i64>dir.dataStart + this.nextBlock) * BLOCK_SIZE;
      const block = stageWrite(<f64>offset, BLOCK_SIZE);
      let left = BLOCK_SIZE;
      while (this.nextEntry < this.names.length) {
        let name: string;
        let target: Inode;
        if (this.nextEntry == -2) { name = "."; target = dir; }
        else if (this.nextEntry == -1) { name = ".."; target = pending.parent; }
        else { name = this.names[this.nextEntry]; target = children.get(name); }
        const rl = direntLength(name.length);
        if (left < rl + 12) break;
        putDirent(block + <usize>(BLOCK_SIZE - left), target.number, rl, name, fileTypeOf(target.mode));
        left -= rl;
        this.nextEntry++;
      }
      putPlaceholder(block + <usize>(BLOCK_SIZE - left), left);
      this.nextBlock++;
      if (this.nextEntry >= this.names.length) {
        this.current = null;
        return true;
      }
    }
    return true;
  }

  private chooseLayout(): void {
    const w = this.writer;
    this.inodeTableBlock = <u32>(w.cursor / BLOCK_SIZE);
    const choice = bestGroupCount(this.inodeTableBlock, w.inodeCount);
    this.groups = choice.groups;
    this.inodesPerGroup = choice.inodesPerGroup;
    const tableBytes = <i64>this.groups * this.inodesPerGroup * INODE_SIZE;
    if (!w.reserve(tableBytes)) return;
    w.cursor += tableBytes;
    this.bitmapStart = <u32>(w.cursor / BLOCK_SIZE);
    this.nextInode = 1;
    this.phase = PHASE_INODE_TABLE;
  }

  private stepInodeTable(): bool {
    const w = this.writer;
    const count = w.inodeCount;
    const tableOffset = <i64>this.inodeTableBlock * BLOCK_SIZE;
    while (this.nextInode <= count) {
      let batch = count - this.nextInode + 1;
      if (batch > 4096) batch = 4096;
      if (!canStage(<i32>batch * INODE_SIZE)) return false;
      const base = stageWrite(<f64>(tableOffset + <i64>(this.nextInode - 1) * INODE_SIZE), <i32>batch * INODE_SIZE);
      for (let i: u32 = 0; i < batch; i++) {
        const node = w.inodes[this.nextInode - 1 + i];
        if (node != null) encodeInode(node, base + <usize>(i * INODE_SIZE), w.fixed);
      }
      this.nextInode += batch;
    }
    // Per-group directory counts for the descriptors.
    for (let g: u32 = 0; g < this.groups; g++) this.usedDirs.push(0);
    for (let n: u32 = 1; n <= count; n++) {
      const node = w.inodes[n - 1];
      if (node != null && (node.mode & S_IFMT) == S_IFDIR) this.usedDirs[(n - 1) / this.inodesPerGroup]++;
    }
    const validEnd = this.bitmapStart + 2 * this.groups;
    if (!w.reserve(<i64>2 * this.groups * BLOCK_SIZE)) return true;
    w.cursor += <i64>2 * this.groups * BLOCK_SIZE;
    const minimum = (this.groups - 1) * BLOCKS_PER_GROUP + 1;
    this.diskBlocks = validEnd > minimum ? validEnd : minimum;
    this.nextGroup = 0;
    this.phase = PHASE_BITMAPS;
    return true;
  }

  private stepBitmaps(): bool {
    const w = this.writer;
    const validEnd = this.bitmapStart + 2 * this.groups;
    const usedGdBlocks = (this.groups + DESCRIPTORS_PER_BLOCK - 1) / DESCRIPTORS_PER_BLOCK;
    while (this.nextGroup < this.groups) {
      if (!canStage(2 * BLOCK_SIZE)) return false;
      const g = this.nextGroup;
      const ptr = stageWrite(<f64>((<i64>this.bitmapStart + 2 * g) * BLOCK_SIZE), 2 * BLOCK_SIZE);
      this.usedBlocks.push(putBlockBitmap(ptr, g, this.groups, validEnd, this.diskBlocks, usedGdBlocks, w.gdBlocks));
      this.usedInodes.push(putInodeBitmap(ptr + BLOCK_SIZE, g, this.inodesPerGroup, w.inodeCount, w.fixed));
      this.nextGroup++;
    }
    // The zero fill up to diskBlocks is written by the cursor too (spec §5.2 step 6).
    const fillEnd = <i64>this.diskBlocks * BLOCK_SIZE;
    if (fillEnd > w.cursor) {
      if (!w.reserve(fillEnd - w.cursor)) return true;
      w.cursor = fillEnd;
    }
    if (usedGdBlocks > w.gdBlocks) {
      fail(E.EXT4_DISK_FULL, "disk exceeded maximum size of " + formatDecimal(w.maxDiskSize) + " bytes");
      return true;
    }
    this.nextGroup = 0;
    this.phase = PHASE_DESCRIPTORS;
    return true;
  }

  private stepDescriptors(): bool {
    const descriptor = new GroupDescriptor();
    while (this.nextGroup < this.groups) {
      let batch = this.groups - this.nextGroup;
      if (batch > DESCRIPTORS_PER_BLOCK * 64) batch = DESCRIPTORS_PER_BLOCK * 64;
      if (!canStage(<i32>batch * GROUP_DESCRIPTOR_SIZE)) return false;
      const base = stageWrite(<f64>(BLOCK_SIZE + <i64>this.nextGroup * GROUP_DESCRIPTOR_SIZE), <i32>batch * GROUP_DESCRIPTOR_SIZE);
      for (let i: u32 = 0; i < batch; i++) {
        const g = this.nextGroup + i;
        descriptor.blockBitmap = this.bitmapStart + 2 * g;
        descriptor.inodeBitmap = this.bitmapStart + 2 * g + 1;
        descriptor.inodeTable = this.inodeTableBlock + g * (this.inodesPerGroup / INODES_PER_BLOCK);
        descriptor.freeBlocks = BLOCKS_PER_GROUP - this.usedBlocks[g];
        descriptor.freeInodes = this.inodesPerGroup - this.usedInodes[g];
        descriptor.usedDirs = this.usedDirs[g];
        putGroupDescriptor(base + <usize>(i * GROUP_DESCRIPTOR_SIZE), descriptor);
      }
      this.nextGroup += batch;
    }
    this.phase = PHASE_SUPERBLOCK;
    return true;
  }

  private writeSuperblock(): void {
    const f = new SuperblockFields();
    let usedBlocks: u64 = 0;
    let usedInodes: u64 = 0;
    for (let g = 0; g < this.usedBlocks.length; g++) {
      usedBlocks += this.usedBlocks[g];
      usedInodes += this.usedInodes[g];
    }
    f.inodesCount = this.groups * this.inodesPerGroup;
    f.blocksCount = this.diskBlocks;
    f.freeBlocks = <u32>(<u64>BLOCKS_PER_GROUP * this.groups - usedBlocks);
    f.freeInodes = <u32>(<u64>f.inodesCount - usedInodes);
    f.inodesPerGroup = this.inodesPerGroup;
    f.inlineData = this.writer.inlineData;
    putSuperblock(stageWrite(<f64>SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE), f);
    this.phase = PHASE_DONE;
  }

  get imageBytes(): f64 {
    return <f64>this.diskBlocks * BLOCK_SIZE;
  }
}

