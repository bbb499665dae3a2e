// `lcow plugin --root DIR [--socket PATH | --listen URL] [--log-level L]`: serves the
// driver to dockerd as a legacy graph-driver plugin until SIGTERM or SIGINT.

import yargs from 'yargs';
import path from 'node:path';
import { LcowError } from '../../host/errors.js';
import { createLogger, LOG_LEVELS, type Log, type LogLevel } from '../../host/log.js';
import { describeFailure, exitStatusOf } from '../../host/cli/failure.js';
import type { GraphDriver } from '../types.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { defaultAddress, formatAddress, listenOn, parseListenUrl, removeSocketFile, socketAddress, type ListenAddress } from './listen.js';
import { PluginServer } from './server.js';

interface PluginArguments {
  root: string;
  address: ListenAddress;
  logLevel: LogLevel;
}

/** The parsed command line, or undefined when it asked for --help (already printed). */
async function parseArguments(argv: string[]): Promise<PluginArguments | undefined> {
  const args = await yargs(argv)
    .scriptName('lcow plugin')
    .usage('$0 --root DIR [--socket PATH | --listen URL]\n\nServe the lcow graph driver to dockerd (dockerd --experimental -s <socket name>).')
    .option('root', { type: 'string', demandOption: true, description: 'the data root: one folder per layer (layer.vhd or sandbox.vhdx)' })
    .option('socket', { type: 'string', description: `unix socket (or \\\\.\\pipe\\NAME on Windows); default ${formatAddress(defaultAddress())}` })
    .option('listen', { type: 'string', description: 'tcp://HOST:PORT, unix:///PATH or npipe:////./pipe/NAME' })
    .conflicts('socket', 'listen')
    .option('log-level', { choices: LOG_LEVELS, default: 'info' as LogLevel, description: 'pino log level (JSON on stderr): one line per request at info' })
    .strict()
    .version(false)
    .help()
    .exitProcess(false)
    .fail((message, err) => {
      throw err ?? new LcowError('USAGE', `${message} (see lcow plugin --help)`);
    })
    .parseAsync();
  if (args.help) return undefined;
  if (args.root === '') throw new LcowError('USAGE', '--root needs a directory');
  let address = defaultAddress();
  if (args.socket !== undefined) address = socketAddress(args.socket);
  if (args.listen !== undefined) address = parseListenUrl(args.listen);
  return { root: path.resolve(args.root), address, logLevel: args['log-level'] as LogLevel };
}

/** The real driver, loaded on the first GraphDriver.Init so that start-up stays quick. */
async function openDriver(root: string, options: string[]): Promise<GraphDriver> {
  const { Driver } = await import('../driver.js');
  return Driver.init(root, options);
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

async function serveUntilSignal(args: PluginArguments, log: Log): Promise<number> {
  const server = new PluginServer({ root: args.root, openDriver, log });
  // The first signal starts an orderly stop; a second one gives up waiting for it.
  let signalled: (signal: NodeJS.Signals) => void = () => undefined;
  let forced: (status: number) => void = () => undefined;
  const firstSignal = new Promise<NodeJS.Signals>((resolve) => {
    signalled = resolve;
  });
  const forcedExit = new Promise<number>((resolve) => {
    forced = resolve;
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) return signalled(signal);
    log.warn({ signal }, 'second signal: exiting without waiting for requests in flight');
    forced(1);
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  try {
    const bound = await listenOn(server.http, args.address);
    log.info({ address: formatAddress(bound), root: args.root, pid: process.pid }, 'listening');
    // The bound address on stdout, for a supervisor that writes a .spec file (a tcp port 0 becomes the real port).
    process.stdout.write(`${formatAddress(bound)}\n`);
    log.info({ signal: await firstSignal }, 'stopping: finishing requests in flight and releasing every view');
    const stopped = server.shutdown().then(
      () => 0,
      (err: unknown) => {
        log.error({ err: describeFailure(err) }, 'releasing the views failed');
        return 1;
      },
    );
    const status = await Promise.race([stopped, forcedExit]);
    await removeSocketFile(bound).catch((err: unknown) => log.warn({ err: describeFailure(err) }, 'cannot remove the socket file'));
    log.info({ status }, 'stopped');
    return status;
  } finally {
    for (const name of STOP_SIGNALS) process.off(name, onSignal);
  }
}

/**
 * Runs `lcow plugin`; `argv` is what follows the word "plugin". Resolves with the exit
 * status once the server has stopped; failures are reported as one line on stderr.
 */
export async function runPluginCli(argv: string[]): Promise<number> {
  let lock: InstanceLock | undefined;
  try {
    const args = await parseArguments(argv);
    if (!args) return 0;
    const log = createLogger(args.logLevel);
    lock = await acquireInstanceLock(args.root);
    return await serveUntilSignal(args, log);
  } catch (err) {
    process.stderr.write(`lcow: ${describeFailure(err)}\n`);
    return exitStatusOf(err);
  } finally {
    await lock?.release();
  }
}
