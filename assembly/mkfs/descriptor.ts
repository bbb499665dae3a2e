// The 64-byte group descriptor of a 64bit, metadata_csum file system (ext4 wiki "Block
// Group Descriptors"). Its checksum is the low 16 bits of crc32c over the group
// number and the descriptor with the checksum field zeroed (csum.c ext2fs_group_desc_csum).

import { crc32c, crc32cU32 } from "../ext4/crc32c";
import { DESCRIPTOR_SIZE } from "./geometry";

export class DescriptorValues {
  blockBitmap: i64 = 0;
  inodeBitmap: i64 = 0;
  inodeTable: i64 = 0;
  freeBlocks: u32 = 0;
  freeInodes: u32 = 0;
  usedDirectories: u32 = 0;
  flags: u16 = 0;
  /** Full crc32c values; 0 for bitmaps left uninitialised. */
  blockBitmapChecksum: u32 = 0;
  inodeBitmapChecksum: u32 = 0;
  unusedInodes: u32 = 0;
}

/** Fills the zeroed 64 bytes at ptr with group `group`'s descriptor. */
export function putDescriptor(ptr: usize, group: u32, d: DescriptorValues, checksumSeed: u32): void {
  store<u32>(ptr + 0x00, <u32>d.blockBitmap);
  store<u32>(ptr + 0x04, <u32>d.inodeBitmap);
  store<u32>(ptr + 0x08, <u32>d.inodeTable);
  store<u16>(ptr + 0x0c, <u16>d.freeBlocks);
  store<u16>(ptr + 0x0e, <u16>d.freeInodes);
  store<u16>(ptr + 0x10, <u16>d.usedDirectories);
  store<u16>(ptr + 0x12, d.flags);
  store<u16>(ptr + 0x18, <u16>d.blockBitmapChecksum);
  store<u16>(ptr + 0x1a, <u16>d.inodeBitmapChecksum);
  store<u16>(ptr + 0x1c, <u16>d.unusedInodes);
  store<u32>(ptr + 0x20, <u32>(d.blockBitmap >> 32));
  store<u32>(ptr + 0x24, <u32>(d.inodeBitmap >> 32));
  store<u32>(ptr + 0x28, <u32>(d.inodeTable >> 32));
  store<u16>(ptr + 0x2c, <u16>(d.freeBlocks >> 16));
  store<u16>(ptr + 0x2e, <u16>(d.freeInodes >> 16));
  store<u16>(ptr + 0x30, <u16>(d.usedDirectories >> 16));
  store<u16>(ptr + 0x32, <u16>(d.unusedInodes >> 16));
  store<u16>(ptr + 0x38, <u16>(d.blockBitmapChecksum >> 16));
  store<u16>(ptr + 0x3a, <u16>(d.inodeBitmapChecksum >> 16));
  const crc = crc32c(crc32cU32(checksumSeed, group), ptr, DESCRIPTOR_SIZE);
  store<u16>(ptr + 0x1e, <u16>crc);
}
