// Indirect block maps, as ext2, ext3 and ext4 without the extent feature write them
// (kernel Documentation/filesystems/ext4/ifork.rst, "Direct/Indirect Block Addressing"):
// i_block holds 12 direct block numbers, then one single, one double and one triple
// indirect block. A zero pointer is a hole, at any level.

import type { BlockMapContext, BlockRun } from './block-run.js';

export const DIRECT_BLOCKS = 12;
const SINGLE = 12;
const DOUBLE = 13;
const TRIPLE = 14;

interface Mapped {
  tree: boolean;
  logical: number;
  physical: number;
}

/** The blocks of the first `blockCount` logical blocks, merged into contiguous runs. */
export function* walkIndirectMap(iBlock: Buffer, ctx: BlockMapContext, blockCount: number): Generator<BlockRun> {
  let run: BlockRun | null = null;
  for (const m of mappedBlocks(iBlock, ctx, blockCount)) {
    if (m.tree) {
      if (run) yield run;
      run = null;
      yield { kind: 'tree', logical: m.logical, physical: m.physical, length: 1 };
    } else if (run && run.logical + run.length === m.logical && run.physical + run.length === m.physical) {
      run.length++;
    } else {
      if (run) yield run;
      run = { kind: 'data', logical: m.logical, physical: m.physical, length: 1 };
    }
  }
  if (run) yield run;
}

function* mappedBlocks(iBlock: Buffer, ctx: BlockMapContext, blockCount: number): Generator<Mapped> {
  const perBlock = ctx.blockSize / 4;
  for (let i = 0; i < DIRECT_BLOCKS && i < blockCount; i++) {
    const physical = iBlock.readUInt32LE(i * 4);
    if (physical !== 0) {
      ctx.checkRange(physical, 1, `block ${i} of inode ${ctx.inode}`);
      yield { tree: false, logical: i, physical };
    }
  }
  let first = DIRECT_BLOCKS;
  for (const [slot, level] of [[SINGLE, 1], [DOUBLE, 2], [TRIPLE, 3]] as const) {
    if (first >= blockCount) return;
    const pointer = iBlock.readUInt32LE(slot * 4);
    if (pointer !== 0) yield* indirect(pointer, level, first, ctx, blockCount);
    first += perBlock ** level;
  }
}

/** One indirect block at `level` (1 = its pointers are data blocks) mapping from `first`. */
function* indirect(pointer: number, level: number, first: number, ctx: BlockMapContext, blockCount: number): Generator<Mapped> {
  const table = ctx.readBlock(pointer, `indirect block (level ${level}) of inode ${ctx.inode}`);
  yield { tree: true, logical: first, physical: pointer };
  const perBlock = ctx.blockSize / 4;
  const span = perBlock ** (level - 1);
  for (let i = 0; i < perBlock; i++) {
    const logical = first + i * span;
    if (logical >= blockCount) return;
    const child = table.readUInt32LE(i * 4);
    if (child === 0) continue;
    if (level === 1) {
      ctx.checkRange(child, 1, `block ${logical} of inode ${ctx.inode}`);
      yield { tree: false, logical, physical: child };
    } else {
      yield* indirect(child, level - 1, logical, ctx, blockCount);
    }
  }
}

/** The largest file an indirect map can address with `blockSize` blocks, in blocks. */
export function indirectMapCapacity(blockSize: number): number {
  const perBlock = blockSize / 4;
  return DIRECT_BLOCKS + perBlock + perBlock ** 2 + perBlock ** 3;
}
