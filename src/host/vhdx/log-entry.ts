// Log entries (MS-VHDX §2.3.1): 4 KiB sectors in the circular log. The first descriptor
// sector starts with a 64-byte entry header; descriptors (32 bytes, "desc" or "zero")
// follow, 126 in the first sector and 128 in each further one; then one data sector per
// data descriptor. A data sector keeps bytes 8..4091 of the update; bytes 0..7 and
// 4092..4095 live in its descriptor, so the sequence number can frame the sector. The
// CRC-32C covers the whole entry with the checksum field zero.

import { crc32c } from '../crc32c.js';
import { GUID_SIZE } from './guid.js';

export const LOG_SECTOR_SIZE = 4096;
export const ENTRY_HEADER_SIZE = 64;
export const DESCRIPTOR_SIZE = 32;
const ENTRY_SIGNATURE = 0x65676f6c; // "loge"
const DATA_DESCRIPTOR_SIGNATURE = 0x63736564; // "desc"
const ZERO_DESCRIPTOR_SIGNATURE = 0x6f72657a; // "zero"
const DATA_SECTOR_SIGNATURE = 0x61746164; // "data"
const CHECKSUM_OFFSET = 4;
/** Bytes of the update kept in the data sector: 8 .. 4091. */
const SECTOR_DATA_START = 8;
const SECTOR_DATA_END = 4092;

export interface LogEntryHeader {
  entryLength: number;
  /** Log offset of the oldest entry of the sequence this entry ends. */
  tail: number;
  sequenceNumber: bigint;
  descriptorCount: number;
  logGuid: Uint8Array;
  flushedFileOffset: number;
  lastFileOffset: number;
}

export type LogDescriptor =
  | { kind: 'data'; fileOffset: number; leadingBytes: Buffer; trailingBytes: Buffer }
  | { kind: 'zero'; fileOffset: number; length: number };

/** One update to encode: a whole 4 KiB sector of data, or a run of zeros. */
export type LogUpdate = { kind: 'data'; fileOffset: number; data: Uint8Array } | { kind: 'zero'; fileOffset: number; length: number };

/** Descriptor sectors of an entry with `count` descriptors (the header takes two slots). */
export function descriptorSectors(count: number): number {
  return Math.ceil((count + 2) / (LOG_SECTOR_SIZE / DESCRIPTOR_SIZE));
}

export function decodeEntryHeader(sector: Buffer): LogEntryHeader | string {
  if (sector.readUInt32LE(0) !== ENTRY_SIGNATURE) return 'bad signature';
  return {
    entryLength: sector.readUInt32LE(8),
    tail: sector.readUInt32LE(12),
    sequenceNumber: sector.readBigUInt64LE(16),
    descriptorCount: sector.readUInt32LE(24),
    logGuid: new Uint8Array(sector.subarray(32, 32 + GUID_SIZE)),
    flushedFileOffset: Number(sector.readBigUInt64LE(48)),
    lastFileOffset: Number(sector.readBigUInt64LE(56)),
  };
}

/** Descriptor `index` of the descriptor sectors, or why it is not valid for this entry. */
export function decodeDescriptor(descriptorArea: Buffer, index: number, sequenceNumber: bigint): LogDescriptor | string {
  const at = ENTRY_HEADER_SIZE + index * DESCRIPTOR_SIZE;
  const signature = descriptorArea.readUInt32LE(at);
  if (descriptorArea.readBigUInt64LE(at + 24) !== sequenceNumber) return `descriptor ${index}: sequence number differs from its entry's`;
  const fileOffset = Number(descriptorArea.readBigUInt64LE(at + 16));
  if (fileOffset % LOG_SECTOR_SIZE !== 0) return `descriptor ${index}: file offset ${fileOffset} is not a multiple of 4 KiB`;
  if (signature === ZERO_DESCRIPTOR_SIGNATURE) {
    const length = Number(descriptorArea.readBigUInt64LE(at + 8));
    if (length % LOG_SECTOR_SIZE !== 0) return `descriptor ${index}: zero length ${length} is not a multiple of 4 KiB`;
    return { kind: 'zero', fileOffset, length };
  }
  if (signature === DATA_DESCRIPTOR_SIGNATURE) {
    return {
      kind: 'data',
      fileOffset,
      trailingBytes: Buffer.from(descriptorArea.subarray(at + 4, at + 8)),
      leadingBytes: Buffer.from(descriptorArea.subarray(at + 8, at + 16)),
    };
  }
  return `descriptor ${index}: bad signature`;
}

/** Does this data sector carry `sequenceNumber`, split across its first and last words? */
export function dataSectorMatches(sector: Buffer, sequenceNumber: bigint): boolean {
  if (sector.readUInt32LE(0) !== DATA_SECTOR_SIGNATURE) return false;
  const high = BigInt(sector.readUInt32LE(4));
  const low = BigInt(sector.readUInt32LE(SECTOR_DATA_END));
  return ((high << 32n) | low) === sequenceNumber;
}

/** The 4 KiB update a data sector and its descriptor carry together. */
export function assembleSector(dataSector: Buffer, descriptor: { leadingBytes: Buffer; trailingBytes: Buffer }): Buffer {
  const out = Buffer.alloc(LOG_SECTOR_SIZE);
  descriptor.leadingBytes.copy(out, 0);
  dataSector.copy(out, SECTOR_DATA_START, SECTOR_DATA_START, SECTOR_DATA_END);
  descriptor.trailingBytes.copy(out, SECTOR_DATA_END);
  return out;
}

/** Starts an entry's CRC-32C: its first sector with the checksum field taken as zero. */
export function firstSectorChecksum(firstSector: Buffer): number {
  const copy = Buffer.from(firstSector);
  copy.writeUInt32LE(0, CHECKSUM_OFFSET);
  return crc32c(copy);
}

export function storedChecksum(firstSector: Buffer): number {
  return firstSector.readUInt32LE(CHECKSUM_OFFSET);
}

export interface EncodeEntryOptions {
  sequenceNumber: bigint;
  tail: number;
  logGuid: Uint8Array;
  flushedFileOffset: number;
  lastFileOffset: number;
  updates: LogUpdate[];
}

/** A complete log entry: descriptor sectors, then one data sector per data update. */
export function encodeLogEntry(options: EncodeEntryOptions): Buffer {
  const { sequenceNumber, updates } = options;
  const dataUpdates = updates.filter((u) => u.kind === 'data');
  const headSectors = descriptorSectors(updates.length);
  const entry = Buffer.alloc((headSectors + dataUpdates.length) * LOG_SECTOR_SIZE);
  entry.writeUInt32LE(ENTRY_SIGNATURE, 0);
  entry.writeUInt32LE(entry.length, 8);
  entry.writeUInt32LE(options.tail, 12);
  entry.writeBigUInt64LE(sequenceNumber, 16);
  entry.writeUInt32LE(updates.length, 24);
  entry.set(options.logGuid, 32);
  entry.writeBigUInt64LE(BigInt(options.flushedFileOffset), 48);
  entry.writeBigUInt64LE(BigInt(options.lastFileOffset), 56);
  let dataSector = headSectors;
  updates.forEach((update, i) => {
    const at = ENTRY_HEADER_SIZE + i * DESCRIPTOR_SIZE;
    entry.writeBigUInt64LE(BigInt(update.fileOffset), at + 16);
    entry.writeBigUInt64LE(sequenceNumber, at + 24);
    if (update.kind === 'zero') {
      entry.writeUInt32LE(ZERO_DESCRIPTOR_SIGNATURE, at);
      entry.writeBigUInt64LE(BigInt(update.length), at + 8);
      return;
    }
    if (update.data.length !== LOG_SECTOR_SIZE) throw new RangeError(`a log data update is 4096 bytes, not ${update.data.length}`);
    const data = Buffer.from(update.data.buffer, update.data.byteOffset, LOG_SECTOR_SIZE);
    entry.writeUInt32LE(DATA_DESCRIPTOR_SIGNATURE, at);
    data.copy(entry, at + 4, SECTOR_DATA_END, LOG_SECTOR_SIZE);
    data.copy(entry, at + 8, 0, SECTOR_DATA_START);
    const sector = entry.subarray(dataSector * LOG_SECTOR_SIZE, (dataSector + 1) * LOG_SECTOR_SIZE);
    sector.writeUInt32LE(DATA_SECTOR_SIGNATURE, 0);
    sector.writeUInt32LE(Number(sequenceNumber >> 32n), 4);
    data.copy(sector, SECTOR_DATA_START, SECTOR_DATA_START, SECTOR_DATA_END);
    sector.writeUInt32LE(Number(sequenceNumber & 0xffffffffn), SECTOR_DATA_END);
    dataSector++;
  });
  entry.writeUInt32LE(crc32c(entry), CHECKSUM_OFFSET);
  return entry;
}
