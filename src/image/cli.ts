// `lcow image roothash IMAGE` and `lcow image create IMAGE -o DIR`: dmverity-vhd's two
// commands. Text output is dmverity-vhd's own: hcsshim cmd/dmverity-vhd printed
// "Layer %d root hash: %s" per layer, counting from 0 in manifest order (base first),
// and create prints "Layer VHD created at %s" per layer (integrity-vhd createvhd.go)
// and "hash device created at %s" per hash device (vhd.go). --json is for tools.
// Failures are thrown as LcowError; lcow's front end prints the one line and exits.

import { LcowError } from '../host/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../host/log.js';
import { Progress } from '../host/progress.js';
import { ENGINE_MEMORY_MAX, ENGINE_MEMORY_MIN } from '../host/check-options.js';
import { parseCommand, formatCommandHelp, type CommandSpec, type OptionSpec, type ParsedCommand } from '../host/cli/options.js';
import { parseSize } from '../host/cli/size.js';
import { closest } from '../host/nearest-name.js';
import { createImageVhds, imageRootHashes, type ImageResult } from './image.js';

const IMAGE_ARGUMENT = {
  name: 'image',
  description: 'a docker save archive (.tar or .tar.gz), an OCI image layout directory or tar, or "-" for standard input',
};

const SHARED: OptionSpec[] = [
  { name: 'platform', kind: 'string', placeholder: 'OS/ARCH', description: 'the image to take from a multi-platform index (needed when it holds several)' },
  { name: 'json', kind: 'boolean', description: 'print JSON: per layer its index, diff id, stored digest, sizes, root hash (and files)' },
  { name: 'workers', kind: 'string', placeholder: 'N', defaultText: 'the number of cores', description: 'layers converted at once' },
  { name: 'engine-memory', kind: 'string', placeholder: 'SIZE', defaultText: '4GiB', description: "cap on each conversion's engine memory, 10MiB to 4GiB" },
  { name: 'log-level', kind: 'string', placeholder: 'LEVEL', choices: LOG_LEVELS, defaultText: 'warn', description: 'pino JSON log lines on stderr; info adds a summary' },
  { name: 'help', short: 'h', kind: 'boolean', description: 'show this help' },
];

const ROOTHASH: CommandSpec = {
  name: 'image roothash',
  positionals: [IMAGE_ARGUMENT],
  summary: 'Print the dm-verity root hash of every layer ("Layer N root hash: HEX", base layer 0), as dmverity-vhd roothash; writes nothing.',
  options: SHARED,
};

const CREATE: CommandSpec = {
  name: 'image create',
  positionals: [IMAGE_ARGUMENT],
  summary: 'Write <diff id>.vhd per layer into a directory (ext4, dm-verity tree, VHD footer), as dmverity-vhd create; other files there are left alone.',
  options: [
    { name: 'output', short: 'o', kind: 'string', placeholder: 'DIR', description: 'the directory to write the layer VHDs to (required; created if missing)' },
    { name: 'hash-device', kind: 'boolean', description: 'write each hash tree to <diff id>.hash-dev.vhd instead of appending it (dmverity-vhd -hdv)' },
    { name: 'uuid-from-content', kind: 'boolean', description: 'derive the verity UUIDs and VHD ids from the content: the same image gives the same files' },
    { name: 'sync', kind: 'boolean', defaultText: 'on', description: 'flush each file before renaming it into place (--no-sync skips it)' },
    ...SHARED,
  ],
};

const COMMANDS = [ROOTHASH, CREATE];

function topHelp(): string {
  return [
    'Usage: lcow image <command> <image> [options]',
    '',
    'Layer VHDs and dm-verity root hashes of a whole image, as Microsoft dmverity-vhd computes them',
    '(tar2ext4 with whiteouts converted and a 128 GiB layout; every layer checked against its digests).',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.slice('image '.length).padEnd(10)} ${c.summary}`),
    '',
    'lcow image <command> --help shows its options.',
    '',
  ].join('\n');
}

function usage(message: string, command?: CommandSpec): LcowError {
  return new LcowError('USAGE', `${message} (see lcow ${command ? `${command.name} ` : 'image '}--help)`);
}

function text(parsed: ParsedCommand, name: string): string | undefined {
  const value = parsed.options.get(name);
  return typeof value === 'string' ? value : undefined;
}

function workers(parsed: ParsedCommand, command: CommandSpec): number | undefined {
  const value = text(parsed, 'workers');
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]{0,2}$/.test(value) || Number(value) > 256) throw usage(`--workers must be a whole number from 1 to 256, not ${JSON.stringify(value)}`, command);
  return Number(value);
}

function format(command: CommandSpec, result: ImageResult): string {
  if (command === ROOTHASH) return result.layers.map((l) => `Layer ${l.index} root hash: ${l.rootHash}\n`).join('');
  return result.layers.map((l) => `${l.hashDevice ? `hash device created at ${l.hashDevice}\n` : ''}Layer VHD created at ${l.vhd}\n`).join('');
}

async function runCommand(command: CommandSpec, argv: string[]): Promise<number> {
  const parsed = parseCommand(command, argv);
  if (parsed.options.get('help') === true) {
    process.stdout.write(formatCommandHelp(command));
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    throw usage(parsed.positionals.length === 0 ? `lcow ${command.name} needs an <image>` : `lcow ${command.name} takes one image; unexpected ${JSON.stringify(parsed.positionals[1])}`, command);
  }
  const [image] = parsed.positionals;
  if (image === '') throw usage('the image path is empty (use - for standard input)', command);
  const output = text(parsed, 'output');
  if (command === CREATE && output === undefined) throw usage('lcow image create needs -o/--output DIR', command);
  if (output === '') throw usage('the output directory path is empty', command);
  const engineMemory = text(parsed, 'engine-memory');
  let progress: Progress | undefined;
  const log = createLogger((text(parsed, 'log-level') ?? 'warn') as LogLevel, () => progress?.clear());
  const options = {
    platform: text(parsed, 'platform'),
    workers: workers(parsed, command),
    engineMemoryLimit: engineMemory === undefined ? undefined : parseSize(engineMemory, '--engine-memory', { min: ENGINE_MEMORY_MIN, max: ENGINE_MEMORY_MAX }),
    // The bar appears once the image is read and the bytes to convert are known; Progress draws only on a terminal.
    onProgress: (bytes: number, total: number) => (progress ??= new Progress('image', total)).update(bytes),
  };
  const started = Date.now();
  let result: ImageResult;
  try {
    result = command === ROOTHASH
      ? await imageRootHashes(image, options)
      : await createImageVhds(image, output!, {
        ...options,
        hashDevice: parsed.options.get('hash-device') === true,
        uuidFromContent: parsed.options.get('uuid-from-content') === true,
        sync: parsed.options.get('sync') !== false,
      });
    progress?.complete();
  } finally {
    progress?.finish();
  }
  log.info({ image, format: result.format, platform: result.platform, layers: result.layers.length, seconds: (Date.now() - started) / 1000 }, command === ROOTHASH ? 'root hashes computed' : 'layer VHDs created');
  process.stdout.write(parsed.options.get('json') === true ? `${JSON.stringify(result, null, 2)}\n` : format(command, result));
  return 0;
}

/** `lcow image ...`, dispatched from lcow's front end (src/host/cli/dispatch.ts). */
export async function runImageCli(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || (first === 'help' && rest.length === 0)) {
    process.stdout.write(topHelp());
    return 0;
  }
  const find = (name: string | undefined) => COMMANDS.find((c) => c.name === `image ${name}`);
  if (first === 'help') {
    const command = find(rest[0]);
    if (!command) throw usage(`no help for ${JSON.stringify(rest[0])}: the commands are roothash, create`);
    process.stdout.write(formatCommandHelp(command));
    return 0;
  }
  const command = find(first);
  if (!command) {
    const nearest = closest(first, ['roothash', 'create']);
    throw usage(`unknown command ${JSON.stringify(first)}${nearest ? `; did you mean ${nearest}?` : '; the commands are roothash, create'}`);
  }
  return runCommand(command, rest);
}
