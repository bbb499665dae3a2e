// Fixed VHD footer (spec §19): 512 bytes, big-endian, appended after the image.
// The unique id is an input (random or content-derived by the host).

export const FOOTER_SIZE: i32 = 512;
const COOKIE = "conectix";

function putU32(ptr: usize, v: u32): void {
  store<u32>(ptr, bswap<u32>(v));
}

function putU64(ptr: usize, v: u64): void {
  store<u64>(ptr, bswap<u64>(v));
}

/** Writes the footer for a disk of `size` bytes into the zeroed 512 bytes at ptr. */
export function putVhdFooter(ptr: usize, size: u64, uniqueId: usize): void {
  for (let i = 0; i < COOKIE.length; i++) store<u8>(ptr + <usize>i, <u8>COOKIE.charCodeAt(i));
  putU32(ptr + 8, 2); // features: reserved bit always set
  putU32(ptr + 12, 0x00010000); // file format version
  putU64(ptr + 16, 0xffffffffffffffff); // data offset: none for fixed disks
  // timestamp, creator application, creator host OS: left zero as hcsshim does
  putU32(ptr + 32, 0x000a0000); // creator version
  putU64(ptr + 40, size); // original size
  putU64(ptr + 48, size); // current size
  // disk geometry: zero (not computed by hcsshim)
  putU32(ptr + 60, 2); // disk type: fixed
  memory.copy(ptr + 68, uniqueId, 16);
  let sum: u32 = 0;
  for (let i = 0; i < FOOTER_SIZE; i++) sum += load<u8>(ptr + <usize>i);
  putU32(ptr + 64, ~sum);
}
