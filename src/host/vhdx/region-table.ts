// Region table (MS-VHDX §2.2.3): two 64 KiB copies at 192 KiB and 256 KiB listing the
// regions (BAT, metadata) by GUID, offset and length. CRC-32C over the whole 64 KiB.

import { crc32c } from '../crc32c.js';
import { GUID_SIZE, guidFromString } from './guid.js';

export const REGION_TABLE_OFFSETS = [192 * 1024, 256 * 1024] as const;
export const REGION_TABLE_SIZE = 64 * 1024;
const SIGNATURE = 0x69676572; // "regi"
const CHECKSUM_OFFSET = 4;
const ENTRY_COUNT_OFFSET = 8;
const HEADER_BYTES = 16;
const ENTRY_BYTES = 32;
export const MAX_REGION_ENTRIES = 2047; // §2.2.3.1
const REQUIRED_BIT = 1;

export const BAT_REGION_GUID = guidFromString('2DC27766-F623-4200-9D64-115E9BFD4A08');
export const METADATA_REGION_GUID = guidFromString('8B7CA206-4790-4B9A-B8FE-575F050F886E');

export interface RegionEntry {
  guid: Uint8Array;
  fileOffset: number;
  length: number;
  /** An implementation that does not know a required region must refuse the file. */
  required: boolean;
}

export function encodeRegionTable(entries: RegionEntry[]): Buffer {
  const out = Buffer.alloc(REGION_TABLE_SIZE);
  out.writeUInt32LE(SIGNATURE, 0);
  out.writeUInt32LE(entries.length, ENTRY_COUNT_OFFSET);
  entries.forEach((entry, i) => {
    const at = HEADER_BYTES + i * ENTRY_BYTES;
    out.set(entry.guid, at);
    out.writeBigUInt64LE(BigInt(entry.fileOffset), at + 16);
    out.writeUInt32LE(entry.length, at + 24);
    out.writeUInt32LE(entry.required ? REQUIRED_BIT : 0, at + 28);
  });
  out.writeUInt32LE(crc32c(out), CHECKSUM_OFFSET);
  return out;
}

/** The entries of this 64 KiB table, or why it is not valid. */
export function decodeRegionTable(bytes: Buffer): RegionEntry[] | string {
  if (bytes.length < REGION_TABLE_SIZE) return 'truncated';
  if (bytes.readUInt32LE(0) !== SIGNATURE) return 'bad signature';
  const copy = Buffer.from(bytes.subarray(0, REGION_TABLE_SIZE));
  const stored = copy.readUInt32LE(CHECKSUM_OFFSET);
  copy.writeUInt32LE(0, CHECKSUM_OFFSET);
  if (crc32c(copy) !== stored) return 'bad CRC-32C';
  const count = copy.readUInt32LE(ENTRY_COUNT_OFFSET);
  if (count > MAX_REGION_ENTRIES) return `${count} entries, more than ${MAX_REGION_ENTRIES}`;
  const entries: RegionEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = HEADER_BYTES + i * ENTRY_BYTES;
    entries.push({
      guid: new Uint8Array(copy.subarray(at, at + GUID_SIZE)),
      fileOffset: Number(copy.readBigUInt64LE(at + 16)),
      length: copy.readUInt32LE(at + 24),
      required: (copy.readUInt32LE(at + 28) & REQUIRED_BIT) !== 0,
    });
  }
  return entries;
}
