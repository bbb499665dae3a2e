// The directory blocks of a new file system: the root holds ".", ".." and
// "lost+found"; lost+found's first block holds "." and "..", the rest are empty. Each
// block ends in a checksummed tail (csum.c ext2fs_dirent_csum: crc32c over the inode
// number, its generation 0 and the block up to the tail).

import { crc32c, crc32cU32 } from "../ext4/crc32c";
import { putDirent, putPlaceholder, direntLength, putDirentTail, DIRENT_TAIL_SIZE } from "../ext4/dirent";
import { INODE_ROOT } from "../ext4/constants";
import { BLOCK_SIZE, FIRST_INODE } from "./geometry";

const TYPE_DIRECTORY: u8 = 2;
const USABLE: i32 = <i32>BLOCK_SIZE - DIRENT_TAIL_SIZE;

function closeBlock(ptr: usize, owner: u32, checksumSeed: u32): void {
  const crc = crc32c(crc32cU32(crc32cU32(checksumSeed, owner), 0), ptr, USABLE);
  putDirentTail(ptr + <usize>USABLE, crc);
}

export function putRootBlock(ptr: usize, checksumSeed: u32): void {
  const dot = direntLength(1);
  const dotDot = direntLength(2);
  putDirent(ptr, INODE_ROOT, dot, ".", TYPE_DIRECTORY);
  putDirent(ptr + <usize>dot, INODE_ROOT, dotDot, "..", TYPE_DIRECTORY);
  putDirent(ptr + <usize>(dot + dotDot), FIRST_INODE, USABLE - dot - dotDot, "lost+found", TYPE_DIRECTORY);
  closeBlock(ptr, INODE_ROOT, checksumSeed);
}

/** Block `index` of lost+found. */
export function putLostAndFoundBlock(ptr: usize, index: i32, checksumSeed: u32): void {
  if (index == 0) {
    const dot = direntLength(1);
    putDirent(ptr, FIRST_INODE, dot, ".", TYPE_DIRECTORY);
    putDirent(ptr + <usize>dot, INODE_ROOT, USABLE - dot, "..", TYPE_DIRECTORY);
  } else {
    putPlaceholder(ptr, USABLE);
  }
  closeBlock(ptr, FIRST_INODE, checksumSeed);
}
