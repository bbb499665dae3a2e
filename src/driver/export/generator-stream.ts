// A Readable over a synchronous generator of chunks: the exporters produce bytes from
// positional reads, and the stream pulls the next chunk only when its consumer wants
// more, so memory stays at the stream's high-water mark however large the layer.

import { Readable } from 'node:stream';

/**
 * `start` runs on the first read; a throw from the generator destroys the stream with
 * `asError(err)`; destroying the stream early (the consumer went away) ends the generator.
 */
export function generatorStream(start: () => Generator<Buffer>, highWaterMark: number, asError: (err: unknown) => Error): Readable {
  let chunks: Generator<Buffer> | undefined;
  return new Readable({
    highWaterMark,
    read() {
      try {
        chunks ??= start();
        for (;;) {
          const step = chunks.next();
          if (step.done) {
            this.push(null);
            return;
          }
          if (!this.push(step.value)) return;
        }
      } catch (err) {
        this.destroy(asError(err));
      }
    },
    destroy(err, callback) {
      try {
        chunks?.return(undefined);
      } catch {
        // The walk is abandoned either way; its own cleanup has nothing to report.
      }
      callback(err);
    },
  });
}
