// Where the ext4 bytes of a disk file are, so that one loop device can show them:
//   - layer.vhd: raw ext4 followed by a 512-byte fixed-VHD footer: bytes [0, size - 512).
//   - sandbox.vhdx: a dynamic VHDX. Its blocks can lie anywhere in the file, so a loop
//     device can map it only when every payload block i sits at base + i * blockSize.
//     Our VHDX writer lays sandboxes out that way; before an attach every block is
//     marked present at its slot (the file grows sparsely, holes read as zeros), and
//     after the last detach blocks that are all zeros go back to "not present". A VHDX
//     that is not laid out so (qemu-img, Hyper-V) is refused with a clear error.

import { VHD_FOOTER_SIZE, isVhdFooter } from '../../host/vhd-footer.js';
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { LcowError } from '../../host/errors.js';
import { inspectVhdx } from '../../host/vhdx/reader.js';

const EXT4_MAGIC_OFFSET = 1024 + 0x38;
const EXT4_MAGIC = 0xef53;

/** The VHDX operations an attach of a sandbox needs (src/host/vhdx/). */
export interface SandboxBlocks {
  /** Marks every payload block present at its linear slot. */
  allocateAllBlocks(path: string): void | Promise<void>;
  /** Returns all-zero blocks to "not present" (and their space to the file system). */
  releaseZeroBlocks(path: string): unknown;
}

export interface DiskMapping {
  kind: 'vhd' | 'vhdx';
  /** File offset of the ext4's byte 0. */
  offset: number;
  /** Bytes of ext4. */
  sizeLimit: number;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  const read = readSync(fd, bytes, 0, length, position);
  return bytes.subarray(0, read);
}

function hasExt4Magic(fd: number, offset: number): boolean {
  const magic = readAt(fd, offset + EXT4_MAGIC_OFFSET, 2);
  return magic.length === 2 && magic.readUInt16LE(0) === EXT4_MAGIC;
}

type FileKind = 'vhd' | 'vhdx' | 'unknown';

/** Whether `path` is a VHDX (by its signature); false when it cannot be read. */
export function isVhdx(path: string): boolean {
  try {
    const fd = openSync(path, 'r');
    try {
      return readAt(fd, 0, 8).toString('latin1') === 'vhdxfile';
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

function kindOf(fd: number, size: number): FileKind {
  if (readAt(fd, 0, 8).toString('latin1') === 'vhdxfile') return 'vhdx';
  if (size >= VHD_FOOTER_SIZE && isVhdFooter(readAt(fd, size - VHD_FOOTER_SIZE, VHD_FOOTER_SIZE))) return 'vhd';
  return 'unknown';
}

function refuse(path: string, why: string): LcowError {
  return new LcowError('SVM_DISK_UNMAPPABLE', `cannot attach ${path}: ${why}`);
}

/**
 * Prepares `path` for a loop device and says which bytes to map. A VHDX is made
 * linear-mappable (see above) whatever the mode: a read-only loop device also needs its
 * blocks where it looks and the file as long as the disk.
 */
export async function mapDisk(path: string, blocks: SandboxBlocks): Promise<DiskMapping> {
  const fd = openSync(path, 'r');
  let kind: FileKind;
  let size: number;
  try {
    size = fstatSync(fd).size;
    kind = kindOf(fd, size);
    if (kind === 'vhd') {
      if (!hasExt4Magic(fd, 0)) throw refuse(path, 'the VHD holds no ext4 file system (no superblock magic at byte 1080)');
      return { kind, offset: 0, sizeLimit: size - VHD_FOOTER_SIZE };
    }
  } finally {
    closeSync(fd);
  }
  if (kind === 'unknown') throw refuse(path, 'neither a layer.vhd (no VHD footer) nor a VHDX (no signature)');
  const layout = inspectVhdx(path);
  if (!layout.linear || layout.linearBase === undefined) {
    throw refuse(path, 'its payload blocks are not laid out in order (a VHDX written by another tool, such as qemu-img or Hyper-V); only sandboxes written by lcow can be mapped by a loop device');
  }
  await blocks.allocateAllBlocks(path);
  const mapping: DiskMapping = { kind, offset: layout.linearBase, sizeLimit: layout.virtualSize };
  const check = openSync(path, 'r');
  try {
    if (!hasExt4Magic(check, mapping.offset)) throw refuse(path, 'the VHDX holds no ext4 file system (no superblock magic at virtual byte 1080)');
  } finally {
    closeSync(check);
  }
  return mapping;
}

/** Undoes what mapDisk did to the file, once no loop device maps it any more. */
export async function unmapDisk(path: string, mapping: DiskMapping, blocks: SandboxBlocks): Promise<void> {
  if (mapping.kind === 'vhdx') await blocks.releaseZeroBlocks(path);
}
