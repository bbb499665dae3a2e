#!/usr/bin/env node
// Drop-in for hcsshim's cmd/tar2ext4. Flags are parsed exactly as Go's flag package
// parses them (go-flag.ts), with Go's answers: usage and exit 0 for -h/-help, Go's
// error line, the usage and exit 2 for a bad flag, the usage and exit 1 without -o or
// with arguments left over; a conversion error is its message on one line and exit 1.

import { statSync } from 'node:fs';
import { convertTarAs, computeRootDigestAs, type Profile } from '../convert.js';
import { appendVhdFooterTo } from '../vhd.js';
import { createLogger, type LogLevel } from '../log.js';
import { Progress } from '../progress.js';
import { standardInputStats } from '../input.js';
import { parseGoFlags, formatGoUsage, GoFlagError } from './go-flag.js';
import { FLAGS } from './tar2ext4-flags.js';

const PROGRAM = 'tar2ext4';

const usage = (): string => formatGoUsage(PROGRAM, FLAGS);

/** Go's reader waits on a terminal without a word; say what it waits for. */
function hintIfTerminal(input: string): void {
  if (input === '-' && standardInputStats().terminal) {
    process.stderr.write(`${PROGRAM}: reading the tar from standard input, which is a terminal; press Ctrl-D to end it, or give -i FILE\n`);
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseGoFlags(FLAGS, argv);
  } catch (err) {
    if (!(err instanceof GoFlagError)) throw err;
    process.stderr.write(err.help ? usage() : `${err.message}\n${usage()}`);
    return err.help ? 0 : 2;
  }
  const { values, args } = parsed;
  const bool = (name: string) => values.get(name) === true;
  // As hcsshim: "" (the default) is standard input; "-" is taken as standard input too.
  const input = (values.get('i') as string | undefined) || '-';
  const output = (values.get('o') as string | undefined) ?? '';
  let progress: Progress | undefined;
  const log = createLogger((values.get('log-level') as LogLevel | undefined) ?? 'warn', () => progress?.clear());
  const profile = values.get('profile') as Profile | undefined;
  if (bool('digest')) {
    if (args.length !== 0) {
      process.stderr.write(usage());
      return 1;
    }
    hintIfTerminal(input);
    process.stdout.write(`${await computeRootDigestAs(input, { notTar: 'as-go', onNotTar: warn, log }, { profile })}\n`);
    return 0;
  }
  if (args.length !== 0 || output === '') {
    process.stderr.write(usage());
    return 1;
  }
  hintIfTerminal(input);
  if (bool('only-vhd')) {
    const size = await appendVhdFooterTo(input, output);
    log.info({ output, bytes: size }, 'appended VHD footer');
    return 0;
  }
  const maxsize = values.get('maxsize') as bigint | undefined;
  progress = new Progress(PROGRAM, input === '-' ? standardInputStats().size : sizeOf(input));
  const started = Date.now();
  try {
    const result = await convertTarAs(input, output, {
      overlay: bool('overlay'),
      vhd: bool('vhd'),
      inlineData: bool('inline'),
      convertBackslash: bool('convert-slash'),
      maxDiskSize: maxsize === undefined ? undefined : clampDiskSize(maxsize),
      verity: bool('verity'),
      uuidFromContent: bool('uuid-from-content'),
      sync: bool('sync'),
      profile,
      onProgress: (n) => progress?.update(n),
    }, { notTar: 'as-go', onNotTar: warn, log });
    progress.complete();
    log.info({ input, output, ...result, seconds: (Date.now() - started) / 1000 }, 'converted');
    return 0;
  } finally {
    progress.finish();
  }
}

/** hcsshim MaximumDiskSize on Go's int64: past ±16 TiB it means 16 TiB either way (Number is exact below that). */
function clampDiskSize(value: bigint): number {
  const ceiling = 16n << 40n;
  return value < 0n || value > ceiling ? -1 : Number(value);
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined; // the conversion reports it
  }
}

/** What Go's reader takes for an empty archive is converted as it does, with a word on stderr. */
function warn(seen: string): void {
  process.stderr.write(`${PROGRAM}: warning: ${seen}; Go's tar reader sees an empty archive there, so it converts to an empty image\n`);
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (err: unknown) => {
    // hcsshim prints the error text alone on one line and exits 1, whatever the fault.
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${message.replace(/\n/g, ' ')}\n`);
    process.exit(1);
  },
);
