// dm-verity superblock (spec §18.2): 512 bytes of fields, padded to a 4096-byte block.
// The hash tree itself is computed by the host with node:crypto (SHA-256).

export const VERITY_BLOCK_SIZE: i32 = 4096;
export const VERITY_SALT_SIZE: i32 = 32; // 32 zero bytes, as hcsshim

/** Writes the superblock into the zeroed 4096 bytes at ptr. */
export function putVeritySuperblock(ptr: usize, dataBlocks: u64, uuid: usize): void {
  const signature = "verity";
  for (let i = 0; i < signature.length; i++) store<u8>(ptr + <usize>i, <u8>signature.charCodeAt(i));
  store<u32>(ptr + 8, 1); // version
  store<u32>(ptr + 12, 1); // hash type: normal, salt prepended
  memory.copy(ptr + 16, uuid, 16);
  const algorithm = "sha256";
  for (let i = 0; i < algorithm.length; i++) store<u8>(ptr + 32 + <usize>i, <u8>algorithm.charCodeAt(i));
  store<u32>(ptr + 64, VERITY_BLOCK_SIZE); // data block size
  store<u32>(ptr + 68, VERITY_BLOCK_SIZE); // hash block size
  store<u64>(ptr + 72, dataBlocks);
  store<u16>(ptr + 80, <u16>VERITY_SALT_SIZE);
  // salt at 88: 32 zero bytes
}
