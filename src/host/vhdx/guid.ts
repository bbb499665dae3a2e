// GUIDs as MS-VHDX stores them (§2: "GUID in binary form"): the Windows GUID structure,
// Data1 (32-bit), Data2 and Data3 (16-bit) little-endian, then Data4's eight bytes as
// they are. "2DC27766-F623-4200-9D64-115E9BFD4A08" is stored 66 77 C2 2D 23 F6 00 42 9D 64 ...

import { randomBytes } from 'node:crypto';

export const GUID_SIZE = 16;

/** The 16 stored bytes of a GUID written in the usual text form. */
export function guidFromString(text: string): Uint8Array {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a GUID: ${text}`);
  const bytes = Buffer.from(hex, 'hex');
  const stored = Buffer.alloc(GUID_SIZE);
  stored.writeUInt32LE(bytes.readUInt32BE(0), 0);
  stored.writeUInt16LE(bytes.readUInt16BE(4), 4);
  stored.writeUInt16LE(bytes.readUInt16BE(6), 6);
  bytes.copy(stored, 8, 8, 16);
  return stored;
}

/** The text form (upper case, as Microsoft writes them) of 16 stored GUID bytes. */
export function guidToString(stored: Uint8Array): string {
  const b = Buffer.from(stored.buffer, stored.byteOffset, GUID_SIZE);
  const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
  const data4 = b.subarray(8, 16).toString('hex');
  return `${hex(b.readUInt32LE(0), 8)}-${hex(b.readUInt16LE(4), 4)}-${hex(b.readUInt16LE(6), 4)}-${data4.slice(0, 4)}-${data4.slice(4)}`.toUpperCase();
}

/** A new random (version 4) GUID, as stored. */
export function randomGuid(): Uint8Array {
  const bytes = randomBytes(GUID_SIZE);
  bytes[7] = (bytes[7] & 0x0f) | 0x40; // Data3's high nibble: version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // Data4[0]: the RFC 4122 variant
  return new Uint8Array(bytes);
}

export function guidEquals(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < GUID_SIZE; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function isZeroGuid(guid: Uint8Array): boolean {
  for (let i = 0; i < GUID_SIZE; i++) if (guid[i] !== 0) return false;
  return true;
}

export const ZERO_GUID: Uint8Array = new Uint8Array(GUID_SIZE);
