// Creates a dynamic VHDX (MS-VHDX 1.0) holding the given writes. Payload block i, when
// allocated, sits at payloadBase + i * blockSize (placement.ts): the file is sparse, only
// blocks that receive non-zero data are allocated, and the metadata is written last, so
// a crash leaves only the temporary file, which is removed on any failure.

import { closeSync, fsyncSync, ftruncateSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { BAT_ENTRY_SIZE, PAYLOAD_BLOCK_FULLY_PRESENT, encodeBatEntry } from './bat.js';
import { ioGuard, vhdxError } from './errors.js';
import { encodeFileIdentifier } from './file-identifier.js';
import { DEFAULT_BLOCK_SIZE, MiB, blockOfBatIndex, geometryOf, geometryProblem, isBitmapEntry, type Geometry } from './geometry.js';
import { GUID_SIZE, randomGuid, ZERO_GUID } from './guid.js';
import { HEADER_OFFSETS, VHDX_VERSION, encodeHeader } from './header.js';
import {
  FILE_PARAMETERS_GUID,
  LOGICAL_SECTOR_SIZE_GUID,
  MIN_ITEM_OFFSET,
  PAGE83_GUID,
  PHYSICAL_SECTOR_SIZE_GUID,
  VIRTUAL_DISK_SIZE_GUID,
  encodeFileParameters,
  encodeMetadataTable,
  encodeUint32,
  encodeUint64,
  type MetadataEntry,
} from './metadata.js';
import { LOG_LENGTH, LOG_OFFSET, METADATA_LENGTH, METADATA_OFFSET, placementOf, type Placement } from './placement.js';
import { BAT_REGION_GUID, METADATA_REGION_GUID, REGION_TABLE_OFFSETS, encodeRegionTable } from './region-table.js';

/** Bytes to put at `offset` of the VIRTUAL disk. Later writes win where writes overlap. */
export interface VhdxWrite {
  offset: number;
  data: Uint8Array;
}

export interface CreateVhdxOptions {
  /** Bytes; a multiple of the logical sector size, at most 64 TiB. */
  virtualSize: number;
  /** Payload block size: a power of two from 1 MiB to 256 MiB; default 1 MiB. */
  blockSize?: number;
  /** Default 512. */
  logicalSectorSize?: 512 | 4096;
  /** Default 4096. */
  physicalSectorSize?: 512 | 4096;
  /** The SCSI page 83 id (16 bytes); random by default. */
  page83Id?: Uint8Array;
  /** 16 bytes each; random by default. */
  fileWriteGuid?: Uint8Array;
  dataWriteGuid?: Uint8Array;
  /** fsync before the rename (default true). */
  sync?: boolean;
}

const CREATOR = 'lcow';

/**
 * Writes a new dynamic VHDX at `path` (temporary name beside it, fsync when sync, rename),
 * allocating only the payload blocks that the writes touch with non-zero bytes.
 */
export async function createVhdx(path: string, options: CreateVhdxOptions, writes: Iterable<VhdxWrite> | AsyncIterable<VhdxWrite>): Promise<void> {
  const geometry = checkedGeometry(path, options);
  const placement = placementOf(geometry);
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = ioGuard(path, 'creating the temporary file', () => openSync(temporary, 'wx', 0o644));
  let closed = false;
  try {
    const allocated = new Uint8Array(Math.ceil(geometry.payloadBlocks / 8));
    let lastAllocated = -1;
    for await (const write of writes) {
      lastAllocated = Math.max(lastAllocated, writePayload(path, fd, geometry, placement, allocated, write));
    }
    writeStructures(path, fd, geometry, placement, options, allocated);
    const fileSize = placement.payloadBase + (lastAllocated + 1) * geometry.blockSize;
    ioGuard(path, 'writing', () => {
      ftruncateSync(fd, fileSize);
      if (options.sync !== false) fsyncSync(fd);
    });
    closed = true;
    closeSync(fd);
    ioGuard(path, 'renaming into place', () => renameSync(temporary, path));
  } catch (error) {
    if (!closed) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // already renamed or never created: nothing to clean up
    }
    throw error;
  }
}

function checkedGeometry(path: string, options: CreateVhdxOptions): Geometry {
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  const logicalSectorSize = options.logicalSectorSize ?? 512;
  const problem = geometryProblem(options.virtualSize, blockSize, logicalSectorSize);
  if (problem) throw vhdxError('VHDX_INVALID_ARGUMENT', path, problem);
  const physical = options.physicalSectorSize ?? 4096;
  if (physical !== 512 && physical !== 4096) throw vhdxError('VHDX_INVALID_ARGUMENT', path, `physical sector size ${physical} is neither 512 nor 4096`);
  for (const name of ['page83Id', 'fileWriteGuid', 'dataWriteGuid'] as const) {
    const value = options[name];
    if (value !== undefined && value.length !== GUID_SIZE) throw vhdxError('VHDX_INVALID_ARGUMENT', path, `${name} is ${value.length} bytes, not 16`);
  }
  return geometryOf(options.virtualSize, blockSize, logicalSectorSize);
}

function isAllZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Writes one VhdxWrite block by block; returns the highest block it allocated (or -1). */
function writePayload(path: string, fd: number, geometry: Geometry, placement: Placement, allocated: Uint8Array, write: VhdxWrite): number {
  const { offset, data } = write;
  const { blockSize, virtualSize } = geometry;
  if (!Number.isSafeInteger(offset) || offset < 0 || !(data instanceof Uint8Array) || offset + data.length > virtualSize) {
    throw vhdxError('VHDX_INVALID_ARGUMENT', path, `a write of ${data?.length} bytes at virtual offset ${offset} does not fit the ${virtualSize}-byte disk`);
  }
  let highest = -1;
  for (let done = 0; done < data.length; ) {
    const at = offset + done;
    const block = Math.floor(at / blockSize);
    const inBlock = at - block * blockSize;
    const piece = data.subarray(done, done + Math.min(blockSize - inBlock, data.length - done));
    const isAllocated = (allocated[block >> 3] & (1 << (block & 7))) !== 0;
    // A block nobody wrote is a hole in the sparse file: zeros need no write there.
    if (isAllocated || !isAllZero(piece)) {
      allocated[block >> 3] |= 1 << (block & 7);
      highest = Math.max(highest, block);
      ioGuard(path, 'writing payload', () => writeAll(fd, piece, placement.payloadBase + block * blockSize + inBlock));
    }
    done += piece.length;
  }
  return highest;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function writeStructures(path: string, fd: number, geometry: Geometry, placement: Placement, options: CreateVhdxOptions, allocated: Uint8Array): void {
  const fileWriteGuid = options.fileWriteGuid ?? randomGuid();
  const dataWriteGuid = options.dataWriteGuid ?? randomGuid();
  const regions = encodeRegionTable([
    { guid: BAT_REGION_GUID, fileOffset: placement.batOffset, length: placement.batLength, required: true },
    { guid: METADATA_REGION_GUID, fileOffset: METADATA_OFFSET, length: METADATA_LENGTH, required: true },
  ]);
  ioGuard(path, 'writing the header section', () => {
    writeAll(fd, encodeFileIdentifier(CREATOR), 0);
    // §2.2.2: the current header is the one with the larger sequence number; equal numbers would leave none current.
    HEADER_OFFSETS.forEach((offset, i) => {
      const header = { sequenceNumber: BigInt(i + 1), fileWriteGuid, dataWriteGuid, logGuid: ZERO_GUID, logVersion: 0, version: VHDX_VERSION, logLength: LOG_LENGTH, logOffset: LOG_OFFSET };
      writeAll(fd, encodeHeader(header), offset);
    });
    for (const offset of REGION_TABLE_OFFSETS) writeAll(fd, regions, offset);
    writeAll(fd, encodeMetadata(geometry, options), METADATA_OFFSET);
  });
  writeBat(path, fd, geometry, placement, allocated);
}

/** The metadata table and its five items, packed from 64 KiB on (§2.6.2: all required). */
function encodeMetadata(geometry: Geometry, options: CreateVhdxOptions): Buffer {
  const items: Array<{ id: Uint8Array; bytes: Buffer; isVirtualDisk: boolean }> = [
    { id: FILE_PARAMETERS_GUID, bytes: encodeFileParameters({ blockSize: geometry.blockSize, leaveBlocksAllocated: false, hasParent: false }), isVirtualDisk: false },
    { id: VIRTUAL_DISK_SIZE_GUID, bytes: encodeUint64(geometry.virtualSize), isVirtualDisk: true },
    { id: PAGE83_GUID, bytes: Buffer.from(options.page83Id ?? randomGuid()), isVirtualDisk: true },
    { id: LOGICAL_SECTOR_SIZE_GUID, bytes: encodeUint32(geometry.logicalSectorSize), isVirtualDisk: true },
    { id: PHYSICAL_SECTOR_SIZE_GUID, bytes: encodeUint32(options.physicalSectorSize ?? 4096), isVirtualDisk: true },
  ];
  const entries: MetadataEntry[] = [];
  let offset = MIN_ITEM_OFFSET;
  for (const item of items) {
    entries.push({ itemId: item.id, offset, length: item.bytes.length, isUser: false, isVirtualDisk: item.isVirtualDisk, isRequired: true });
    offset += item.bytes.length;
  }
  return Buffer.concat([encodeMetadataTable(entries), ...items.map((item) => item.bytes)]);
}

/** The BAT in 1 MiB pieces: allocated blocks FULLY_PRESENT at their linear slot, the rest NOT_PRESENT. */
function writeBat(path: string, fd: number, geometry: Geometry, placement: Placement, allocated: Uint8Array): void {
  const perChunk = MiB / BAT_ENTRY_SIZE;
  const chunk = Buffer.alloc(MiB);
  for (let first = 0; first < geometry.batEntries; first += perChunk) {
    const count = Math.min(perChunk, geometry.batEntries - first);
    chunk.fill(0);
    for (let i = 0; i < count; i++) {
      const index = first + i;
      if (isBitmapEntry(geometry, index)) continue; // SB_BLOCK_NOT_PRESENT: no sector bitmaps without a parent
      const block = blockOfBatIndex(geometry, index);
      if ((allocated[block >> 3] & (1 << (block & 7))) === 0) continue;
      encodeBatEntry(chunk, i * BAT_ENTRY_SIZE, PAYLOAD_BLOCK_FULLY_PRESENT, placement.payloadBase + block * geometry.blockSize);
    }
    ioGuard(path, 'writing the BAT', () => writeAll(fd, chunk.subarray(0, count * BAT_ENTRY_SIZE), placement.batOffset + first * BAT_ENTRY_SIZE));
  }
}
