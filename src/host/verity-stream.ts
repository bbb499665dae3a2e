// dm-verity level 0 hashed as the image is produced (issue 15): every write to the image
// passes through VerityHasher, which hashes each 4096-byte block once it is final, on worker
// threads, and keeps only its 32-byte digest. The tree above level 0 is 128 times smaller and
// is built from those digests at the end, so the image is never read back, and a root digest
// needs no image at all. Memory: 32 bytes per image block, plus a few 2 MiB slabs in flight.
//
// When a block is final: a whole-block write is final unless rewritten; a part-block write
// waits for the rest of its block, or, for file data, for the end of the entry (the rest of
// a file's last block stays zero); metadata part-blocks (the superblock in block 0, the
// group descriptors) wait for the end of the image. A block never written is all zeros and
// takes the zero block's digest. A block written again after it was hashed is hashed again
// at the end in its final form (a copy is kept); a block partly rewritten after it was
// hashed cannot be rebuilt and is read back from the image (the engine does neither today).

import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import type * as WorkerThreads from 'node:worker_threads';
import { sha256Slot, SLOT, SALT_BYTES, BLOCK_BYTES } from './verity-slot.js';
import { LcowError } from './errors.js';

const DIGEST_BYTES = 32;
/** Blocks per hashing job: 2 MiB of image. */
const SLAB_BLOCKS = 512;
/** The first slabs are hashed on this thread: a small image is done before a worker would start. */
const INLINE_SLABS = 4;
const MAX_WORKERS = 2;
/** Jobs in flight past which the conversion waits (back-pressure bounds the slabs' memory). */
const MAX_QUEUED_SLABS = 4;
/** The digest table grows by 1 MiB (the digests of 128 MiB of image). */
const TABLE_CHUNK_BLOCKS = 32768;

/** SHA-256 of salt ‖ block for one 4096-byte block. */
function hashBlock(block: Uint8Array, slot = Buffer.alloc(SLOT)): Buffer {
  slot.set(block, SALT_BYTES);
  return sha256Slot(slot);
}

export const ZERO_BLOCK_DIGEST = hashBlock(new Uint8Array(BLOCK_BYTES));

/** One bit per image block, growing as blocks appear. */
class BlockBits {
  private bits = new Uint8Array(4096);

  get(block: number): boolean {
    const byte = block >>> 3;
    return byte < this.bits.length && (this.bits[byte] & (1 << (block & 7))) !== 0;
  }

  set(block: number): void {
    const byte = block >>> 3;
    if (byte >= this.bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[byte] |= 1 << (block & 7);
  }
}

/** Level-0 digests by block, in 1 MiB chunks allocated as the image grows. */
class DigestTable {
  private readonly chunks: Buffer[] = [];

  set(block: number, digest: Uint8Array): void {
    const chunk = Math.floor(block / TABLE_CHUNK_BLOCKS);
    while (this.chunks.length <= chunk) this.chunks.push(Buffer.alloc(TABLE_CHUNK_BLOCKS * DIGEST_BYTES));
    this.chunks[chunk].set(digest, (block % TABLE_CHUNK_BLOCKS) * DIGEST_BYTES);
  }

  /** Level 0 of the tree over `blocks` blocks: their digests, zero padded to whole hash blocks. */
  level0(blocks: number, hashed: BlockBits): Buffer {
    const level = Buffer.alloc(Math.ceil((blocks * DIGEST_BYTES) / BLOCK_BYTES) * BLOCK_BYTES);
    for (let chunk = 0; chunk < this.chunks.length && chunk * TABLE_CHUNK_BLOCKS < blocks; chunk++) {
      const count = Math.min(TABLE_CHUNK_BLOCKS, blocks - chunk * TABLE_CHUNK_BLOCKS);
      this.chunks[chunk].copy(level, chunk * TABLE_CHUNK_BLOCKS * DIGEST_BYTES, 0, count * DIGEST_BYTES);
    }
    for (let block = 0; block < blocks; block++) if (!hashed.get(block)) ZERO_BLOCK_DIGEST.copy(level, block * DIGEST_BYTES);
    return level;
  }
}

/** A block written in parts: its bytes so far and the byte ranges they cover. */
interface PartBlock {
  bytes: Buffer;
  ranges: Array<[number, number]>;
  covered: number;
}

function cover(part: PartBlock, start: number, end: number): void {
  // Ranges stay few (writes of one block arrive in order): merge the new one in.
  const merged: Array<[number, number]> = [];
  let [s, e] = [start, end];
  for (const [a, b] of part.ranges) {
    if (b < s || a > e) merged.push([a, b]);
    else [s, e] = [Math.min(a, s), Math.max(b, e)];
  }
  merged.push([s, e]);
  part.ranges = merged;
  part.covered = merged.reduce((n, [a, b]) => n + b - a, 0);
}

type WorkerCtor = typeof WorkerThreads.Worker;

/** Worker threads hashing slabs; slabs come back with their digests and are reused. */
class HashPool {
  private readonly workers: InstanceType<WorkerCtor>[] = [];
  private readonly waiting = new Map<number, { resolve: (d: Uint8Array) => void; reject: (e: unknown) => void }>();
  private readonly free: ArrayBuffer[] = [];
  private readonly roomWaiters: Array<() => void> = [];
  private nextId = 0;
  queued = 0;

  constructor(count: number) {
    // Loaded here: only images past INLINE_SLABS start workers, and the module costs start-up.
    const { Worker } = createRequire(import.meta.url)('node:worker_threads') as typeof WorkerThreads;
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL('./verity-hash-worker.js', import.meta.url));
      worker.on('message', ({ id, slab, digests }: { id: number; slab: ArrayBuffer; digests: ArrayBuffer }) => {
        this.free.push(slab);
        this.settle(id, (w) => w.resolve(new Uint8Array(digests)));
      });
      worker.on('error', (err) => this.failAll(err));
      worker.on('exit', (code) => this.failAll(new Error(`a verity hashing thread exited with status ${code}`)));
      this.workers.push(worker);
    }
  }

  private settle(id: number, how: (w: { resolve: (d: Uint8Array) => void; reject: (e: unknown) => void }) => void): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    this.queued--;
    how(w);
    while (this.queued < MAX_QUEUED_SLABS && this.roomWaiters.length) this.roomWaiters.shift()!();
  }

  private failAll(err: unknown): void {
    for (const id of [...this.waiting.keys()]) this.settle(id, (w) => w.reject(err));
  }

  /** A slab to fill: a returned one, or a new one. */
  takeSlab(): Buffer {
    return Buffer.from(this.free.pop() ?? new ArrayBuffer(SLAB_BLOCKS * SLOT));
  }

  /** Hashes the first `count` slots of `slab` (which is handed over: do not touch it again). */
  hash(slab: Buffer, count: number): Promise<Uint8Array> {
    const id = this.nextId++;
    this.queued++;
    const done = new Promise<Uint8Array>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    const buffer = slab.buffer as ArrayBuffer;
    this.workers[id % this.workers.length].postMessage({ id, slab: buffer, count }, [buffer]);
    return done;
  }

  /** Resolves once fewer than MAX_QUEUED_SLABS jobs are in flight. */
  room(): Promise<void> {
    if (this.queued < MAX_QUEUED_SLABS) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  close(): void {
    for (const worker of this.workers) {
      worker.removeAllListeners('exit');
      void worker.terminate();
    }
    this.failAll(new Error('verity hashing stopped'));
  }
}

export class VerityHasher {
  private readonly digests = new DigestTable();
  private readonly hashed = new BlockBits();
  private readonly parts = new Map<number, PartBlock>();
  /** Part-blocks of file data of the current entry: final at its end. */
  private dataParts: number[] = [];
  /** Blocks written again after they were hashed: their final bytes, hashed at the end. */
  private readonly rewritten = new Map<number, Buffer>();
  /** Blocks partly rewritten after they were hashed: read back at the end. */
  private readonly lost = new Set<number>();
  private slab: Buffer = Buffer.from(new ArrayBuffer(SLAB_BLOCKS * SLOT));
  private slabBlocks: number[] = [];
  private inlineSlabs = 0;
  private pool?: HashPool;
  private readonly jobs: Promise<void>[] = [];
  private failure?: unknown;
  private readonly scratch = Buffer.alloc(SLOT);

  /** `bytes` were written at image offset `position`; `data` marks file data. Copied at once. */
  write(bytes: Uint8Array, position: number, data: boolean): void {
    let done = 0;
    while (done < bytes.length) {
      const at = position + done;
      const block = Math.floor(at / BLOCK_BYTES);
      const inBlock = at - block * BLOCK_BYTES;
      const n = Math.min(BLOCK_BYTES - inBlock, bytes.length - done);
      const piece = bytes.subarray(done, done + n);
      if (n === BLOCK_BYTES) this.whole(block, piece);
      else this.part(block, inBlock, piece, data);
      done += n;
    }
  }

  /** The current entry's data is complete: its last, partly written block is final. */
  endOfEntry(): void {
    for (const block of this.dataParts) {
      const part = this.parts.get(block);
      if (!part) continue; // completed, or rewritten whole
      this.parts.delete(block);
      this.submit(block, part.bytes);
    }
    this.dataParts = [];
  }

  /** True when the conversion should wait (drained()) before producing more. */
  get backlogged(): boolean {
    return (this.pool?.queued ?? 0) >= MAX_QUEUED_SLABS;
  }

  drained(): Promise<void> {
    return this.pool ? this.pool.room() : Promise.resolve();
  }

  private whole(block: number, bytes: Uint8Array): void {
    this.parts.delete(block);
    if (this.hashed.get(block)) {
      this.rewritten.set(block, Buffer.from(bytes));
      this.lost.delete(block);
      return;
    }
    this.submit(block, bytes);
  }

  private part(block: number, inBlock: number, bytes: Uint8Array, data: boolean): void {
    const again = this.rewritten.get(block);
    if (again) {
      again.set(bytes, inBlock);
      return;
    }
    if (this.hashed.get(block)) {
      this.lost.add(block);
      return;
    }
    let part = this.parts.get(block);
    if (!part) {
      part = { bytes: Buffer.alloc(BLOCK_BYTES), ranges: [], covered: 0 };
      this.parts.set(block, part);
      if (data) this.dataParts.push(block);
    }
    part.bytes.set(bytes, inBlock);
    cover(part, inBlock, inBlock + bytes.length);
    if (part.covered === BLOCK_BYTES) {
      this.parts.delete(block);
      this.submit(block, part.bytes);
    }
  }

  private submit(block: number, bytes: Uint8Array): void {
    this.hashed.set(block);
    this.slab.set(bytes, this.slabBlocks.length * SLOT + SALT_BYTES);
    this.slabBlocks.push(block);
    if (this.slabBlocks.length === SLAB_BLOCKS) this.dispatch();
  }

  private dispatch(): void {
    const blocks = this.slabBlocks;
    if (blocks.length === 0) return;
    this.slabBlocks = [];
    const workers = Math.min(MAX_WORKERS, availableParallelism());
    if (!this.pool && (this.inlineSlabs < INLINE_SLABS || workers < 2)) {
      this.inlineSlabs++;
      for (let i = 0; i < blocks.length; i++) this.digests.set(blocks[i], sha256Slot(this.slab.subarray(i * SLOT, (i + 1) * SLOT)));
      return;
    }
    this.pool ??= new HashPool(workers);
    const slab = this.slab;
    this.slab = this.pool.takeSlab();
    const job = this.pool.hash(slab, blocks.length).then((digests) => {
      for (let i = 0; i < blocks.length; i++) this.digests.set(blocks[i], digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES));
    }, (err) => {
      this.failure ??= err;
    });
    this.jobs.push(job);
  }

  /**
   * Level 0 over the image's first `dataBlocks` blocks, once every write is in. `readBlock`
   * reads a block back from the image for the rare block that cannot be rebuilt; without it
   * (no image is kept) such a block is an internal error.
   */
  async finish(dataBlocks: number, readBlock?: (block: number) => Uint8Array): Promise<Buffer> {
    this.dispatch();
    await Promise.all(this.jobs);
    this.jobs.length = 0;
    if (this.failure) throw this.failure;
    const now = (block: number, bytes: Uint8Array) => {
      this.digests.set(block, hashBlock(bytes, this.scratch));
      this.hashed.set(block);
    };
    for (const [block, part] of this.parts) now(block, part.bytes);
    this.parts.clear();
    for (const [block, bytes] of this.rewritten) now(block, bytes);
    for (const block of this.lost) {
      if (!readBlock) throw new LcowError('INTERNAL', `internal error: dm-verity block ${block} was partly rewritten after it was hashed, and there is no image to read it back from; please report this with the input`);
      now(block, readBlock(block));
    }
    return this.digests.level0(dataBlocks, this.hashed);
  }

  /** Stops the worker threads (after finish, or on failure). */
  close(): void {
    this.pool?.close();
    this.pool = undefined;
  }
}
