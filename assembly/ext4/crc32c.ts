// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) as ext4's metadata_csum uses
// it: the caller passes the running value and no final inversion is applied, the way
// e2fsprogs' ext2fs_crc32c_le and the kernel's crc32c_le work.

const POLYNOMIAL: u32 = 0x82f63b78;
const table = new StaticArray<u32>(256);

for (let n: u32 = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
  table[n] = c;
}

export function crc32c(crc: u32, ptr: usize, length: i32): u32 {
  for (let i = 0; i < length; i++) {
    crc = unchecked(table[(crc ^ <u32>load<u8>(ptr + <usize>i)) & 0xff]) ^ (crc >>> 8);
  }
  return crc;
}

/** The checksum of a little-endian u32 (inode and group numbers are hashed this way). */
export function crc32cU32(crc: u32, value: u32): u32 {
  for (let i = 0; i < 4; i++) {
    crc = unchecked(table[(crc ^ (value >>> (<u32>i * 8))) & 0xff]) ^ (crc >>> 8);
  }
  return crc;
}
