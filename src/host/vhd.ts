// Fixed VHD footers on existing files (hcsshim ConvertToVhd / -only-vhd).

import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { buildVhdFooter } from './engine.js';
import { OutputFile } from './output.js';
import { LcowError } from './errors.js';

/** Copies `input` ("-" for stdin) unchanged to `target` and appends a footer. */
export async function appendVhdFooterTo(input: string, target: string, uniqueId: Uint8Array = randomBytes(16)): Promise<number> {
  const out = new OutputFile(target);
  try {
    let size = 0;
    const stream = input === '-' ? process.stdin : createReadStream(input, { highWaterMark: 4 << 20 });
    for await (const chunk of stream) {
      out.write(chunk as Buffer, size);
      size += (chunk as Buffer).length;
    }
    out.write(buildVhdFooter(size, uniqueId), size);
    out.commit();
    return size + 512;
  } catch (err) {
    out.abandon();
    if (err instanceof LcowError) throw err;
    throw new LcowError('INPUT_READ_FAILED', `cannot read ${input}: ${(err as Error).message}`, { cause: err });
  }
}
