// Read-only access to the virtual disk inside a VHDX, and a description of the file.
// Reads go block by block through the BAT: present blocks from the file, every other
// state as zeros. A pending log is replayed into memory (the file is not written).

import { PAYLOAD_BLOCK_FULLY_PRESENT } from './bat.js';
import { vhdxError } from './errors.js';
import { batIndexOfBlock } from './geometry.js';
import { guidToString } from './guid.js';
import type { VhdxHeader } from './header.js';
import { openVhdxFile, type LogState, type VhdxFile } from './open.js';
import type { ByteSource } from '../ext4/source.js';

/** The ext4 reader's ByteSource, so it reads a file system straight out of a VHDX. */
export type { ByteSource };

/**
 * A read-only view of the virtual disk in `path`: size is the virtual size, read returns
 * the virtual bytes (unallocated blocks as zeros). Validates the whole file first and
 * refuses with a one-line LcowError (VHDX_CORRUPT, VHDX_UNSUPPORTED, VHDX_IO_FAILED).
 */
export function openVhdxSource(path: string): ByteSource {
  const file = openVhdxFile(path, false);
  let closed = false;
  const check = (offset: number, length: number) => {
    if (closed) throw vhdxError('VHDX_INVALID_ARGUMENT', path, 'read after close');
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw vhdxError('VHDX_INVALID_ARGUMENT', path, `cannot read ${length} bytes at ${offset}`);
    }
  };
  const size = file.geometry.virtualSize;
  return {
    size,
    read(offset, length) {
      check(offset, length);
      return readVirtual(file, offset, length);
    },
    readInto(target, offset) {
      check(offset, target.length);
      const n = Math.max(0, Math.min(target.length, size - offset));
      target.set(readVirtual(file, offset, n));
      return n;
    },
    close() {
      if (!closed) file.close();
      closed = true;
    },
  };
}

/** The virtual bytes [offset, offset + length); past the virtual size, zeros. */
export function readVirtual(file: VhdxFile, offset: number, length: number): Buffer {
  const { blockSize, virtualSize } = file.geometry;
  const out = Buffer.alloc(length);
  const end = Math.min(offset + length, virtualSize);
  for (let at = offset; at < end; ) {
    const block = Math.floor(at / blockSize);
    const inBlock = at - block * blockSize;
    const n = Math.min(blockSize - inBlock, end - at);
    const entry = file.batEntry(batIndexOfBlock(file.geometry, block));
    if (entry.state === PAYLOAD_BLOCK_FULLY_PRESENT) file.view.read(entry.fileOffset + inBlock, n).copy(out, at - offset);
    at += n;
  }
  return out;
}

export interface VhdxHeaderInfo {
  valid: boolean;
  /** Why the copy is not valid. */
  problem?: string;
  sequenceNumber?: string;
  fileWriteGuid?: string;
  dataWriteGuid?: string;
  logGuid?: string;
  logOffset?: number;
  logLength?: number;
}

export interface VhdxInfo {
  path: string;
  fileSize: number;
  creator: string;
  /** Which header copy is current: 1 (at 64 KiB) or 2 (at 128 KiB). */
  currentHeader: 1 | 2;
  headers: [VhdxHeaderInfo, VhdxHeaderInfo];
  virtualSize: number;
  blockSize: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  /** The page 83 (Virtual Disk ID) GUID. */
  page83Id: string;
  /** Set on fixed disks. */
  leaveBlocksAllocated: boolean;
  chunkRatio: number;
  payloadBlocks: number;
  batEntries: number;
  batOffset: number;
  metadataOffset: number;
  allocatedBlocks: number;
  zeroStateBlocks: number;
  /** Every payload block i is (or would be) at linearBase + i * blockSize. */
  linear: boolean;
  linearBase?: number;
  log: LogState;
}

function headerInfo(header: VhdxHeader | string): VhdxHeaderInfo {
  if (typeof header === 'string') return { valid: false, problem: header };
  return {
    valid: true,
    sequenceNumber: header.sequenceNumber.toString(),
    fileWriteGuid: guidToString(header.fileWriteGuid),
    dataWriteGuid: guidToString(header.dataWriteGuid),
    logGuid: guidToString(header.logGuid),
    logOffset: header.logOffset,
    logLength: header.logLength,
  };
}

/** Headers, sizes, block and sector sizes, page 83 id, allocation, layout and log state of `path`. */
export function inspectVhdx(path: string): VhdxInfo {
  const file = openVhdxFile(path, false);
  try {
    const { geometry, metadata, bat } = file;
    return {
      path,
      fileSize: file.view.fileSize,
      creator: file.creator,
      currentHeader: file.current.index === 0 ? 1 : 2,
      headers: [headerInfo(file.headers[0]), headerInfo(file.headers[1])],
      virtualSize: geometry.virtualSize,
      blockSize: geometry.blockSize,
      logicalSectorSize: metadata.logicalSectorSize,
      physicalSectorSize: metadata.physicalSectorSize,
      page83Id: guidToString(metadata.page83Id),
      leaveBlocksAllocated: metadata.fileParameters.leaveBlocksAllocated,
      chunkRatio: geometry.chunkRatio,
      payloadBlocks: geometry.payloadBlocks,
      batEntries: geometry.batEntries,
      batOffset: file.batRegion.fileOffset,
      metadataOffset: file.metadataRegion.fileOffset,
      allocatedBlocks: bat.allocatedBlocks,
      zeroStateBlocks: bat.zeroStateBlocks,
      linear: bat.linearBase !== undefined,
      ...(bat.linearBase !== undefined ? { linearBase: bat.linearBase } : {}),
      log: file.log,
    };
  } finally {
    file.close();
  }
}
