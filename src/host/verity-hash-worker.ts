// Hashes slabs of dm-verity data blocks for VerityHasher (verity-stream.ts). A slab holds
// `count` slots of SLOT bytes: 32 zero bytes of salt, then the 4096-byte block, so each
// digest is one call over a contiguous slot. The slab goes back with the digests, for reuse.

import { parentPort } from 'node:worker_threads';
import { sha256Slot, SLOT } from './verity-slot.js';

interface Job {
  id: number;
  slab: ArrayBuffer;
  count: number;
}

parentPort!.on('message', ({ id, slab, count }: Job) => {
  const bytes = new Uint8Array(slab);
  const digests = new Uint8Array(count * 32);
  for (let i = 0; i < count; i++) digests.set(sha256Slot(bytes.subarray(i * SLOT, (i + 1) * SLOT)), i * 32);
  parentPort!.postMessage({ id, slab, digests: digests.buffer }, [slab, digests.buffer]);
});
