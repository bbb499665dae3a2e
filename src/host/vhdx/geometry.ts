// The numbers a VHDX's parameters imply (MS-VHDX §2.4, §2.5, §2.6.2): payload blocks,
// the chunk ratio, the BAT's length and where a block's entry sits in it. Pure arithmetic.

export const MiB = 1024 * 1024;
export const MIN_BLOCK_SIZE = MiB; // §2.6.2.1: at least 1 MB ...
export const MAX_BLOCK_SIZE = 256 * MiB; // ... at most 256 MB, a power of two
export const DEFAULT_BLOCK_SIZE = MiB; // what Windows' virtdisk and moby's driver use
export const MAX_VIRTUAL_SIZE = 64 * 1024 * 1024 * MiB; // §2.6.2.2: at most 64 TB
/** §2.4: a sector bitmap block describes 2^23 logical sectors. */
export const SECTORS_PER_BITMAP_BLOCK = 2 ** 23;

export interface Geometry {
  readonly virtualSize: number;
  readonly blockSize: number;
  readonly logicalSectorSize: number;
  /** Payload blocks per sector bitmap block: after this many payload entries comes one bitmap entry. */
  readonly chunkRatio: number;
  readonly payloadBlocks: number;
  /** BAT entries of a dynamic or fixed disk: every payload entry and the bitmap entries between them. */
  readonly batEntries: number;
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Why these parameters are not a valid VHDX, or null when they are. */
export function geometryProblem(virtualSize: number, blockSize: number, logicalSectorSize: number): string | null {
  if (!isPowerOfTwo(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    return `block size ${blockSize} is not a power of two from 1 MiB to 256 MiB`;
  }
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096) {
    return `logical sector size ${logicalSectorSize} is neither 512 nor 4096`;
  }
  if (!Number.isSafeInteger(virtualSize) || virtualSize <= 0 || virtualSize > MAX_VIRTUAL_SIZE) {
    return `virtual size ${virtualSize} is not from 1 byte to 64 TiB`;
  }
  if (virtualSize % logicalSectorSize !== 0) {
    return `virtual size ${virtualSize} is not a multiple of the ${logicalSectorSize}-byte logical sector`;
  }
  return null;
}

/** The geometry of valid parameters (check them with geometryProblem first). */
export function geometryOf(virtualSize: number, blockSize: number, logicalSectorSize: number): Geometry {
  const chunkRatio = (SECTORS_PER_BITMAP_BLOCK * logicalSectorSize) / blockSize;
  const payloadBlocks = Math.ceil(virtualSize / blockSize);
  const batEntries = payloadBlocks + Math.floor((payloadBlocks - 1) / chunkRatio);
  return { virtualSize, blockSize, logicalSectorSize, chunkRatio, payloadBlocks, batEntries };
}

/** §2.5: the entries of chunk c's payload blocks are followed by chunk c's bitmap entry. */
export function batIndexOfBlock(geometry: Geometry, block: number): number {
  return block + Math.floor(block / geometry.chunkRatio);
}

/** Is BAT entry `index` a sector bitmap entry (rather than a payload entry)? */
export function isBitmapEntry(geometry: Geometry, index: number): boolean {
  return (index + 1) % (geometry.chunkRatio + 1) === 0;
}

/** The payload block that BAT entry `index` describes (index must be a payload entry). */
export function blockOfBatIndex(geometry: Geometry, index: number): number {
  return index - Math.floor(index / (geometry.chunkRatio + 1));
}

export function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}
