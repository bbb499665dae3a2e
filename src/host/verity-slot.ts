// One dm-verity hash input laid out as it is hashed: the 32-byte zero salt, then the 4096-byte
// block (spec §18.1: sha256(salt ‖ block)). Kept contiguous so one one-shot hash call covers it.

import * as crypto from 'node:crypto';

export const SALT_BYTES = 32;
export const BLOCK_BYTES = 4096;
export const SLOT = SALT_BYTES + BLOCK_BYTES;

// crypto.hash (Node 20.12+) is about 20% faster than createHash for 4 KiB inputs.
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;

/** SHA-256 of a whole slot (salt and block). */
export function sha256Slot(slot: Uint8Array): Buffer {
  return oneShot ? oneShot('sha256', slot, 'buffer') : crypto.createHash('sha256').update(slot).digest();
}
