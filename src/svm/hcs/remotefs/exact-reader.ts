// Reads exact byte counts from a stream: the answers of `remotefs openfile` are a
// 12-byte header and then exactly `size` bytes.

import type { Readable } from 'node:stream';

export class ExactReader {
  private readonly stream: Readable;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(stream: Readable) {
    this.stream = stream;
    const notify = (): void => {
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    };
    stream.on('readable', notify);
    stream.on('end', () => {
      this.ended = true;
      notify();
    });
    stream.on('error', (err) => {
      this.failure = err;
      notify();
    });
  }

  /** Exactly `length` bytes, or an error when the stream ends first. */
  async read(length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    for (;;) {
      if (this.failure) throw this.failure;
      const chunk = this.stream.read(length) as Buffer | null;
      // After the end, read(n) hands out what is left even when it is short.
      if (chunk !== null && chunk.length === length) return chunk;
      if (chunk !== null) throw new Error(`the stream ended ${chunk.length} bytes into a ${length}-byte frame`);
      if (this.ended) throw new Error(`the stream ended ${this.stream.readableLength} bytes into a ${length}-byte frame`);
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
