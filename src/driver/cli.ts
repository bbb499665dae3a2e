// `lcow driver --root DIR [--storage-opt k=v]... <operation> [arguments]`: every
// graph-driver operation from the command line, one subcommand per operation in kebab
// case. Options before the operation are the driver's (the daemon's --storage-opt);
// options after it are the operation's. Results that have structure are JSON on stdout.
//
// node:util parseArgs rather than yargs: the same option name (--storage-opt) means the
// driver's options before the operation and the layer's after it, which yargs cannot say.

import { parseArgs } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { LcowError } from '../host/errors.js';
import { describeFailure, exitStatusOf } from '../host/cli/failure.js';
import { Driver } from './driver.js';
import { ChangeKind } from './types.js';
import { parseOptionList } from './options.js';

const USAGE = `usage: lcow driver --root DIR [--storage-opt KEY=VALUE]... OPERATION [ARGS]
operations:
  init                                     make the data root (and release what a crashed process left mounted)
  create ID [--parent P]                   a read-only layer folder
  create-read-write ID [--parent P] [--storage-opt lcow.sandboxsize=GB]   a sandbox
  apply-diff ID [--parent P]               tar on stdin -> ID/layer.vhd; prints its size in bytes
  diff ID [--parent P]                     the layer as a tar on stdout
  changes ID [--parent P]                  JSON [{"path","kind"}], kind modify|add|delete
  diff-size ID [--parent P]                bytes the layer adds
  cat ID PATH                              one file of the layer on stdout
  get ID                                   mount the union view; prints its path
  put ID                                   release one get
  exists ID                                prints true or false; exit 0 or 1
  remove ID | status | metadata ID | layer-path ID | cleanup`;

interface Operation {
  /** Positional arguments it takes. */
  arguments: string[];
  options?: Record<string, { type: 'string'; multiple?: boolean }>;
  run(driver: Driver, args: string[], options: Record<string, string | string[] | undefined>): Promise<number | void>;
}

const PARENT = { parent: { type: 'string' as const } };

function write(text: string): void {
  process.stdout.write(text);
}

const KIND_NAMES: Record<ChangeKind, string> = { [ChangeKind.Modify]: 'modify', [ChangeKind.Add]: 'add', [ChangeKind.Delete]: 'delete' };

function refuseTerminal(what: string): void {
  if (process.stdout.isTTY) throw new LcowError('USAGE', `${what} writes a tar to standard output, which is a terminal: redirect it (> layer.tar) or pipe it`);
}

const OPERATIONS: Record<string, Operation> = {
  init: { arguments: [], run: async () => {} },
  create: { arguments: ['ID'], options: PARENT, run: (d, [id], o) => d.create(id, (o.parent as string) ?? '') },
  'create-read-write': {
    arguments: ['ID'],
    options: { ...PARENT, 'storage-opt': { type: 'string', multiple: true } },
    run: (d, [id], o) => d.createReadWrite(id, (o.parent as string) ?? '', { storageOpt: Object.fromEntries(parseOptionList(o['storage-opt'] as string[] | undefined)) }),
  },
  'apply-diff': {
    arguments: ['ID'],
    options: PARENT,
    run: async (d, [id], o) => {
      if (process.stdin.isTTY) throw new LcowError('USAGE', 'apply-diff reads the layer tar from standard input, which is a terminal: lcow driver ... apply-diff ID < layer.tar');
      write(`${await d.applyDiff(id, (o.parent as string) ?? '', process.stdin)}\n`);
    },
  },
  diff: {
    arguments: ['ID'],
    options: PARENT,
    run: async (d, [id], o) => {
      refuseTerminal('diff');
      await pipeline(await d.diff(id, (o.parent as string) ?? ''), process.stdout);
    },
  },
  changes: {
    arguments: ['ID'],
    options: PARENT,
    run: async (d, [id], o) => {
      const changes = await d.changes(id, (o.parent as string) ?? '');
      write(`${JSON.stringify(changes.map((c) => ({ path: c.path, kind: KIND_NAMES[c.kind] })))}\n`);
    },
  },
  'diff-size': { arguments: ['ID'], options: PARENT, run: async (d, [id], o) => write(`${await d.diffSize(id, (o.parent as string) ?? '')}\n`) },
  cat: {
    arguments: ['ID', 'PATH'],
    run: async (d, [id, path]) => {
      const getter = await d.diffGetter(id);
      try {
        await pipeline(await getter.get(path), process.stdout);
      } finally {
        await getter.close();
      }
    },
  },
  get: { arguments: ['ID'], run: async (d, [id]) => write(`${await d.get(id)}\n`) },
  put: { arguments: ['ID'], run: (d, [id]) => d.put(id) },
  exists: {
    arguments: ['ID'],
    run: async (d, [id]) => {
      const exists = await d.exists(id);
      write(`${exists}\n`);
      return exists ? 0 : 1;
    },
  },
  remove: { arguments: ['ID'], run: (d, [id]) => d.remove(id) },
  status: { arguments: [], run: async (d) => write(`${JSON.stringify(await d.status())}\n`) },
  metadata: { arguments: ['ID'], run: async (d, [id]) => write(`${JSON.stringify(await d.getMetadata(id))}\n`) },
  'layer-path': { arguments: ['ID'], run: async (d, [id]) => write(`${d.getLayerPath(id)}\n`) },
  cleanup: { arguments: [], run: (d) => d.cleanup() },
};

function usage(message: string): LcowError {
  return new LcowError('USAGE', `${message} (see lcow driver --help)`);
}

/** Splits the argument list at the operation's name. */
function splitAtOperation(argv: string[]): [string[], string | undefined, string[]] {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--root' || word === '--storage-opt' || word === '--log-level') {
      i++;
      continue;
    }
    if (!word.startsWith('-')) return [argv.slice(0, i), word, argv.slice(i + 1)];
  }
  return [argv, undefined, []];
}

function parse(args: string[], options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usage((err as Error).message.split('\n')[0]);
  }
}

export async function runDriverCli(argv: string[]): Promise<number> {
  try {
    const [driverArgs, name, operationArgs] = splitAtOperation(argv);
    const top = parse(driverArgs, { root: { type: 'string' }, 'storage-opt': { type: 'string', multiple: true }, 'log-level': { type: 'string' }, help: { type: 'boolean', short: 'h' } });
    if (top.values.help || name === 'help' || operationArgs.includes('--help') || operationArgs.includes('-h')) {
      write(`${USAGE}\n`);
      return 0;
    }
    if (name === undefined) throw usage('name an operation');
    const operation = OPERATIONS[name];
    if (!operation) throw usage(`unknown operation ${JSON.stringify(name)}`);
    const root = top.values.root;
    if (typeof root !== 'string' || root === '') throw usage('--root DIR is required: the data root');
    const { values, positionals } = parse(operationArgs, operation.options ?? {});
    if (positionals.length !== operation.arguments.length) {
      throw usage(`${name} takes ${operation.arguments.length === 0 ? 'no arguments' : operation.arguments.join(' ')}`);
    }
    const driver = await Driver.init(root, (top.values['storage-opt'] as string[] | undefined) ?? []);
    return (await operation.run(driver, positionals, values as Record<string, string | string[] | undefined>)) ?? 0;
  } catch (err) {
    process.stderr.write(`lcow driver: ${describeFailure(err)}\n`);
    return exitStatusOf(err);
  }
}
