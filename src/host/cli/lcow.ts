#!/usr/bin/env node
// lcow: convert tar layers to layer.vhd images and look inside them.

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { statSync } from 'node:fs';
import { convertTar, computeRootDigest } from '../convert.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../log.js';
import { Progress } from '../progress.js';
import { LcowError } from '../errors.js';
import { describeFailure, exitStatusOf } from './failure.js';
import { DELEGATES, SILENT_DELEGATE, loadDelegate } from './dispatch.js';

function parseSize(text: string): number {
  const match = /^(\d+)\s*([KMGT]i?B?)?$/i.exec(text.trim());
  if (!match) throw new LcowError('USAGE', `invalid size ${JSON.stringify(text)}: use bytes or a suffix like 16GiB`);
  const unit = (match[2] ?? '').toUpperCase().replace(/I?B$/, '');
  const scale = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[unit] ?? 1;
  return Number(match[1]) * scale;
}

/** Input size for the progress bar; a missing file is reported by the conversion itself. */
function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = hideBin(process.argv);
  if (command !== undefined && Object.hasOwn(DELEGATES, command)) {
    const run = await loadDelegate(command);
    if (command === SILENT_DELEGATE) {
      process.exitCode = await run(rest).catch((err: unknown) => {
        process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        return 1;
      });
    } else {
      process.exitCode = await run(rest);
    }
    return;
  }
  await yargs(hideBin(process.argv))
    .scriptName('lcow')
    .option('log-level', { choices: LOG_LEVELS, default: 'warn' as LogLevel, global: true, description: 'pino log level (JSON on stderr)' })
    .command(
      'convert <input>',
      'convert a tar layer (file or "-" for stdin; gzip/zstd detected) into an ext4 image or layer.vhd, byte-identical to hcsshim tar2ext4',
      (y) => y
        .positional('input', { type: 'string', demandOption: true })
        .option('output', { alias: 'o', type: 'string', demandOption: true, description: 'output file' })
        .option('overlay', { type: 'boolean', default: false, description: 'convert OCI whiteouts to overlayfs form' })
        .option('vhd', { type: 'boolean', default: false, description: 'append a fixed VHD footer (layer.vhd)' })
        .option('inline', { type: 'boolean', default: false, description: 'store files of at most 136 bytes in their inode' })
        .option('convert-backslash', { type: 'boolean', default: false, description: 'treat "\\" in names as "/"' })
        .option('verity', { type: 'boolean', default: false, description: 'append a dm-verity superblock and hash tree (before any VHD footer)' })
        .option('uuid-from-content', { type: 'boolean', default: false, description: 'derive the VHD and verity ids from the content, so the same input gives the same file' })
        .option('max-size', { type: 'string', description: 'maximum disk size (bytes, or e.g. 128GiB); default 16GiB' })
        .option('sync', { type: 'boolean', default: true, description: 'flush the image to disk before renaming it into place (--no-sync skips it, as cp does)' })
        .option('engine-memory', { type: 'string', description: "cap on the engine's memory for the layer's metadata (e.g. 512MiB); default and maximum 4GiB" }),
      async (args) => {
        const log = createLogger(args['log-level'] as LogLevel);
        // yargs hands "-" (standard input) over as an empty string.
        const input = args.input || '-';
        const total = input === '-' ? undefined : sizeOf(input);
        const progress = new Progress('convert', total);
        const started = Date.now();
        try {
          const result = await convertTar(input, args.output, {
            overlay: args.overlay,
            vhd: args.vhd,
            inlineData: args.inline,
            convertBackslash: args['convert-backslash'],
            maxDiskSize: args['max-size'] === undefined ? undefined : parseSize(args['max-size']),
            verity: args.verity,
            uuidFromContent: args['uuid-from-content'],
            sync: args.sync,
            engineMemoryLimit: args['engine-memory'] === undefined ? undefined : parseSize(args['engine-memory']),
            onProgress: (n) => progress.update(n),
          });
          log.info({ input, output: args.output, ...result, seconds: (Date.now() - started) / 1000 }, 'converted');
        } finally {
          progress.finish();
        }
      },
    )
    .command(
      'inspect <image>',
      'summarise an ext4 image or layer.vhd (superblock, groups, features, counts, VHD footer, dm-verity), or find the first difference between two',
      (y) => y
        .positional('image', { type: 'string', demandOption: true })
        .option('diff', { type: 'string', description: 'compare with this image and name the first differing block and its structure' })
        .option('json', { type: 'boolean', default: false, description: 'print JSON' }),
      async (args) => {
        // Loaded on demand: only convert has to start fast.
        const { inspectImage, formatSummary } = await import('../inspect.js');
        const { diffImages, formatDiff } = await import('../image-diff.js');
        if (args.diff !== undefined) {
          const d = diffImages(args.image, args.diff);
          if (args.json) process.stdout.write(`${JSON.stringify(d)}\n`);
          else process.stdout.write(d === null ? 'identical\n' : `${formatDiff(d)}\n`);
          process.exitCode = d === null ? 0 : 1;
          return;
        }
        const summary = inspectImage(args.image);
        process.stdout.write(args.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`);
      },
    )
    .command(
      'root-digest <input>',
      "print the layer's dm-verity root digest as hcsshim ConvertAndComputeRootDigest computes it (whiteouts converted, 128 GiB layout); writes nothing",
      (y) => y.positional('input', { type: 'string', demandOption: true }),
      async (args) => {
        process.stdout.write(`${await computeRootDigest(args.input || '-')}\n`);
      },
    )
    .command(
      'verify <image>',
      'recompute the dm-verity hash tree of an image made with --verity (and check its VHD footer); exits 1 on any mismatch',
      (y) => y
        .positional('image', { type: 'string', demandOption: true })
        .option('root-digest', { type: 'string', description: 'also require this root digest (hex)' }),
      async (args) => {
        const { verifyImage, formatVerification } = await import('../verify.js');
        const result = verifyImage(args.image, args['root-digest']);
        process.stdout.write(`${formatVerification(result)}\n`);
        process.exitCode = result.ok ? 0 : 1;
      },
    )
    .command('driver', DELEGATES.driver.summary!)
    .command('plugin', DELEGATES.plugin.summary!)
    .demandCommand(1, 'name a command: convert, inspect, root-digest or verify')
    .strict()
    .version(false)
    .help()
    .fail((message, err) => {
      throw err ?? new LcowError('USAGE', `${message} (see lcow --help)`);
    })
    .parseAsync();
}

main().catch((err: unknown) => {
  process.stderr.write(`lcow: ${describeFailure(err)}\n`);
  process.exit(exitStatusOf(err));
});
