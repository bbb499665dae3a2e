#!/usr/bin/env node
// lcow: convert tar layers to layer.vhd images and look inside them. Exit statuses and
// the one-line error format are in failure.ts and the README ("Errors and exit status").

import { readFileSync, statSync } from 'node:fs';
import { convertTarAs, computeRootDigestAs, type Profile } from '../convert.js';
import { createLogger, LOG_LEVELS, type LogLevel, type Log } from '../log.js';
import { Progress } from '../progress.js';
import { LcowError } from '../errors.js';
import { compressionNote, standardInputStats } from '../input.js';
import { ENGINE_MEMORY_MAX, ENGINE_MEMORY_MIN, PROFILES } from '../check-options.js';
import { describeFailure, exitStatusOf } from './failure.js';
import { DELEGATES, SILENT_DELEGATE, loadDelegate } from './dispatch.js';
import { parseCommand, formatCommandHelp, type CommandSpec, type OptionSpec, type ParsedCommand } from './options.js';
import { parseSize } from './size.js';
import { closest } from '../nearest-name.js';

const MAX_DISK_SIZE = { min: 28 * 1024, max: 16 * 2 ** 40 }; // an empty layer's image; hcsshim's 16 TiB ceiling
const ENGINE_MEMORY = { min: ENGINE_MEMORY_MIN, max: ENGINE_MEMORY_MAX };

const PROFILE: OptionSpec = { name: 'profile', kind: 'string', placeholder: 'NAME', choices: PROFILES, defaultText: 'hcsshim', description: "hcsshim: byte-identical to hcsshim's tar2ext4; fixed: the same layout with hcsshim's defects corrected" };

const COMMON: OptionSpec[] = [
  { name: 'log-level', kind: 'string', placeholder: 'LEVEL', choices: LOG_LEVELS, defaultText: 'warn', description: 'pino JSON log lines on stderr; debug adds stages and timings, trace progress samples' },
  { name: 'help', short: 'h', kind: 'boolean', description: 'show this help' },
];

const COMMANDS: CommandSpec[] = [
  {
    name: 'convert',
    positionals: [{ name: 'input', description: `tar file, or "-" for standard input (${compressionNote()}; xz and bzip2 are refused with a hint)` }],
    summary: 'Convert a tar layer into an ext4 image or layer.vhd, byte-identical to hcsshim tar2ext4.',
    options: [
      { name: 'output', short: 'o', kind: 'string', placeholder: 'FILE', description: 'the image to write (required); a file is replaced only on success, a seekable device written in place' },
      { name: 'overlay', kind: 'boolean', description: 'convert OCI whiteouts to overlayfs form' },
      { name: 'vhd', kind: 'boolean', description: 'append a fixed VHD footer (layer.vhd)' },
      { name: 'inline', kind: 'boolean', description: 'store files of at most 136 bytes in their inode' },
      { name: 'convert-backslash', kind: 'boolean', description: 'treat "\\" in names as "/"' },
      { name: 'verity', kind: 'boolean', description: 'append a dm-verity superblock and hash tree (before any VHD footer)' },
      { name: 'uuid-from-content', kind: 'boolean', description: 'derive the VHD and verity ids from the content: the same input gives the same file' },
      { name: 'max-size', kind: 'string', placeholder: 'SIZE', defaultText: '16GiB', description: 'maximum disk size, 28KiB to 16TiB (K/M/G/T and KiB..TiB are powers of 1024, KB..TB of 1000)' },
      { name: 'sync', kind: 'boolean', description: 'flush the image to disk (fsync) before renaming it into place; off by default, as in cp and tar' },
      { name: 'engine-memory', kind: 'string', placeholder: 'SIZE', defaultText: '4GiB', description: "cap on the engine's memory for the layer's metadata, 10MiB to 4GiB" },
      PROFILE,
      ...COMMON,
    ],
  },
  {
    name: 'inspect',
    positionals: [{ name: 'image', description: 'an ext4 image or layer.vhd' }],
    summary: 'Summarise an image (superblock, groups, features, counts, VHD footer, dm-verity), or with --diff name the first difference between two.',
    options: [
      { name: 'diff', kind: 'string', placeholder: 'IMAGE', description: 'compare with this image and name the first differing block and its structure (exit 1 when they differ)' },
      { name: 'json', kind: 'boolean', description: 'print JSON' },
      ...COMMON,
    ],
  },
  {
    name: 'root-digest',
    positionals: [{ name: 'input', description: 'tar file, or "-" for standard input' }],
    summary: "Print the layer's dm-verity root digest as hcsshim ConvertAndComputeRootDigest computes it (whiteouts converted, 128 GiB layout); writes nothing.",
    options: [PROFILE, ...COMMON],
  },
  {
    name: 'verify',
    positionals: [{ name: 'image', description: 'an image made with --verity' }],
    summary: 'Recompute the dm-verity hash tree of an image (and check its VHD footer); exit 1 on any mismatch.',
    options: [
      { name: 'root-digest', kind: 'string', placeholder: 'HEX', description: 'also require this root digest (64 hex digits)' },
      ...COMMON,
    ],
  },
];

const TOP: CommandSpec = {
  name: '',
  positionals: [],
  summary: '',
  options: [{ name: 'version', short: 'V', kind: 'boolean', description: 'print the version' }, ...COMMON],
};

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

function topHelp(): string {
  const lines = ['Usage: lcow <command> [options]', '', 'Commands:'];
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(12)} ${c.summary}`);
  for (const [name, d] of Object.entries(DELEGATES)) if (d.summary) lines.push(`  ${name.padEnd(12)} ${d.summary}`);
  lines.push('', 'Options:', '  -h, --help     show help (lcow <command> --help for a command)', '  -V, --version  print the version', '', 'Exit status: 0 ok, 1 input refused, 2 usage, 3 output not written, 70 a bug in lcow.');
  return `${lines.join('\n')}\n`;
}

function usage(message: string, command = ''): LcowError {
  return new LcowError('USAGE', `${message} (see lcow ${command ? `${command} ` : ''}--help)`);
}

/** Exactly the positionals the command takes. */
function positionalsOf(command: CommandSpec, parsed: ParsedCommand): string[] {
  const want = command.positionals.length;
  const got = parsed.positionals;
  if (got.length < want) throw usage(`lcow ${command.name} needs ${command.positionals.map((p) => `<${p.name}>`).join(' ')}`, command.name);
  if (got.length > want) throw usage(`lcow ${command.name} takes one ${command.positionals[0].name}; unexpected ${JSON.stringify(got[want])}`, command.name);
  const empty = command.positionals.find((_, i) => got[i] === '');
  if (empty) throw usage(`the ${empty.name} path is empty${empty.name === 'input' ? ' (use - for standard input)' : ''}`, command.name);
  return got;
}

function flag(parsed: ParsedCommand, name: string): boolean {
  return parsed.options.get(name) === true;
}

function text(parsed: ParsedCommand, name: string): string | undefined {
  const value = parsed.options.get(name);
  return typeof value === 'string' ? value : undefined;
}

/** Size of the input for the progress bar: a file's, or standard input's when it is a regular file. */
function inputSize(input: string): number | undefined {
  if (input === '-') return standardInputStats().size;
  try {
    return statSync(input).size;
  } catch {
    return undefined; // the conversion reports it
  }
}

/** Reading a tar from a terminal would wait without a word: say so. */
function hintIfTerminal(input: string): void {
  if (input === '-' && standardInputStats().terminal) {
    process.stderr.write('lcow: reading the tar from standard input, which is a terminal; press Ctrl-D to end it, or give a file\n');
  }
}

async function convert(parsed: ParsedCommand, log: Log, progressOf: (total: number | undefined) => Progress): Promise<number> {
  const [input] = positionalsOf(COMMANDS[0], parsed);
  const output = text(parsed, 'output');
  if (output === undefined) throw usage('lcow convert needs -o/--output FILE', 'convert');
  const maxSize = text(parsed, 'max-size');
  const engineMemory = text(parsed, 'engine-memory');
  const options = {
    overlay: flag(parsed, 'overlay'),
    vhd: flag(parsed, 'vhd'),
    inlineData: flag(parsed, 'inline'),
    convertBackslash: flag(parsed, 'convert-backslash'),
    verity: flag(parsed, 'verity'),
    uuidFromContent: flag(parsed, 'uuid-from-content'),
    maxDiskSize: maxSize === undefined ? undefined : parseSize(maxSize, '--max-size', MAX_DISK_SIZE),
    engineMemoryLimit: engineMemory === undefined ? undefined : parseSize(engineMemory, '--engine-memory', ENGINE_MEMORY),
    sync: flag(parsed, 'sync'),
    profile: text(parsed, 'profile') as Profile | undefined,
  };
  hintIfTerminal(input);
  const progress = progressOf(inputSize(input));
  const started = Date.now();
  try {
    const result = await convertTarAs(input, output, { ...options, onProgress: (n) => progress.update(n) }, { notTar: 'refuse', log });
    progress.complete();
    log.info({ input, output, ...result, seconds: (Date.now() - started) / 1000 }, 'converted');
  } finally {
    progress.finish();
  }
  return 0;
}

async function inspect(parsed: ParsedCommand): Promise<number> {
  const [image] = positionalsOf(COMMANDS[1], parsed);
  const other = text(parsed, 'diff');
  const json = flag(parsed, 'json');
  // Loaded on demand: only convert has to start fast.
  const { requireExt4Image, checkImageFile } = await import('../image-file.js');
  if (other !== undefined) {
    const { diffImages, formatDiff } = await import('../image-diff.js');
    checkImageFile(image);
    checkImageFile(other, 'the image to compare with');
    const d = diffImages(image, other);
    process.stdout.write(json ? `${JSON.stringify(d)}\n` : d === null ? 'identical\n' : `${formatDiff(d)}\n`);
    return d === null ? 0 : 1;
  }
  const { inspectImage, formatSummary } = await import('../inspect.js');
  requireExt4Image(image);
  const summary = inspectImage(image);
  process.stdout.write(json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`);
  if (!summary.ext4) throw new LcowError('IMAGE_NOT_EXT4', `${image}: the ext4 superblock or group descriptors cannot be read (${summary.ext4Error ?? 'unknown reason'})`);
  return 0;
}

async function rootDigest(parsed: ParsedCommand): Promise<number> {
  const [input] = positionalsOf(COMMANDS[2], parsed);
  hintIfTerminal(input);
  process.stdout.write(`${await computeRootDigestAs(input, { notTar: 'refuse' }, { profile: text(parsed, 'profile') as Profile | undefined })}\n`);
  return 0;
}

async function verify(parsed: ParsedCommand): Promise<number> {
  const [image] = positionalsOf(COMMANDS[3], parsed);
  const expected = text(parsed, 'root-digest');
  if (expected !== undefined && !/^[0-9a-fA-F]{64}$/.test(expected)) {
    throw usage(`--root-digest must be 64 hex digits (a SHA-256), not ${JSON.stringify(expected)}`, 'verify');
  }
  const { verifyImage, formatVerification } = await import('../verify.js');
  const result = verifyImage(image, expected);
  process.stdout.write(`${formatVerification(result)}\n`);
  return result.ok ? 0 : 1;
}

const RUNNERS: Record<string, (parsed: ParsedCommand, log: Log, progressOf: (total: number | undefined) => Progress) => Promise<number>> = {
  convert,
  inspect,
  'root-digest': rootDigest,
  verify,
};

async function runDelegate(command: string, argv: string[]): Promise<number> {
  if (command !== SILENT_DELEGATE) return (await loadDelegate(command))(argv);
  try {
    return await (await loadDelegate(command))(argv);
  } catch (err) {
    process.stderr.write(err instanceof Error ? err.message : String(err));
    return exitStatusOf(err);
  }
}

/** Delegated commands that `lcow --help` lists (the hidden re-exec child has no summary). */
const PUBLIC_DELEGATES = Object.keys(DELEGATES).filter((name) => DELEGATES[name].summary !== undefined);

function allCommandNames(): string {
  return [...COMMANDS.map((c) => c.name), ...PUBLIC_DELEGATES].join(', ');
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first !== undefined && Object.hasOwn(DELEGATES, first)) return runDelegate(first, rest);
  if (first === 'help') {
    // `lcow help driver` is `lcow driver --help`: the delegate owns its help.
    if (rest[0] !== undefined && PUBLIC_DELEGATES.includes(rest[0])) return runDelegate(rest[0], ['--help']);
    const command = COMMANDS.find((c) => c.name === rest[0]);
    if (rest[0] !== undefined && !command) throw usage(`no help for ${JSON.stringify(rest[0])}: the commands are ${allCommandNames()}`);
    process.stdout.write(command ? formatCommandHelp(command) : topHelp());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) {
    if (first === undefined || first.startsWith('-')) {
      const named = argv.find((word) => COMMANDS.some((c) => c.name === word));
      if (named && !argv.includes('-h') && !argv.includes('--help')) {
        throw usage(`put the command first and its options after it: lcow ${named} ... ${argv.slice(0, argv.indexOf(named)).join(' ')}`);
      }
      const top = parseCommand(TOP, argv);
      if (flag(top, 'version')) {
        process.stdout.write(`lcow ${version()}\n`);
        return 0;
      }
      if (flag(top, 'help')) {
        process.stdout.write(topHelp());
        return 0;
      }
      throw usage(`name a command first: ${COMMANDS.map((c) => c.name).join(', ')}${top.positionals.length ? ` (options go after it: lcow ${top.positionals[0]} ...)` : ''}`);
    }
    const nearest = closest(first, [...COMMANDS.map((c) => c.name), ...PUBLIC_DELEGATES]);
    throw usage(`unknown command ${JSON.stringify(first)}${nearest ? `; did you mean ${nearest}?` : `; the commands are ${allCommandNames()}`}`);
  }
  const parsed = parseCommand(command, rest);
  if (flag(parsed, 'help')) {
    process.stdout.write(formatCommandHelp(command));
    return 0;
  }
  let progress: Progress | undefined;
  const level = (text(parsed, 'log-level') ?? 'warn') as LogLevel;
  const log = createLogger(level, () => progress?.clear());
  const progressOf = (total: number | undefined) => (progress = new Progress(command.name, total));
  return RUNNERS[command.name](parsed, log, progressOf);
}

// process.exit, not exitCode: a refused stream on standard input must not keep the
// process waiting for the writer (stdout and stderr are synchronous on files and pipes).
main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (err: unknown) => {
    process.stderr.write(`lcow: ${describeFailure(err)}\n`);
    process.exit(exitStatusOf(err));
  },
);
