// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) as the kernel's crc32c_le computes
// it: no final inversion, so ext4's "crc32c(~0, ...)" values are `crc32c(0xffffffff, bytes)`
// here. Slice-by-8 tables: metadata checksums are computed per inode and per block.

const POLY = 0x82f63b78;
const TABLES = buildTables();

function buildTables(): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    tables[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 8; t++) tables[t][n] = (tables[t - 1][n] >>> 8) ^ tables[0][tables[t - 1][n] & 0xff];
  }
  return tables;
}

/** Continues a CRC32C from `crc` over `bytes` (kernel semantics: no pre- or post-inversion). */
export function crc32c(crc: number, bytes: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let c = crc >>> 0;
  let i = 0;
  const fast = bytes.length - (bytes.length % 8);
  for (; i < fast; i += 8) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c =
      t7[c & 0xff] ^ t6[(c >>> 8) & 0xff] ^ t5[(c >>> 16) & 0xff] ^ t4[c >>> 24] ^
      t3[bytes[i + 4]] ^ t2[bytes[i + 5]] ^ t1[bytes[i + 6]] ^ t0[bytes[i + 7]];
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** CRC32C of a little-endian 32-bit number (inode numbers, group numbers, generations). */
export function crc32cU32(crc: number, value: number): number {
  const le = Buffer.allocUnsafe(4);
  le.writeUInt32LE(value >>> 0);
  return crc32c(crc, le);
}
