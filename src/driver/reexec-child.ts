// The child side of ApplyDiff's re-exec (spec/driver.md §7.12): `lcow docker-lcow-tar2ext4
// DEST` converts standard input into DEST; on success it prints the file's size in
// decimal, on failure the error, each without a newline, exactly as the reference's child.

import { convertTar } from '../host/convert.js';
import { describeFailure } from '../host/cli/failure.js';
import { LAYER_CONVERSION } from './apply-diff.js';

export async function runReexecChild(argv: string[]): Promise<number> {
  if (argv.length !== 1 || argv[0] === '') {
    process.stderr.write('USAGE: docker-lcow-tar2ext4 takes exactly one argument, the layer.vhd to write');
    return 2;
  }
  try {
    const { fileBytes } = await convertTar('-', argv[0], LAYER_CONVERSION);
    process.stdout.write(String(fileBytes));
    return 0;
  } catch (err) {
    process.stderr.write(describeFailure(err));
    return 1;
  }
}
