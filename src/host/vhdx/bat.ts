// BAT entries (MS-VHDX §2.5.1): 64 bits, the state in bits 0-2, bits 3-19 reserved (zero),
// the file offset in MiB in bits 20-63.

import { MiB } from './geometry.js';

export const BAT_ENTRY_SIZE = 8;

/** §2.5.1.1 payload block states (4 and 5 are reserved; qemu's 5 for UNMAPPED is not the spec's 3). */
export const PAYLOAD_BLOCK_NOT_PRESENT = 0;
export const PAYLOAD_BLOCK_UNDEFINED = 1;
export const PAYLOAD_BLOCK_ZERO = 2;
export const PAYLOAD_BLOCK_UNMAPPED = 3;
export const PAYLOAD_BLOCK_FULLY_PRESENT = 6;
export const PAYLOAD_BLOCK_PARTIALLY_PRESENT = 7;
/** §2.5.1.2 sector bitmap states. */
export const SB_BLOCK_NOT_PRESENT = 0;
export const SB_BLOCK_PRESENT = 6;

export interface BatEntry {
  state: number;
  /** Byte offset in the file (FileOffsetMB * 1 MiB). */
  fileOffset: number;
  /** Bits 3-19, which must be zero. */
  reserved: number;
}

export function decodeBatEntry(bytes: Buffer, at: number): BatEntry {
  const low = bytes.readUInt32LE(at);
  const high = bytes.readUInt32LE(at + 4);
  const offsetMiB = (low >>> 20) + high * 4096;
  return { state: low & 7, reserved: (low >>> 3) & 0x1ffff, fileOffset: offsetMiB * MiB };
}

export function encodeBatEntry(bytes: Buffer, at: number, state: number, fileOffset: number): void {
  const offsetMiB = fileOffset / MiB;
  bytes.writeUInt32LE((((offsetMiB % 4096) << 20) | state) >>> 0, at);
  bytes.writeUInt32LE(Math.floor(offsetMiB / 4096), at + 4);
}

/** The states whose blocks read as zeros in a dynamic or fixed disk (our reading of §2.5.1.1's choices). */
export function readsAsZeros(state: number): boolean {
  return state === PAYLOAD_BLOCK_NOT_PRESENT || state === PAYLOAD_BLOCK_UNDEFINED || state === PAYLOAD_BLOCK_ZERO || state === PAYLOAD_BLOCK_UNMAPPED;
}
