// Metadata region (MS-VHDX §2.6): a 64 KiB table at the region's start, then the items
// it points at. Known items (§2.6.2): file parameters, virtual disk size, virtual disk id
// (SCSI page 83), logical and physical sector sizes, parent locator.

import { GUID_SIZE, guidFromString } from './guid.js';

export const METADATA_TABLE_SIZE = 64 * 1024;
const SIGNATURE = Buffer.from('metadata', 'latin1');
const ENTRY_COUNT_OFFSET = 10;
const HEADER_BYTES = 32;
const ENTRY_BYTES = 32;
export const MAX_METADATA_ENTRIES = 2047; // §2.6.1.1
/** §2.6.1.2: items start at 64 KiB or later, and are at most 1 MiB long. */
export const MIN_ITEM_OFFSET = 64 * 1024;
export const MAX_ITEM_LENGTH = 1024 * 1024;

const IS_USER = 1;
const IS_VIRTUAL_DISK = 2;
const IS_REQUIRED = 4;

export const FILE_PARAMETERS_GUID = guidFromString('CAA16737-FA36-4D43-B3B6-33F0AA44E76B');
export const VIRTUAL_DISK_SIZE_GUID = guidFromString('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
export const PAGE83_GUID = guidFromString('BECA12AB-B2E6-4523-93EF-C309E000C746');
export const LOGICAL_SECTOR_SIZE_GUID = guidFromString('8141BF1D-A96F-4709-BA47-F233A8FAAB5F');
export const PHYSICAL_SECTOR_SIZE_GUID = guidFromString('CDA348C7-445D-4471-9CC9-E9885251C556');
export const PARENT_LOCATOR_GUID = guidFromString('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C');

export interface MetadataEntry {
  itemId: Uint8Array;
  /** From the start of the metadata region. */
  offset: number;
  length: number;
  isUser: boolean;
  isVirtualDisk: boolean;
  isRequired: boolean;
}

export function encodeMetadataTable(entries: MetadataEntry[]): Buffer {
  const out = Buffer.alloc(METADATA_TABLE_SIZE);
  SIGNATURE.copy(out, 0);
  out.writeUInt16LE(entries.length, ENTRY_COUNT_OFFSET);
  entries.forEach((entry, i) => {
    const at = HEADER_BYTES + i * ENTRY_BYTES;
    out.set(entry.itemId, at);
    out.writeUInt32LE(entry.offset, at + 16);
    out.writeUInt32LE(entry.length, at + 20);
    const flags = (entry.isUser ? IS_USER : 0) | (entry.isVirtualDisk ? IS_VIRTUAL_DISK : 0) | (entry.isRequired ? IS_REQUIRED : 0);
    out.writeUInt32LE(flags, at + 24);
  });
  return out;
}

/** The entries of the 64 KiB table, or why it is not valid. */
export function decodeMetadataTable(bytes: Buffer): MetadataEntry[] | string {
  if (bytes.length < METADATA_TABLE_SIZE) return 'truncated';
  if (!bytes.subarray(0, SIGNATURE.length).equals(SIGNATURE)) return 'bad signature';
  const count = bytes.readUInt16LE(ENTRY_COUNT_OFFSET);
  if (count > MAX_METADATA_ENTRIES) return `${count} entries, more than ${MAX_METADATA_ENTRIES}`;
  const entries: MetadataEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = HEADER_BYTES + i * ENTRY_BYTES;
    const flags = bytes.readUInt32LE(at + 24);
    entries.push({
      itemId: new Uint8Array(bytes.subarray(at, at + GUID_SIZE)),
      offset: bytes.readUInt32LE(at + 16),
      length: bytes.readUInt32LE(at + 20),
      isUser: (flags & IS_USER) !== 0,
      isVirtualDisk: (flags & IS_VIRTUAL_DISK) !== 0,
      isRequired: (flags & IS_REQUIRED) !== 0,
    });
  }
  return entries;
}

// ---------------------------------------------------------------------------
// Item payloads. Each has a fixed size; the reader checks the entry's length against it.

export const FILE_PARAMETERS_SIZE = 8;
const LEAVE_BLOCKS_ALLOCATED = 1;
const HAS_PARENT = 2;

export interface FileParameters {
  blockSize: number;
  /** Set on fixed disks: blocks must never go back to NOT_PRESENT. */
  leaveBlocksAllocated: boolean;
  /** A differencing disk. */
  hasParent: boolean;
}

export function encodeFileParameters(parameters: FileParameters): Buffer {
  const out = Buffer.alloc(FILE_PARAMETERS_SIZE);
  out.writeUInt32LE(parameters.blockSize, 0);
  out.writeUInt32LE((parameters.leaveBlocksAllocated ? LEAVE_BLOCKS_ALLOCATED : 0) | (parameters.hasParent ? HAS_PARENT : 0), 4);
  return out;
}

export function decodeFileParameters(bytes: Buffer): FileParameters {
  const flags = bytes.readUInt32LE(4);
  return { blockSize: bytes.readUInt32LE(0), leaveBlocksAllocated: (flags & LEAVE_BLOCKS_ALLOCATED) !== 0, hasParent: (flags & HAS_PARENT) !== 0 };
}

export const VIRTUAL_DISK_SIZE_SIZE = 8;
export const PAGE83_SIZE = 16;
export const SECTOR_SIZE_SIZE = 4;

export function encodeUint64(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(BigInt(value), 0);
  return out;
}

export function encodeUint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value, 0);
  return out;
}
