#!/usr/bin/env node
// Drop-in for hcsshim's cmd/tar2ext4: the same flags (single or double dash), the same
// exit status (0 ok, 1 error with a one-line message on stderr).

import yargs from 'yargs';
import { convertTar, computeRootDigest } from '../convert.js';
import { appendVhdFooterTo } from '../vhd.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../log.js';
import { Progress } from '../progress.js';
import { statSync } from 'node:fs';

/** Go's flag package accepts -name and --name; yargs needs --name for long flags. */
export function normalizeGoFlags(argv: string[]): string[] {
  return argv.map((arg) => (/^-[A-Za-z][A-Za-z-]+(=.*)?$/.test(arg) ? `-${arg}` : arg));
}

async function main(): Promise<number> {
  const args = await yargs(normalizeGoFlags(process.argv.slice(2)))
    .scriptName('tar2ext4')
    .usage('$0 -i <tar> -o <image> [-overlay] [-vhd] [-inline] [-verity] [-convert-slash] [-only-vhd] [-maxsize N] [-uuid-from-content]\n$0 -digest [-i <tar>]')
    .option('i', { type: 'string', default: '-', description: 'input tar file (default standard input; gzip/zstd detected)' })
    .option('o', { type: 'string', description: 'output file (required)' })
    .option('overlay', { type: 'boolean', default: false, description: 'produce overlayfs-compatible layer image (convert OCI whiteouts)' })
    .option('vhd', { type: 'boolean', default: false, description: 'add a VHD footer to the end of the image' })
    .option('inline', { type: 'boolean', default: false, description: 'write small file data into the inode' })
    .option('convert-slash', { type: 'boolean', default: false, description: 'convert backslashes in names to forward slashes' })
    .option('only-vhd', { type: 'boolean', default: false, description: 'only append the VHD footer to the input, no conversion' })
    .option('verity', { type: 'boolean', default: false, description: 'append a dm-verity superblock and hash tree after the image' })
    .option('digest', { type: 'boolean', default: false, description: 'print the dm-verity root digest of the layer (hcsshim ConvertAndComputeRootDigest) and write nothing' })
    .option('uuid-from-content', { type: 'boolean', default: false, description: 'derive the VHD and verity ids from the content (reproducible output)' })
    .option('maxsize', { type: 'number', description: 'maximum disk size in bytes (hcsshim MaximumDiskSize; default 16 GiB)' })
    .option('log-level', { choices: LOG_LEVELS, default: 'warn' as LogLevel, description: 'pino log level (JSON on stderr)' })
    .strictOptions()
    .version(false)
    .help('help')
    .parseAsync();
  const log = createLogger(args['log-level'] as LogLevel);
  if (args.digest) {
    process.stdout.write(`${await computeRootDigest(args.i)}\n`);
    return 0;
  }
  if (!args.o) {
    process.stderr.write('-o is required\n');
    return 1;
  }
  if (args['only-vhd']) {
    const size = await appendVhdFooterTo(args.i, args.o);
    log.info({ output: args.o, bytes: size }, 'appended VHD footer');
    return 0;
  }
  const total = args.i === '-' ? undefined : statSync(args.i).size;
  const progress = new Progress('tar2ext4', total);
  const started = Date.now();
  try {
    const result = await convertTar(args.i, args.o, {
      overlay: args.overlay,
      vhd: args.vhd,
      inlineData: args.inline,
      convertBackslash: args['convert-slash'],
      maxDiskSize: args.maxsize,
      verity: args.verity,
      uuidFromContent: args['uuid-from-content'],
      onProgress: (n) => progress.update(n),
    });
    progress.finish();
    log.info({ input: args.i, output: args.o, ...result, seconds: (Date.now() - started) / 1000 }, 'converted');
    return 0;
  } finally {
    progress.finish();
  }
}

main().then(
  (status) => process.exit(status),
  (err: Error & { code?: string }) => {
    process.stderr.write(`${err.message.replace(/\n/g, ' ')}\n`);
    process.exit(1);
  },
);
