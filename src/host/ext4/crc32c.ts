// ext4's metadata checksums use CRC32C as the kernel's crc32c_le computes it: no pre- or
// post-inversion, so ext4's "crc32c(~0, ...)" is `crc32c(0xffffffff, bytes)` here. The
// table-driven CRC itself is the project's one (src/host/crc32c.ts, which inverts as
// MS-VHDX wants): crc32c_le(crc, bytes) = ~crc32c(bytes, ~crc).

import { crc32c as invertedCrc32c } from '../crc32c.js';

/** Continues a CRC32C from `crc` over `bytes` (kernel semantics). */
export function crc32c(crc: number, bytes: Uint8Array): number {
  return ~invertedCrc32c(bytes, ~crc >>> 0) >>> 0;
}

/** CRC32C of a little-endian 32-bit number (inode numbers, group numbers, generations). */
export function crc32cU32(crc: number, value: number): number {
  const le = Buffer.allocUnsafe(4);
  le.writeUInt32LE(value >>> 0);
  return crc32c(crc, le);
}
