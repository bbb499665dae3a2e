// A layer blob read by position out of the image and handed on uncompressed, with both
// digests computed on the way: the stored bytes' (checked against the manifest's
// descriptor) and the uncompressed tar's (checked against the config's diff_id). The
// checks run when the last byte has been read, so a consumer that reads to the end (the
// conversion drains its input before it publishes anything) never publishes a layer
// whose digests are wrong. Memory: one read-ahead chunk plus zlib's window.

import { read } from 'node:fs';
import { promisify } from 'node:util';
import { Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import type { Hash } from 'node:crypto';
import { LcowError } from '../host/errors.js';
import { formatDigest, newHash, type Digest } from './digest.js';
import type { ByteRange } from './image-files.js';

const CHUNK = 1 << 20;
const readAt = promisify(read);

export type LayerCompression = 'none' | 'gzip' | 'zstd';

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(bytes: Buffer, magic: number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/** Decided by magic, as containerd does: media types in the wild do not always say. */
export function layerCompression(head: Buffer): LayerCompression {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

export interface LayerExpectations {
  /** The stored blob's digest (manifest descriptor, or the blob's file name). */
  digest?: Digest;
  /** The stored blob's size (manifest descriptor). */
  size?: number;
  /** The uncompressed tar's digest (config rootfs.diff_ids). */
  diffId: Digest;
}

export interface LayerDigests {
  compression: LayerCompression;
  storedBytes: number;
  tarBytes: number;
  /** Digest of the stored bytes, in the algorithm of the expected one (sha256 when none). */
  digest: string;
  diffId: string;
}

function inflater(compression: LayerCompression): zlib.Gunzip {
  if (compression === 'gzip') return zlib.createGunzip({ chunkSize: CHUNK });
  const factory = (zlib as unknown as { createZstdDecompress?: () => zlib.Gunzip }).createZstdDecompress;
  if (!factory) {
    throw new LcowError('INPUT_UNSUPPORTED_COMPRESSION', `the layer is zstd-compressed, which needs Node.js 22.15 or newer (this is ${process.version})`);
  }
  return factory();
}

export class VerifiedLayerStream implements AsyncIterable<Buffer> {
  /** Stored bytes read so far (for progress). */
  storedBytes = 0;
  private tarBytes = 0;
  private result?: LayerDigests;

  constructor(
    private readonly blob: ByteRange,
    private readonly expected: LayerExpectations,
    /** Checked before every read: a cancelled job stops within one chunk. */
    private readonly cancelled: () => boolean = () => false,
  ) {}

  /** The digests, once the stream has been read to its end and every check passed. */
  get digests(): LayerDigests | undefined {
    return this.result;
  }

  private async *stored(storedHash: Hash): AsyncGenerator<Buffer> {
    const { fd, offset, size } = this.blob;
    let next = size > 0 ? readAt(fd, Buffer.allocUnsafe(Math.min(CHUNK, size)), 0, Math.min(CHUNK, size), offset) : undefined;
    while (next) {
      if (this.cancelled()) throw new LcowError('CANCELLED', 'stopped: another layer failed');
      const { bytesRead, buffer } = await next;
      if (bytesRead === 0) throw new LcowError('INPUT_READ_FAILED', `the image ends inside the layer, at byte ${offset + this.storedBytes} (was it truncated?)`);
      this.storedBytes += bytesRead;
      const left = size - this.storedBytes;
      // Read the next chunk while this one is hashed and converted.
      next = left > 0 ? readAt(fd, Buffer.allocUnsafe(Math.min(CHUNK, left)), 0, Math.min(CHUNK, left), offset + this.storedBytes) : undefined;
      next?.catch(() => {});
      const chunk = buffer.subarray(0, bytesRead);
      storedHash.update(chunk);
      yield chunk;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const storedAlgorithm = this.expected.digest?.algorithm ?? 'sha256';
    const storedHash = newHash(storedAlgorithm);
    const raw = this.stored(storedHash);
    const first = await raw.next();
    const head = first.done ? Buffer.alloc(0) : first.value;
    const compression = layerCompression(head);
    async function* all(): AsyncGenerator<Buffer> {
      if (!first.done) yield head;
      yield* raw;
    }
    // Uncompressed and in the same algorithm: the stored digest is the diff id, one hash does both.
    const shared = compression === 'none' && storedAlgorithm === this.expected.diffId.algorithm;
    const tarHash = shared ? storedHash : newHash(this.expected.diffId.algorithm);
    const tar: AsyncIterable<Buffer> = compression === 'none' ? all() : inflated(pipeline(Readable.from(all()), inflater(compression), () => {}), compression);
    for await (const chunk of tar) {
      if (!shared) tarHash.update(chunk);
      this.tarBytes += chunk.length;
      yield chunk;
    }
    const digest = storedHash.digest('hex');
    const diffId = shared ? digest : tarHash.digest('hex');
    this.check(digest, diffId, compression);
    this.result = { compression, storedBytes: this.storedBytes, tarBytes: this.tarBytes, digest: `${storedAlgorithm}:${digest}`, diffId: `${this.expected.diffId.algorithm}:${diffId}` };
  }

  private check(digest: string, diffId: string, compression: LayerCompression): void {
    const { expected } = this;
    if (expected.size !== undefined && this.storedBytes !== expected.size) {
      throw new LcowError('IMAGE_DIGEST_MISMATCH', `the blob is ${this.storedBytes} bytes, but the manifest says ${expected.size}`);
    }
    if (expected.digest && digest !== expected.digest.hex) {
      throw new LcowError('IMAGE_DIGEST_MISMATCH', `the blob's digest is ${expected.digest.algorithm}:${digest}, not ${formatDigest(expected.digest)} as the manifest says`);
    }
    if (diffId !== expected.diffId.hex) {
      const what = compression === 'none' ? 'the tar' : `the tar inside the ${compression} stream`;
      throw new LcowError('IMAGE_DIGEST_MISMATCH', `${what} has digest ${expected.diffId.algorithm}:${diffId}, not the diff_id ${formatDigest(expected.diffId)} the config lists`);
    }
  }
}

/** zlib's own errors ("incorrect header check") as the layer's fault. */
async function* inflated(source: AsyncIterable<Buffer>, compression: LayerCompression): AsyncGenerator<Buffer> {
  try {
    yield* source;
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code.startsWith('Z_') || code.startsWith('ERR_ZSTD')) {
      throw new LcowError('INPUT_CORRUPT_COMPRESSION', `the ${compression} stream is corrupt: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
}
