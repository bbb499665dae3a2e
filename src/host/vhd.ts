// Fixed VHD footers on existing files (hcsshim ConvertToVhd / -only-vhd).

import { randomBytes } from 'node:crypto';
import { fstatSync, createReadStream } from 'node:fs';
import { buildVhdFooter } from './engine.js';
import { OutputFile, outputTarget, identityOf, sameFile, systemReason } from './output.js';
import { FileChunks, standardInputStats, isPipe } from './input.js';
import { checkImagePath } from './check-options.js';
import { LcowError } from './errors.js';

/** Copies `input` ("-" for stdin) unchanged to `target` and appends a footer; returns the new size. */
export async function appendVhdFooterTo(input: string, target: string, uniqueId: Uint8Array = randomBytes(16)): Promise<number> {
  checkImagePath(input, 'the input');
  const destination = outputTarget(target);
  let file: FileChunks | undefined;
  const pipe = input !== '-' && isPipe(input) ? createReadStream(input) : undefined;
  try {
    file = input === '-' || pipe ? undefined : new FileChunks(input);
  } catch (err) {
    throw new LcowError('INPUT_OPEN_FAILED', `cannot open ${input}: ${systemReason(err)}`, { cause: err });
  }
  const name = input === '-' ? 'standard input' : input;
  let out: OutputFile;
  try {
    const identity = file ? identityOf(fstatSync(file.fd)) : pipe ? undefined : standardInputStats().identity;
    if (identity && destination.identity && sameFile(identity, destination.identity)) {
      throw new LcowError('USAGE', `the output ${target} is the input ${name}: it would be destroyed; choose another output`);
    }
    out = new OutputFile(destination);
  } catch (err) {
    file?.close();
    throw err;
  }
  try {
    let size = 0;
    for await (const chunk of file ?? pipe ?? process.stdin) {
      out.write(chunk as Buffer, size);
      size += (chunk as Buffer).length;
    }
    out.write(buildVhdFooter(size, uniqueId), size);
    out.commit();
    return size + 512;
  } catch (err) {
    out.abandon();
    if (err instanceof LcowError) throw err;
    throw new LcowError('INPUT_READ_FAILED', `cannot read ${name}: ${systemReason(err)}`, { cause: err });
  } finally {
    file?.close();
    pipe?.destroy();
  }
}
