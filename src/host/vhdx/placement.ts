// Where this implementation puts each structure in a VHDX it creates. Every object is
// 1 MiB aligned (MS-VHDX §2.1) and the payload comes last, block i at
// payloadBase + i * blockSize, so the virtual disk is one contiguous (sparse) range of
// the file that a loop device can map with --offset payloadBase.

import { BAT_ENTRY_SIZE } from './bat.js';
import { MiB, roundUp, type Geometry } from './geometry.js';

/** The header section: file identifier, two headers, two region tables (§2.2). */
export const HEADER_SECTION_SIZE = MiB;
/** One MiB of log, as Hyper-V and qemu create (§2.3); empty at creation. */
export const LOG_OFFSET = MiB;
export const LOG_LENGTH = MiB;
export const METADATA_OFFSET = 2 * MiB;
export const METADATA_LENGTH = MiB;
export const BAT_OFFSET = 3 * MiB;

export interface Placement {
  batOffset: number;
  /** The BAT region's length: whole MiB (§2.2.3.2), at least batEntries * 8 bytes. */
  batLength: number;
  payloadBase: number;
}

export function placementOf(geometry: Geometry): Placement {
  const batLength = roundUp(geometry.batEntries * BAT_ENTRY_SIZE, MiB);
  return { batOffset: BAT_OFFSET, batLength, payloadBase: BAT_OFFSET + batLength };
}
