// Opens a VHDX file and checks every structure the reader and the layout operations rely
// on, in the order MS-VHDX prescribes: file identifier, headers, log (replayed before
// anything else is read, §2.3.3), region table, metadata, BAT. Each refusal is one
// LcowError: VHDX_CORRUPT for a broken MUST, VHDX_UNSUPPORTED for what we do not handle.

import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { BAT_ENTRY_SIZE, PAYLOAD_BLOCK_FULLY_PRESENT, PAYLOAD_BLOCK_PARTIALLY_PRESENT, SB_BLOCK_NOT_PRESENT, decodeBatEntry, readsAsZeros, type BatEntry } from './bat.js';
import { ioGuard, vhdxError } from './errors.js';
import { FileView, type OverlayUpdate } from './file-view.js';
import { FILE_IDENTIFIER_SIZE, decodeCreator, hasFileSignature } from './file-identifier.js';
import { MiB, blockOfBatIndex, geometryOf, geometryProblem, isBitmapEntry, roundUp, type Geometry } from './geometry.js';
import { guidEquals, guidToString, isZeroGuid, randomGuid, ZERO_GUID } from './guid.js';
import { HEADER_OFFSETS, HEADER_SIZE, VHDX_VERSION, currentHeader, decodeHeader, type CurrentHeader, type VhdxHeader } from './header.js';
import { activeSequence, replayUpdates, sizeAfterReplay } from './log-replay.js';
import {
  FILE_PARAMETERS_GUID,
  FILE_PARAMETERS_SIZE,
  LOGICAL_SECTOR_SIZE_GUID,
  MAX_ITEM_LENGTH,
  METADATA_TABLE_SIZE,
  MIN_ITEM_OFFSET,
  PAGE83_GUID,
  PAGE83_SIZE,
  PARENT_LOCATOR_GUID,
  PHYSICAL_SECTOR_SIZE_GUID,
  SECTOR_SIZE_SIZE,
  VIRTUAL_DISK_SIZE_GUID,
  VIRTUAL_DISK_SIZE_SIZE,
  decodeFileParameters,
  decodeMetadataTable,
  type FileParameters,
  type MetadataEntry,
} from './metadata.js';
import { HEADER_SECTION_SIZE } from './placement.js';
import { BAT_REGION_GUID, METADATA_REGION_GUID, REGION_TABLE_OFFSETS, REGION_TABLE_SIZE, decodeRegionTable, type RegionEntry } from './region-table.js';
import { writeHeaders } from './update.js';

export interface DiskMetadata {
  fileParameters: FileParameters;
  virtualSize: number;
  /** The SCSI page 83 identifier (Virtual Disk ID, §2.6.2.3), as stored. */
  page83Id: Uint8Array;
  logicalSectorSize: number;
  physicalSectorSize: number;
}

export type LogState =
  | { state: 'empty' }
  /** Read-only opens: the updates are applied to every read, the file is untouched. */
  | { state: 'replayed-in-memory'; entries: number; updates: number }
  /** Writable opens: written into the file, LogGuid cleared. */
  | { state: 'replayed'; entries: number; updates: number };

/** A byte range of the file taken by a structure other than payload. */
export interface Extent {
  name: string;
  start: number;
  end: number;
}

export interface BatSummary {
  /** FULLY_PRESENT payload blocks. */
  allocatedBlocks: number;
  /** Blocks in the ZERO, UNDEFINED or UNMAPPED states (read as zeros, like NOT_PRESENT). */
  zeroStateBlocks: number;
  /** base such that every present block i is at base + i * blockSize and the slots overlap nothing; else undefined. */
  linearBase: number | undefined;
}

export interface VhdxFile {
  readonly path: string;
  readonly fd: number;
  readonly writable: boolean;
  readonly view: FileView;
  readonly creator: string;
  readonly headers: [VhdxHeader | string, VhdxHeader | string];
  current: CurrentHeader;
  readonly log: LogState;
  readonly batRegion: RegionEntry;
  readonly metadataRegion: RegionEntry;
  readonly metadata: DiskMetadata;
  readonly geometry: Geometry;
  /** Header section, log and regions: what payload blocks must not overlap. */
  readonly structures: Extent[];
  readonly bat: BatSummary;
  /** The BAT entry at `index` (through a 64 KiB page cache). */
  batEntry(index: number): BatEntry;
  /** Forgets cached BAT pages after the BAT was rewritten. */
  dropBatCache(): void;
  close(): void;
}

const BAT_PAGE_SIZE = 64 * 1024;
const BAT_SCAN_CHUNK = MiB;

/** Opens and validates `path`. Writable opens replay a pending log into the file. */
export function openVhdxFile(path: string, writable: boolean): VhdxFile {
  const fd = ioGuard(path, 'opening', () => openSync(path, writable ? 'r+' : 'r'));
  try {
    return parse(path, fd, writable);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function parse(path: string, fd: number, writable: boolean): VhdxFile {
  const fileSize = ioGuard(path, 'stat', () => fstatSync(fd).size);
  const view = new FileView(path, fd, fileSize);
  const corrupt = (reason: string) => vhdxError('VHDX_CORRUPT', path, reason);
  const identifier = view.read(0, FILE_IDENTIFIER_SIZE);
  if (!hasFileSignature(identifier)) throw corrupt('not a VHDX file: no "vhdxfile" signature at offset 0');
  if (fileSize < HEADER_SECTION_SIZE) throw corrupt(`truncated: ${fileSize} bytes, less than the 1 MiB header section`);
  const headers: [VhdxHeader | string, VhdxHeader | string] = [
    decodeHeader(view.read(HEADER_OFFSETS[0], HEADER_SIZE)),
    decodeHeader(view.read(HEADER_OFFSETS[1], HEADER_SIZE)),
  ];
  const chosen = currentHeader(headers[0], headers[1]);
  if (typeof chosen === 'string') throw corrupt(`headers: ${chosen}`);
  checkHeader(path, chosen.header);
  const replay = replayLog(path, view, chosen, writable);
  const current = replay.current;
  const log = replay.log;
  const regions = readRegions(path, view);
  const header = current.header;
  const structures: Extent[] = [{ name: 'the header section', start: 0, end: HEADER_SECTION_SIZE }];
  if (header.logLength > 0) structures.push({ name: 'the log', start: header.logOffset, end: header.logOffset + header.logLength });
  for (const region of regions.all) {
    const name = guidEquals(region.guid, BAT_REGION_GUID) ? 'the BAT' : guidEquals(region.guid, METADATA_REGION_GUID) ? 'the metadata region' : `region ${guidToString(region.guid)}`;
    const extent = { name, start: region.fileOffset, end: region.fileOffset + region.length };
    const clash = structures.find((other) => extent.start < other.end && other.start < extent.end);
    if (clash) throw corrupt(`region table: ${name} (${extent.start}..${extent.end}) overlaps ${clash.name}`);
    if (extent.end > view.size) throw corrupt(`region table: ${name} ends at ${extent.end}, past the end of the file (${view.size} bytes; truncated?)`);
    structures.push(extent);
  }
  const metadata = readMetadata(path, view, regions.metadata);
  const problem = geometryProblem(metadata.virtualSize, metadata.fileParameters.blockSize, metadata.logicalSectorSize);
  if (problem) throw corrupt(`metadata: ${problem}`);
  const geometry = geometryOf(metadata.virtualSize, metadata.fileParameters.blockSize, metadata.logicalSectorSize);
  if (regions.bat.length < geometry.batEntries * BAT_ENTRY_SIZE) {
    throw corrupt(`BAT: its ${regions.bat.length} bytes cannot hold the ${geometry.batEntries} entries of a ${geometry.virtualSize}-byte disk`);
  }
  const bat = scanBat(path, view, regions.bat, geometry, structures);
  let pageIndex = -1;
  let page: Buffer = Buffer.alloc(0);
  return {
    path, fd, writable, view, creator: decodeCreator(identifier), headers, current, log,
    batRegion: regions.bat, metadataRegion: regions.metadata, metadata, geometry, structures, bat,
    batEntry(index) {
      const wanted = Math.floor((index * BAT_ENTRY_SIZE) / BAT_PAGE_SIZE);
      if (wanted !== pageIndex) {
        page = view.read(regions.bat.fileOffset + wanted * BAT_PAGE_SIZE, BAT_PAGE_SIZE);
        pageIndex = wanted;
      }
      return decodeBatEntry(page, (index * BAT_ENTRY_SIZE) % BAT_PAGE_SIZE);
    },
    dropBatCache() {
      pageIndex = -1;
    },
    close() {
      closeSync(fd);
    },
  };
}

function checkHeader(path: string, header: VhdxHeader): void {
  const corrupt = (reason: string) => vhdxError('VHDX_CORRUPT', path, `header: ${reason}`);
  if (header.version !== VHDX_VERSION) throw vhdxError('VHDX_UNSUPPORTED', path, `header: version ${header.version}, only version 1 is defined`);
  if (header.logOffset % MiB !== 0 || header.logOffset < MiB) throw corrupt(`log offset ${header.logOffset} is not a multiple of 1 MiB after the header section`);
  if (header.logLength % MiB !== 0) throw corrupt(`log length ${header.logLength} is not a multiple of 1 MiB`);
  if (!isZeroGuid(header.logGuid)) {
    if (header.logVersion !== 0) throw vhdxError('VHDX_UNSUPPORTED', path, `header: log version ${header.logVersion}, only version 0 can be replayed`);
    if (header.logLength === 0) throw corrupt('LogGuid is set but the log is empty');
  }
}

/**
 * §2.3.3: a non-empty log is replayed before anything else is read. Read-only: into the
 * view's overlay. Writable: headers updated first (§2.2.2: a new FileWriteGuid before any
 * change, log playback included), updates written and flushed, then LogGuid cleared.
 */
function replayLog(path: string, view: FileView, chosen: CurrentHeader, writable: boolean): { current: CurrentHeader; log: LogState } {
  const header = chosen.header;
  if (isZeroGuid(header.logGuid)) return { current: chosen, log: { state: 'empty' } };
  const sequence = activeSequence(view, header);
  const updates = replayUpdates(view, header, sequence);
  const entries = sequence.entries.length;
  const size = sizeAfterReplay(view.fileSize, sequence, updates);
  if (!writable) {
    view.setOverlay(updates, size);
    return { current: chosen, log: { state: 'replayed-in-memory', entries, updates: updates.length } };
  }
  let current = writeHeaders(view.fd, path, chosen, { fileWriteGuid: randomGuid() });
  writeUpdates(path, view.fd, updates, view.fileSize, size);
  current = writeHeaders(view.fd, path, current, { logGuid: ZERO_GUID });
  view.resized(size);
  return { current, log: { state: 'replayed', entries, updates: updates.length } };
}

/** Writes replayed updates into the file (zeros past the end become the extension's holes), then flushes. */
function writeUpdates(path: string, fd: number, updates: OverlayUpdate[], fileSize: number, finalSize: number): void {
  const zeros = Buffer.alloc(MiB);
  ioGuard(path, 'replaying the log', () => {
    for (const update of updates) {
      if (update.kind === 'data') {
        writeSync(fd, update.read(), 0, 4096, update.fileOffset);
        continue;
      }
      const end = Math.min(update.fileOffset + update.length, fileSize);
      for (let at = update.fileOffset; at < end; at += MiB) writeSync(fd, zeros, 0, Math.min(MiB, end - at), at);
    }
    if (finalSize > fileSize) ftruncateSync(fd, finalSize);
    fsyncSync(fd);
  });
}

interface Regions {
  all: RegionEntry[];
  bat: RegionEntry;
  metadata: RegionEntry;
}

/** The first valid region table copy (qemu reads only the first; §2.2.3 keeps two). */
function readRegions(path: string, view: FileView): Regions {
  const corrupt = (reason: string) => vhdxError('VHDX_CORRUPT', path, `region table: ${reason}`);
  const first = decodeRegionTable(view.read(REGION_TABLE_OFFSETS[0], REGION_TABLE_SIZE));
  const table = typeof first === 'string' ? decodeRegionTable(view.read(REGION_TABLE_OFFSETS[1], REGION_TABLE_SIZE)) : first;
  if (typeof table === 'string') throw corrupt(`no valid copy (copy 1: ${first}; copy 2: ${table})`);
  let bat: RegionEntry | undefined;
  let metadata: RegionEntry | undefined;
  table.forEach((entry, i) => {
    if (table.findIndex((other) => guidEquals(other.guid, entry.guid)) !== i) throw corrupt(`region ${guidToString(entry.guid)} is listed twice`);
    if (entry.fileOffset % MiB !== 0 || entry.fileOffset < MiB) throw corrupt(`region ${guidToString(entry.guid)} at ${entry.fileOffset} is not 1 MiB aligned after the header section`);
    if (entry.length % MiB !== 0 || entry.length === 0) throw corrupt(`region ${guidToString(entry.guid)} has length ${entry.length}, not a positive multiple of 1 MiB`);
    if (guidEquals(entry.guid, BAT_REGION_GUID)) bat = entry;
    else if (guidEquals(entry.guid, METADATA_REGION_GUID)) metadata = entry;
    else if (entry.required) throw vhdxError('VHDX_UNSUPPORTED', path, `region table: required region ${guidToString(entry.guid)} is unknown to this implementation`);
  });
  if (!bat) throw corrupt('no BAT region');
  if (!metadata) throw corrupt('no metadata region');
  return { all: table, bat, metadata };
}

const REQUIRED_ITEMS: Array<{ guid: Uint8Array; name: string; size: number }> = [
  { guid: FILE_PARAMETERS_GUID, name: 'file parameters', size: FILE_PARAMETERS_SIZE },
  { guid: VIRTUAL_DISK_SIZE_GUID, name: 'virtual disk size', size: VIRTUAL_DISK_SIZE_SIZE },
  { guid: PAGE83_GUID, name: 'virtual disk id (page 83)', size: PAGE83_SIZE },
  { guid: LOGICAL_SECTOR_SIZE_GUID, name: 'logical sector size', size: SECTOR_SIZE_SIZE },
  { guid: PHYSICAL_SECTOR_SIZE_GUID, name: 'physical sector size', size: SECTOR_SIZE_SIZE },
];

function readMetadata(path: string, view: FileView, region: RegionEntry): DiskMetadata {
  const corrupt = (reason: string) => vhdxError('VHDX_CORRUPT', path, `metadata: ${reason}`);
  const table = decodeMetadataTable(view.read(region.fileOffset, METADATA_TABLE_SIZE));
  if (typeof table === 'string') throw corrupt(`table: ${table}`);
  checkItemPlacement(path, table, region.length);
  const find = (guid: Uint8Array) => table.find((entry) => guidEquals(entry.itemId, guid));
  for (const entry of table) {
    const known = REQUIRED_ITEMS.some((item) => guidEquals(item.guid, entry.itemId)) || guidEquals(entry.itemId, PARENT_LOCATOR_GUID);
    if (!known && entry.isRequired) {
      throw vhdxError('VHDX_UNSUPPORTED', path, `metadata: required item ${guidToString(entry.itemId)} is unknown to this implementation`);
    }
  }
  const items = REQUIRED_ITEMS.map((item) => {
    const entry = find(item.guid);
    if (!entry) throw corrupt(`the required ${item.name} item is missing`);
    if (entry.length !== item.size) throw corrupt(`the ${item.name} item is ${entry.length} bytes, not ${item.size}`);
    return view.read(region.fileOffset + entry.offset, entry.length);
  });
  const fileParameters = decodeFileParameters(items[0]);
  if (fileParameters.hasParent) throw vhdxError('VHDX_UNSUPPORTED', path, 'a differencing disk (HasParent): parent disks are not supported');
  const virtualSize = Number(items[1].readBigUInt64LE(0));
  const logicalSectorSize = items[3].readUInt32LE(0);
  const physicalSectorSize = items[4].readUInt32LE(0);
  if (physicalSectorSize !== 512 && physicalSectorSize !== 4096) throw corrupt(`physical sector size ${physicalSectorSize} is neither 512 nor 4096`);
  return { fileParameters, virtualSize, page83Id: new Uint8Array(items[2]), logicalSectorSize, physicalSectorSize };
}

/** §2.6.1.2: items at or after 64 KiB, at most 1 MiB, inside the region, apart from each other, listed once. */
function checkItemPlacement(path: string, table: MetadataEntry[], regionLength: number): void {
  const corrupt = (reason: string) => vhdxError('VHDX_CORRUPT', path, `metadata: ${reason}`);
  const placed = table.filter((entry) => entry.length > 0).sort((a, b) => a.offset - b.offset);
  for (const entry of table) {
    if (table.filter((other) => guidEquals(other.itemId, entry.itemId)).length > 1) throw corrupt(`item ${guidToString(entry.itemId)} is listed twice`);
    if (entry.length === 0) continue;
    if (entry.offset < MIN_ITEM_OFFSET) throw corrupt(`item ${guidToString(entry.itemId)} at ${entry.offset} lies inside the 64 KiB table`);
    if (entry.length > MAX_ITEM_LENGTH) throw corrupt(`item ${guidToString(entry.itemId)} is ${entry.length} bytes, more than 1 MiB`);
    if (entry.offset + entry.length > regionLength) throw corrupt(`item ${guidToString(entry.itemId)} runs past the end of the metadata region`);
  }
  for (let i = 1; i < placed.length; i++) {
    if (placed[i].offset < placed[i - 1].offset + placed[i - 1].length) {
      throw corrupt(`items ${guidToString(placed[i - 1].itemId)} and ${guidToString(placed[i].itemId)} overlap`);
    }
  }
}

/**
 * One pass over the BAT in 1 MiB pieces: states valid for a dynamic or fixed disk, present
 * blocks inside the file and clear of every structure, and no two blocks overlapping.
 * Blocks laid out in increasing order (ours, qemu's, Hyper-V's) need no memory for the
 * overlap check; others are collected (4 bytes each) and sorted.
 */
function scanBat(path: string, view: FileView, region: RegionEntry, geometry: Geometry, structures: Extent[]): BatSummary {
  const corrupt = (reason: string) => vhdxError('VHDX_CORRUPT', path, `BAT: ${reason}`);
  const { blockSize, virtualSize, batEntries } = geometry;
  let allocatedBlocks = 0;
  let zeroStateBlocks = 0;
  let base: number | undefined;
  let linear = true;
  let ordered = true;
  let previousEnd = 0;
  forEachEntry(view, region, batEntries, (index, entry) => {
    if (isBitmapEntry(geometry, index)) {
      if (entry.state !== SB_BLOCK_NOT_PRESENT) throw corrupt(`sector bitmap entry ${index} is present, which only a differencing disk may have`);
      return;
    }
    const block = blockOfBatIndex(geometry, index);
    if (entry.state === PAYLOAD_BLOCK_PARTIALLY_PRESENT) throw corrupt(`block ${block} is PARTIALLY_PRESENT, which only a differencing disk may have`);
    if (readsAsZeros(entry.state)) {
      if (entry.state !== 0) zeroStateBlocks++;
      return;
    }
    if (entry.state !== PAYLOAD_BLOCK_FULLY_PRESENT) throw corrupt(`block ${block} has the reserved state ${entry.state}`);
    const start = entry.fileOffset;
    const dataEnd = start + Math.min(blockSize, virtualSize - block * blockSize);
    if (dataEnd > view.size) throw corrupt(`block ${block} at ${start} ends at ${dataEnd}, past the end of the file (${view.size} bytes; truncated?)`);
    const clash = structures.find((s) => start < s.end && s.start < start + blockSize);
    if (clash) throw corrupt(`block ${block} at ${start} overlaps ${clash.name}`);
    if (start < previousEnd) ordered = false;
    previousEnd = start + blockSize;
    const blockBase = start - block * blockSize;
    if (base === undefined) base = blockBase;
    else if (blockBase !== base) linear = false;
    allocatedBlocks++;
  });
  if (!ordered) checkNoOverlap(path, view, region, geometry, allocatedBlocks);
  const structuresEnd = Math.max(...structures.map((s) => s.end));
  if (base === undefined) base = roundUp(structuresEnd, MiB);
  const slotsEnd = base + geometry.payloadBlocks * blockSize;
  const slotsClear = base >= 0 && structures.every((s) => s.end <= base! || s.start >= slotsEnd);
  return { allocatedBlocks, zeroStateBlocks, linearBase: linear && slotsClear ? base : undefined };
}

function forEachEntry(view: FileView, region: RegionEntry, batEntries: number, visit: (index: number, entry: BatEntry) => void): void {
  const perChunk = BAT_SCAN_CHUNK / BAT_ENTRY_SIZE;
  for (let first = 0; first < batEntries; first += perChunk) {
    const count = Math.min(perChunk, batEntries - first);
    const chunk = view.read(region.fileOffset + first * BAT_ENTRY_SIZE, count * BAT_ENTRY_SIZE);
    for (let i = 0; i < count; i++) visit(first + i, decodeBatEntry(chunk, i * BAT_ENTRY_SIZE));
  }
}

function checkNoOverlap(path: string, view: FileView, region: RegionEntry, geometry: Geometry, allocatedBlocks: number): void {
  const offsetsMiB = new Float64Array(allocatedBlocks);
  let n = 0;
  forEachEntry(view, region, geometry.batEntries, (index, entry) => {
    if (!isBitmapEntry(geometry, index) && entry.state === PAYLOAD_BLOCK_FULLY_PRESENT) offsetsMiB[n++] = entry.fileOffset / MiB;
  });
  offsetsMiB.sort();
  const blockMiB = geometry.blockSize / MiB;
  for (let i = 1; i < n; i++) {
    if (offsetsMiB[i] < offsetsMiB[i - 1] + blockMiB) {
      throw vhdxError('VHDX_CORRUPT', path, `BAT: two blocks overlap at file offset ${offsetsMiB[i] * MiB}`);
    }
  }
}
