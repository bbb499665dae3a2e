// A process's pipe handles as Node streams over PipeIo (api.ts): reads of up to 64 KiB
// at a time until the writer closes its end, writes of each chunk in full. Destroying a
// stream closes its handle; nothing else closes it.

import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import type { HcsHandle, PipeIo } from './api.js';

const READ_SIZE = 64 * 1024;

export function pipeReadable(io: PipeIo, pipe: HcsHandle): Readable {
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await io.close(pipe);
  };
  return new Readable({
    highWaterMark: READ_SIZE,
    read() {
      io.read(pipe, READ_SIZE).then(
        (chunk) => {
          if (chunk === null) {
            this.push(null);
            return;
          }
          this.push(chunk);
        },
        (err) => this.destroy(err),
      );
    },
    destroy(err, callback) {
      close().then(() => callback(err), (closeError) => callback(err ?? closeError));
    },
  });
}

export function pipeWritable(io: PipeIo, pipe: HcsHandle): Writable {
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await io.close(pipe);
  };
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      io.write(pipe, chunk).then(() => callback(), callback);
    },
    final(callback) {
      close().then(() => callback(), callback);
    },
    destroy(err, callback) {
      close().then(() => callback(err), (closeError) => callback(err ?? closeError));
    },
  });
}

/** Destroys a pipe stream and resolves once its handle is closed. */
export async function closeStream(stream: Readable | Writable): Promise<void> {
  if (stream.closed) return;
  const closed = once(stream, 'close').catch(() => undefined);
  stream.destroy();
  await closed;
}
