// Inline data (kernel Documentation/filesystems/ext4/inlinedata.rst; spec/compact-ext4.md §9):
// a small file or directory keeps its first 60 bytes in i_block and the rest in the value of
// the in-inode xattr "system.data". An inline directory starts with the parent's inode
// number (4 bytes) in place of '.' and '..', then ordinary records.

import { corrupt } from './fault.js';
import { direntRecords, type DirEntry, type DirectoryContext } from './directory.js';
import { I_BLOCK_SIZE, type Inode } from './inode.js';

export const INLINE_DATA_XATTR = 'system.data';
const INLINE_DOTDOT_SIZE = 4;

/** An inline file's bytes: i_block, then system.data, cut to i_size. */
export function inlineFileData(inode: Inode, systemData: Buffer): Buffer {
  if (inode.size > I_BLOCK_SIZE + systemData.length) {
    throw corrupt(`inode ${inode.number}: inline data of ${I_BLOCK_SIZE + systemData.length} bytes is shorter than its size ${inode.size}`);
  }
  return Buffer.concat([inode.iBlock, systemData]).subarray(0, inode.size);
}

const dotEntry = (name: string, inode: number): DirEntry => ({
  inode, fileType: 2, name, nameBytes: Buffer.from(name, 'latin1'), recLen: 0, dot: true,
});

/** An inline directory's entries: '.' and '..' made up as the kernel does, then the records. */
export function* inlineDirectoryEntries(inode: Inode, systemData: Buffer, blockSize: number, ctx: DirectoryContext): Generator<DirEntry> {
  const parent = inode.iBlock.readUInt32LE(0);
  if (parent === 0 || parent > ctx.inodesCount) throw corrupt(`inline directory inode ${inode.number}: parent inode ${parent} out of range`);
  yield dotEntry('.', inode.number);
  yield dotEntry('..', parent);
  yield* direntRecords(inode.iBlock.subarray(INLINE_DOTDOT_SIZE), blockSize, 'i_block', ctx);
  if (systemData.length > 0) yield* direntRecords(systemData, blockSize, INLINE_DATA_XATTR, ctx);
}
