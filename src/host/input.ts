// Input side: open a file or stdin, detect compression by magic, and read the tar
// stream in large chunks with a pull interface the conversion loop can drive.

import { fstatSync, openSync, closeSync, read, readSync, statSync, createReadStream } from 'node:fs';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import type * as Zlib from 'node:zlib';
import type * as Stream from 'node:stream';
import { LcowError } from './errors.js';
import { identityOf, type FileIdentity } from './output.js';

export const CHUNK_SIZE = 1 << 20;

// zlib and stream are loaded only for compressed input: most layers handed to a converter on
// disk are plain tars, and loading them is start-up time (about 2 ms) every run would pay.
const load = createRequire(import.meta.url);
const zlib = (): typeof Zlib => load('node:zlib') as typeof Zlib;
const stream = (): typeof Stream => load('node:stream') as typeof Stream;

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const BZIP2_MAGIC = [0x42, 0x5a, 0x68];

export type Compression = 'none' | 'gzip' | 'zstd';

function startsWith(buf: Buffer, magic: number[]): boolean {
  return buf.length >= magic.length && magic.every((b, i) => buf[i] === b);
}

export function detectCompression(head: Buffer): Compression {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) return 'zstd';
  if (startsWith(head, XZ_MAGIC)) throw new LcowError('INPUT_UNSUPPORTED_COMPRESSION', 'input is xz-compressed; decompress it first (xz -dc layer.tar.xz | lcow convert - ...)');
  if (startsWith(head, BZIP2_MAGIC)) throw new LcowError('INPUT_UNSUPPORTED_COMPRESSION', 'input is bzip2-compressed; decompress it first (bzip2 -dc layer.tar.bz2 | lcow convert - ...)');
  return 'none';
}

const readAt = promisify(read);

/**
 * A regular file read in chunks at explicit positions, so that a reader can jump over
 * bytes it had the kernel copy (copy_file_range) instead of reading them.
 */
export class FileChunks implements AsyncIterable<Buffer> {
  readonly fd: number;
  readonly size: number;
  /** Where the next chunk is read from. */
  position = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'r');
    try {
      const stat = fstatSync(this.fd);
      if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      this.size = stat.size;
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  /**
   * Chunks in order from `position`. The next chunk is read while the caller works on
   * this one (the read runs on libuv's thread pool); a prefetch made stale by a jump of
   * `position` is dropped.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    let prefetch = this.readChunk(this.position);
    for (;;) {
      let chunk = await prefetch;
      if (chunk.position !== this.position) chunk = await this.readChunk(this.position);
      if (chunk.bytes.length === 0) return;
      this.position += chunk.bytes.length;
      prefetch = this.readChunk(this.position);
      // Awaited on the next round, or never if the caller stops early: then its error
      // (the file closed under it, say) must not surface as an unhandled rejection.
      prefetch.catch(() => {});
      yield chunk.bytes;
    }
  }

  private async readChunk(position: number): Promise<{ position: number; bytes: Buffer }> {
    const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
    const { bytesRead } = await readAt(this.fd, buffer, 0, CHUNK_SIZE, position);
    return { position, bytes: buffer.subarray(0, bytesRead) };
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Pull reader over a byte stream. `take` hands out views of the current chunk so the
 * caller can write file data straight from it to the output without copying.
 */
export class ChunkReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private chunk: Buffer = Buffer.alloc(0);
  private position = 0;
  private ended = false;
  /** Bytes consumed so far (offset in the decompressed tar stream). */
  consumed = 0;
  /** Set when the stream is this file's bytes from offset 0: copies can bypass reading. */
  readonly file?: FileChunks;

  constructor(stream: AsyncIterable<Buffer>, file?: FileChunks) {
    this.iterator = stream[Symbol.asyncIterator]();
    this.file = file;
  }

  /**
   * Consumes n bytes that the caller copied straight from the file: what is buffered is
   * dropped and the next read starts after them.
   */
  skipCopied(n: number): void {
    const buffered = this.chunk.length - this.position;
    this.consumed += n;
    if (n <= buffered) {
      this.position += n;
      return;
    }
    this.chunk = Buffer.alloc(0);
    this.position = 0;
    this.file!.position = this.consumed;
  }

  private async fill(): Promise<boolean> {
    while (this.position >= this.chunk.length) {
      if (this.ended) return false;
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        return false;
      }
      this.chunk = next.value;
      this.position = 0;
    }
    return true;
  }

  // The *Buffered variants serve from the current chunk without awaiting: with small
  // entries, a promise per header and per body was a visible share of the time.

  /** Up to `max` bytes of the current chunk as a view; empty when the chunk is used up. */
  takeBuffered(max: number): Buffer {
    const n = Math.min(max, this.chunk.length - this.position);
    const view = this.chunk.subarray(this.position, this.position + n);
    this.position += n;
    this.consumed += n;
    return view;
  }

  /** Fills all of `target` from the current chunk, or takes nothing and returns false. */
  readIntoBuffered(target: Uint8Array): boolean {
    if (this.chunk.length - this.position < target.length) return false;
    target.set(this.takeBuffered(target.length));
    return true;
  }

  /** Skips n bytes of the current chunk, or nothing and returns false. */
  skipBuffered(n: number): boolean {
    if (this.chunk.length - this.position < n) return false;
    this.takeBuffered(n);
    return true;
  }

  /** Up to `max` bytes as a view of the current chunk; empty at end of input. */
  async take(max: number): Promise<Buffer> {
    if (max <= 0 || !(await this.fill())) return Buffer.alloc(0);
    const n = Math.min(max, this.chunk.length - this.position);
    const view = this.chunk.subarray(this.position, this.position + n);
    this.position += n;
    this.consumed += n;
    return view;
  }

  /** Copies exactly target.length bytes; returns how many were available. */
  async readInto(target: Uint8Array): Promise<number> {
    let done = 0;
    while (done < target.length) {
      const view = await this.take(target.length - done);
      if (view.length === 0) break;
      target.set(view, done);
      done += view.length;
    }
    return done;
  }

  /** Discards n bytes; returns how many were available. */
  async skip(n: number): Promise<number> {
    let done = 0;
    while (done < n) {
      const view = await this.take(n - done);
      if (view.length === 0) break;
      done += view.length;
    }
    return done;
  }

  /**
   * Reads and discards the rest of a stream (hcsshim's CLI drains its input, so that a
   * writer on a pipe does not fail); a file needs no draining.
   */
  async drain(): Promise<void> {
    if (this.file) return;
    while ((await this.take(CHUNK_SIZE)).length > 0) { /* discard */ }
  }
}

export interface OpenedInput {
  reader: ChunkReader;
  /** Releases the input file (a no-op for stdin). */
  close(): void;
  compression: Compression;
  /** Size of the input file (or of standard input when it is a regular file), else undefined. */
  size?: number;
  /** Compressed bytes read so far (progress on the input file). */
  bytesRead(): number;
  /** The first raw bytes (at least 2048 unless the input is shorter), for telling what the input is. */
  head: Buffer;
  /** The last 512 raw bytes of a file input (where a fixed VHD keeps its footer). */
  tail?: Buffer;
}

/** A tar file's path, "-" for standard input, or a stream of its bytes (the driver's ApplyDiff). */
export type TarInput = string | AsyncIterable<Buffer>;

/** Before anything is read: the input's identity (for the same-file check), when it has one. */
export type BeforeRead = (identity: FileIdentity | undefined) => void;

/** Enough of the head for the ext4 magic at byte 1080 even when a pipe delivers less at once. */
const MIN_HEAD = 2048;

/** Standard input's identity and size, when it is a file or device rather than a pipe or terminal. */
export function standardInputStats(): { identity?: FileIdentity; size?: number; terminal: boolean } {
  try {
    const stats = fstatSync(0);
    const identity = stats.isFile() || stats.isBlockDevice() ? identityOf(stats) : undefined;
    return { identity, size: stats.isFile() ? stats.size : undefined, terminal: Boolean(process.stdin.isTTY) };
  } catch {
    return { terminal: false };
  }
}

function readTail(file: FileChunks): Buffer | undefined {
  if (file.size < 512) return undefined;
  const tail = Buffer.alloc(512);
  return readSync(file.fd, tail, 0, 512, file.size - 512) === 512 ? tail : undefined;
}

/** A named pipe or socket: read as a stream, never at positions. */
export function isPipe(path: string): boolean {
  try {
    const stats = statSync(path);
    return stats.isFIFO() || stats.isSocket();
  } catch {
    return false; // opening it reports why
  }
}

/** Opens the input and inflates gzip or zstd when the magic says so. */
export async function openInput(input: TarInput, beforeRead?: BeforeRead): Promise<OpenedInput> {
  const path = typeof input === 'string' && input !== '-' ? input : undefined;
  // A named pipe (`<(zcat layer.tar.gz)`, /dev/stdin on a pipe) cannot take positional reads: stream it.
  const pipe = path !== undefined && isPipe(path) ? createReadStream(path, { highWaterMark: CHUNK_SIZE }) : undefined;
  const file = path !== undefined && !pipe ? new FileChunks(path) : undefined;
  const stdin = input === '-' ? standardInputStats() : undefined;
  const raw: AsyncIterable<Uint8Array | string> = file ?? pipe ?? (typeof input === 'string' ? process.stdin : input);
  const size = file?.size ?? stdin?.size;
  const close = () => {
    file?.close();
    pipe?.destroy();
  };
  let rawBytes = 0;
  // One iterator for the whole stream: the first chunks decide the compression.
  const iterator = raw[Symbol.asyncIterator]();
  const nextChunk = async (): Promise<Buffer | undefined> => {
    const next = await iterator.next();
    if (next.done) return undefined;
    if (!(next.value instanceof Uint8Array)) {
      throw new LcowError('INVALID_OPTION', 'the input stream gives strings, not bytes: do not set an encoding on it');
    }
    const bytes: Uint8Array = next.value;
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  let first: Buffer = Buffer.alloc(0);
  let ended = false;
  let compression: Compression;
  let tail: Buffer | undefined;
  try {
    beforeRead?.(file ? identityOf(fstatSync(file.fd)) : pipe ? undefined : stdin?.identity);
    while (first.length < MIN_HEAD && !ended) {
      const chunk = await nextChunk();
      if (chunk === undefined) ended = true;
      else first = first.length === 0 ? chunk : Buffer.concat([first, chunk]);
    }
    compression = detectCompression(first);
    if (file) tail = readTail(file);
  } catch (err) {
    close();
    throw err;
  }
  rawBytes += first.length;
  async function* rawChunks(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    if (ended) return;
    for (let next = await nextChunk(); next !== undefined; next = await nextChunk()) {
      rawBytes += next.length;
      yield next;
    }
  }
  if (compression === 'none') {
    const reader = new ChunkReader(rawChunks(), file);
    // Bytes copied in the kernel are never read, so progress counts consumed bytes.
    return { reader, compression, size, close, bytesRead: () => reader.consumed, head: first, tail };
  }
  let inflate: Zlib.Gunzip;
  try {
    inflate = compression === 'gzip' ? zlib().createGunzip({ chunkSize: 1 << 20 }) : createZstd();
  } catch (err) {
    close();
    throw err;
  }
  // pipeline, not pipe: a read error on the file must end the inflated stream too.
  const { pipeline, Readable } = stream();
  const source = corruptionAsLcowError(pipeline(Readable.from(rawChunks()), inflate, () => {}), compression);
  return { reader: new ChunkReader(source), compression, size, close, bytesRead: () => rawBytes, head: first, tail };
}

/**
 * Whether this Node.js can inflate zstd: zlib.createZstdDecompress came in 22.15 and 23.8.
 * Told from the version so that the help text does not load zlib.
 */
export const ZSTD_AVAILABLE = ((major: number, minor: number) => major > 23 || (major === 23 && minor >= 8) || (major === 22 && minor >= 15))(
  ...(process.versions.node.split('.').map(Number) as [number, number]),
);

/** What the help says about compressed input: the truth for this runtime. */
export function compressionNote(): string {
  return ZSTD_AVAILABLE ? 'gzip and zstd are detected and inflated' : `gzip is detected and inflated; zstd needs Node.js 22.15+ (this is ${process.version})`;
}

function createZstd(): Zlib.Gunzip {
  const factory = (zlib() as unknown as { createZstdDecompress?: () => Zlib.Gunzip }).createZstdDecompress;
  if (!factory) {
    throw new LcowError('INPUT_UNSUPPORTED_COMPRESSION', `input is zstd-compressed, which needs Node.js 22.15 or newer (this is ${process.version}); decompress it first (zstd -dc layer.tar.zst | lcow convert - ...)`);
  }
  return factory();
}

/** zlib's errors ("incorrect header check", "unexpected end of file") name the input's fault. */
async function* corruptionAsLcowError(source: AsyncIterable<Buffer>, compression: Compression): AsyncGenerator<Buffer> {
  try {
    yield* source;
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code.startsWith('Z_') || code.startsWith('ERR_ZSTD') || code === 'ERR_BUFFER_TOO_LARGE') {
      throw new LcowError('INPUT_CORRUPT_COMPRESSION', `the ${compression} stream is corrupt: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
}
