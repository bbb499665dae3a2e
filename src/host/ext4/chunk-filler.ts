// The hot path of reading a file (Diff, cat): chunk buffers filled straight from
// positional reads of contiguous runs, and zeros for holes, with no per-byte JS work.

/** Fills chunk buffers of a file from positional reads and zeros, yielding each when full. */
export class ChunkFiller {
  position = 0;
  private chunk: Buffer | null = null;
  private filled = 0;

  constructor(private readonly size: number, private readonly chunkSize: number, private readonly readInto: (target: Uint8Array, offset: number) => void) {}

  private next(): Buffer {
    if (!this.chunk) {
      this.chunk = Buffer.allocUnsafe(Math.min(this.chunkSize, this.size - this.position));
      this.filled = 0;
    }
    return this.chunk;
  }

  private *advance(n: number): Generator<Buffer> {
    this.filled += n;
    this.position += n;
    if (this.chunk && this.filled === this.chunk.length) {
      const full = this.chunk;
      this.chunk = null;
      yield full;
    }
  }

  *zeros(length: number): Generator<Buffer> {
    while (length > 0) {
      const chunk = this.next();
      const n = Math.min(length, chunk.length - this.filled);
      chunk.fill(0, this.filled, this.filled + n);
      length -= n;
      yield* this.advance(n);
    }
  }

  *copy(offset: number, length: number): Generator<Buffer> {
    while (length > 0) {
      const chunk = this.next();
      const n = Math.min(length, chunk.length - this.filled);
      this.readInto(chunk.subarray(this.filled, this.filled + n), offset);
      offset += n;
      length -= n;
      yield* this.advance(n);
    }
  }
}
