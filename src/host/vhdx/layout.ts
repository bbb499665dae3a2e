// Linear layouts for loop devices (issue #12): a dynamic VHDX whose payload block i is at
// base + i * blockSize maps the whole virtual disk as one range of the file, so the host
// kernel can attach it with `losetup --offset base --sizelimit virtualSize`. Before a
// read-write attach every block is made present at its slot (the file grows sparsely;
// holes read as zeros, so the virtual content is unchanged); after the detach, blocks
// that hold only zeros go back to NOT_PRESENT and their space to the file system.

import { fsyncSync, ftruncateSync, readSync, writeSync } from 'node:fs';
import { BAT_ENTRY_SIZE, PAYLOAD_BLOCK_FULLY_PRESENT, PAYLOAD_BLOCK_NOT_PRESENT, decodeBatEntry, encodeBatEntry, readsAsZeros } from './bat.js';
import { ioGuard, vhdxError } from './errors.js';
import { MiB, blockOfBatIndex, isBitmapEntry } from './geometry.js';
import { randomGuid } from './guid.js';
import { dataRanges, punchHole } from './holes.js';
import { LOG_SECTOR_SIZE } from './log-entry.js';
import { openVhdxFile, type VhdxFile } from './open.js';
import { writeHeaders, writeThroughLog, type SectorWrite } from './update.js';

/**
 * If every payload block i of this file lives (or would live) at fileOffset = base +
 * i * blockSize, return base; else undefined. A loop device with --offset base
 * --sizelimit virtualSize then maps the virtual disk (once allocateAllBlocks ran).
 */
export function linearPayloadBase(path: string): number | undefined {
  const file = openVhdxFile(path, false);
  try {
    return file.bat.linearBase;
  } finally {
    file.close();
  }
}

/**
 * Before a read-write loop attach: marks every payload block present at its linear slot
 * (the file grows sparsely to base + n * blockSize), with headers updated as a writer
 * must (new sequence numbers, FileWriteGuid and DataWriteGuid) and everything flushed.
 * Refuses (VHDX_NOT_LINEAR) a file whose blocks are not at their linear slots.
 */
export function allocateAllBlocks(path: string): void {
  const file = openVhdxFile(path, true);
  try {
    const base = file.bat.linearBase;
    if (base === undefined) throw vhdxError('VHDX_NOT_LINEAR', path, 'payload blocks are not laid out at base + i * blockSize, so no loop device can map them');
    const { blockSize, payloadBlocks } = file.geometry;
    const slotOf = (block: number) => base + block * blockSize;
    if (file.bat.allocatedBlocks === payloadBlocks && file.view.fileSize >= slotOf(payloadBlocks)) return;
    // §2.2.2.1: the headers change before anything else; the loop device is about to change the data.
    let current = writeHeaders(file.fd, path, file.current, { fileWriteGuid: randomGuid(), dataWriteGuid: randomGuid() });
    const fileSize = Math.max(file.view.fileSize, slotOf(payloadBlocks));
    ioGuard(path, 'preparing block slots', () => {
      zeroAbsentSlots(file, slotOf);
      if (fileSize > file.view.fileSize) ftruncateSync(file.fd, fileSize);
      fsyncSync(file.fd);
    });
    current = writeThroughLog(file.fd, path, current, fileSize, changedBatSectors(file, (block, state) =>
      state === PAYLOAD_BLOCK_FULLY_PRESENT ? null : { state: PAYLOAD_BLOCK_FULLY_PRESENT, fileOffset: slotOf(block) },
    ));
    file.current = current;
  } finally {
    file.close();
  }
}

/**
 * After detach: present blocks whose bytes are all holes or all zeros go back to
 * NOT_PRESENT (their data, if any, is punched out of the file and trailing space is
 * truncated), with the headers updated (new FileWriteGuid; the data does not change).
 * Fixed disks (LeaveBlocksAllocated) are left as they are. Returns the blocks released.
 */
export function releaseZeroBlocks(path: string): number {
  const file = openVhdxFile(path, true);
  try {
    if (file.metadata.fileParameters.leaveBlocksAllocated) return 0;
    const released = zeroBlocks(file);
    if (released.count === 0) return 0;
    let current = writeHeaders(file.fd, path, file.current, { fileWriteGuid: randomGuid() });
    ioGuard(path, 'giving released blocks back', () => punchReleased(file, released));
    current = writeThroughLog(file.fd, path, current, file.view.fileSize, changedBatSectors(file, (block) =>
      released.has(block) ? { state: PAYLOAD_BLOCK_NOT_PRESENT, fileOffset: 0 } : null,
    ));
    file.current = current;
    ioGuard(path, 'truncating after the last block', () => truncateAfterLastBlock(file));
    return released.count;
  } finally {
    file.close();
  }
}

/** A set of payload block numbers, one bit each. */
class BlockSet {
  private readonly bits: Uint8Array;
  count = 0;
  constructor(blocks: number) {
    this.bits = new Uint8Array(Math.ceil(blocks / 8));
  }
  add(block: number): void {
    if (!this.has(block)) this.count++;
    this.bits[block >> 3] |= 1 << (block & 7);
  }
  has(block: number): boolean {
    return (this.bits[block >> 3] & (1 << (block & 7))) !== 0;
  }
}

/** Calls `visit` for every payload block with its BAT state and file offset. */
function forEachBlock(file: VhdxFile, visit: (block: number, state: number, fileOffset: number) => void): void {
  const { geometry } = file;
  for (let index = 0; index < geometry.batEntries; index++) {
    if (isBitmapEntry(geometry, index)) continue;
    const entry = file.batEntry(index);
    visit(blockOfBatIndex(geometry, index), entry.state, entry.fileOffset);
  }
}

/** Is every byte of [start, end) a hole or a zero? Reads only the data ranges, 1 MiB at a time. */
function readsAllZero(file: VhdxFile, start: number, end: number, chunk: Buffer, zeros: Buffer): boolean {
  for (const [from, to] of dataRanges(file.fd, start, end)) {
    for (let at = from; at < to; at += chunk.length) {
      const n = Math.min(chunk.length, to - at);
      const got = readSync(file.fd, chunk, 0, n, at);
      if (chunk.compare(zeros, 0, got, 0, got) !== 0) return false;
    }
  }
  return true;
}

/**
 * Slots of blocks that read as zeros but lie inside the file must hold zeros before they
 * are made present (another writer may have left bytes there): non-zero pieces are
 * punched out, or overwritten with zeros where punching is not possible.
 */
function zeroAbsentSlots(file: VhdxFile, slotOf: (block: number) => number): void {
  const chunk = Buffer.alloc(MiB);
  const zeros = Buffer.alloc(MiB);
  const { blockSize } = file.geometry;
  forEachBlock(file, (block, state) => {
    if (!readsAsZeros(state)) return;
    const start = slotOf(block);
    const end = Math.min(start + blockSize, file.view.fileSize);
    if (start >= end || readsAllZero(file, start, end, chunk, zeros)) return;
    if (punchHole(file.fd, start, end - start)) return;
    for (let at = start; at < end; at += MiB) writeSync(file.fd, zeros, 0, Math.min(MiB, end - at), at);
  });
}

/** Present blocks whose virtual bytes are all holes or zeros. */
function zeroBlocks(file: VhdxFile): BlockSet {
  const { blockSize, virtualSize, payloadBlocks } = file.geometry;
  const released = new BlockSet(payloadBlocks);
  const chunk = Buffer.alloc(MiB);
  const zeros = Buffer.alloc(MiB);
  forEachBlock(file, (block, state, fileOffset) => {
    if (state !== PAYLOAD_BLOCK_FULLY_PRESENT) return;
    const length = Math.min(blockSize, virtualSize - block * blockSize);
    if (readsAllZero(file, fileOffset, fileOffset + length, chunk, zeros)) released.add(block);
  });
  return released;
}

type BatChange = { state: number; fileOffset: number } | null;

/** The BAT's 4 KiB sectors that `change` alters, each read once from the file just before it is due. */
function* changedBatSectors(file: VhdxFile, change: (block: number, state: number) => BatChange): Generator<SectorWrite> {
  const { geometry, batRegion } = file;
  const batBytes = geometry.batEntries * BAT_ENTRY_SIZE;
  const perSector = LOG_SECTOR_SIZE / BAT_ENTRY_SIZE;
  for (let sectorStart = 0; sectorStart < batBytes; sectorStart += LOG_SECTOR_SIZE) {
    const fileOffset = batRegion.fileOffset + sectorStart;
    const sector = Buffer.alloc(LOG_SECTOR_SIZE);
    ioGuard(file.path, 'reading the BAT', () => readSync(file.fd, sector, 0, LOG_SECTOR_SIZE, fileOffset));
    let changed = false;
    for (let i = 0; i < perSector; i++) {
      const index = sectorStart / BAT_ENTRY_SIZE + i;
      if (index >= geometry.batEntries || isBitmapEntry(geometry, index)) continue;
      const wanted = change(blockOfBatIndex(geometry, index), decodeBatEntry(sector, i * BAT_ENTRY_SIZE).state);
      if (!wanted) continue;
      encodeBatEntry(sector, i * BAT_ENTRY_SIZE, wanted.state, wanted.fileOffset);
      changed = true;
    }
    if (changed) yield { fileOffset, data: sector };
  }
  file.dropBatCache();
}

/** Gives released blocks' bytes (zeros) back to the file system; reads stay zeros either way. */
function punchReleased(file: VhdxFile, released: BlockSet): void {
  const { blockSize } = file.geometry;
  forEachBlock(file, (block, state, fileOffset) => {
    if (state !== PAYLOAD_BLOCK_FULLY_PRESENT || !released.has(block)) return;
    for (const [from, to] of dataRanges(file.fd, fileOffset, fileOffset + blockSize)) punchHole(file.fd, from, to - from);
  });
}

/** Truncates the file after its last structure or present block (the BAT is read afresh). */
function truncateAfterLastBlock(file: VhdxFile): void {
  const { blockSize } = file.geometry;
  let end = Math.max(...file.structures.map((s) => s.end));
  file.dropBatCache();
  forEachBlock(file, (_block, state, fileOffset) => {
    if (state === PAYLOAD_BLOCK_FULLY_PRESENT) end = Math.max(end, fileOffset + blockSize);
  });
  if (end < file.view.fileSize) ftruncateSync(file.fd, end);
  fsyncSync(file.fd);
}
