// Linear directory blocks (spec §11): "." and "..", then the children, with an
// inode-0 placeholder closing every block.

import { BLOCK_SIZE } from "./constants";
import { latin1Store } from "../bytes";

const DIRENT_HEADER: i32 = 8;

export function direntLength(nameLength: i32): i32 {
  return (DIRENT_HEADER + nameLength + 3) & ~3;
}

/** Counts blocks for a directory whose entries have the given name lengths. */
export class DirectoryPacker {
  left: i32 = BLOCK_SIZE;
  blocks: i32 = 1;

  /** Returns true when the entry starts a new block. */
  add(nameLength: i32): bool {
    const rl = direntLength(nameLength);
    let newBlock = false;
    if (this.left < rl + 12) {
      this.blocks++;
      this.left = BLOCK_SIZE;
      newBlock = true;
    }
    this.left -= rl;
    return newBlock;
  }
}

export function putDirent(ptr: usize, inode: u32, recordLength: i32, name: string, fileType: u8): void {
  store<u32>(ptr, inode);
  store<u16>(ptr + 4, <u16>recordLength);
  store<u8>(ptr + 6, <u8>name.length);
  store<u8>(ptr + 7, fileType);
  latin1Store(name, ptr + DIRENT_HEADER);
}

/** The inode-0 entry covering the rest of a block. */
export function putPlaceholder(ptr: usize, left: i32): void {
  store<u32>(ptr, 0);
  store<u16>(ptr + 4, <u16>left);
}

export const DIRENT_TAIL_SIZE: i32 = 12;

/**
 * The metadata_csum tail closing a directory block (ext4 wiki "Directory Entries"):
 * a fake entry of inode 0, length 12, name length 0, type 0xde, then the checksum.
 */
export function putDirentTail(ptr: usize, checksum: u32): void {
  store<u32>(ptr, 0);
  store<u16>(ptr + 4, <u16>DIRENT_TAIL_SIZE);
  store<u8>(ptr + 6, 0);
  store<u8>(ptr + 7, 0xde);
  store<u32>(ptr + 8, checksum);
}
