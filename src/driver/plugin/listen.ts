// Where the plugin listens (spec/driver.md §10.1): a unix socket where dockerd on Linux
// discovers legacy plugins (/run/docker/plugins/<name>.sock), a TCP address for a .spec
// file, or a Windows named pipe. A unix socket left by a crashed instance is replaced;
// one that still answers belongs to a live server and is never taken over.

import net from 'node:net';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { LcowError } from '../../host/errors.js';

export type ListenAddress =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'npipe'; path: string };

export const DEFAULT_UNIX_SOCKET = '/run/docker/plugins/lcow.sock';
export const DEFAULT_NAMED_PIPE = '\\\\.\\pipe\\lcow';

/** How long a probe of an existing socket file may take before it counts as dead. */
const PROBE_TIMEOUT_MS = 2000;

function usage(message: string): LcowError {
  return new LcowError('USAGE', message);
}

/** `\\.\pipe\name` or `//./pipe/name`, as Windows and Docker's npipe URLs spell a pipe. */
function isNamedPipePath(text: string): boolean {
  return /^[\\/]{2}\.[\\/]pipe[\\/][^\\/]+$/i.test(text);
}

/** `--socket PATH`: a unix socket path, or on Windows a named pipe path. */
export function socketAddress(socketPath: string): ListenAddress {
  if (socketPath === '') throw usage('--socket needs a path');
  if (isNamedPipePath(socketPath)) return { kind: 'npipe', path: socketPath.replace(/\//g, '\\') };
  return { kind: 'unix', path: path.resolve(socketPath) };
}

/** `--listen URL`: `tcp://HOST:PORT`, `unix:///PATH` or `npipe:////./pipe/NAME` (the forms of a .spec file). */
export function parseListenUrl(url: string): ListenAddress {
  const scheme = /^([a-z]+):\/\/(.*)$/i.exec(url);
  if (!scheme) throw usage(`--listen ${JSON.stringify(url)}: expected tcp://HOST:PORT, unix:///PATH or npipe:////./pipe/NAME`);
  const rest = scheme[2];
  switch (scheme[1].toLowerCase()) {
    case 'tcp': {
      const hostPort = /^(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(rest);
      const port = hostPort ? Number(hostPort[2]) : NaN;
      if (!hostPort || port > 65535) throw usage(`--listen ${JSON.stringify(url)}: expected tcp://HOST:PORT with a port from 0 to 65535`);
      return { kind: 'tcp', host: hostPort[1].replace(/^\[|\]$/g, ''), port };
    }
    case 'unix':
      if (!rest.startsWith('/')) throw usage(`--listen ${JSON.stringify(url)}: a unix URL needs an absolute path (unix:///run/docker/plugins/lcow.sock)`);
      return { kind: 'unix', path: rest };
    case 'npipe':
      if (!isNamedPipePath(rest)) throw usage(`--listen ${JSON.stringify(url)}: expected npipe:////./pipe/NAME`);
      return { kind: 'npipe', path: rest.replace(/\//g, '\\') };
    default:
      throw usage(`--listen ${JSON.stringify(url)}: unknown scheme ${JSON.stringify(scheme[1])} (tcp, unix or npipe)`);
  }
}

export function defaultAddress(platform: NodeJS.Platform = process.platform): ListenAddress {
  return platform === 'win32' ? { kind: 'npipe', path: DEFAULT_NAMED_PIPE } : { kind: 'unix', path: DEFAULT_UNIX_SOCKET };
}

/** The address as a .spec file or a log line would write it. */
export function formatAddress(address: ListenAddress): string {
  switch (address.kind) {
    case 'unix':
      return `unix://${address.path}`;
    case 'tcp':
      return `tcp://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    case 'npipe':
      return `npipe://${address.path.replace(/\\/g, '/')}`;
  }
}

/** True when something accepts connections on the unix socket at `socketPath`. */
function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect({ path: socketPath });
    const done = (answers: boolean) => {
      probe.destroy();
      resolve(answers);
    };
    probe.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
}

/**
 * Makes way for a unix socket at `socketPath`: creates its folder, and removes a
 * socket file nobody answers on (a crashed instance's). Refuses to touch a live
 * socket or a file that is not a socket.
 */
async function prepareUnixSocket(socketPath: string): Promise<void> {
  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  let stats;
  try {
    stats = await lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stats.isSocket()) {
    throw new LcowError('PLUGIN_ADDRESS_IN_USE', `${socketPath} exists and is not a socket: remove it or choose another --socket`);
  }
  if (await socketAnswers(socketPath)) {
    throw new LcowError('PLUGIN_ADDRESS_IN_USE', `another server is listening on ${socketPath}: stop it or choose another --socket`);
  }
  await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Listens on `address`; resolves to the address actually bound (a TCP port 0 becomes the real port). */
export async function listenOn(server: net.Server, address: ListenAddress): Promise<ListenAddress> {
  if (address.kind === 'unix') await prepareUnixSocket(address.path);
  if (address.kind === 'npipe' && process.platform !== 'win32') {
    throw usage(`${address.path}: named pipes exist only on Windows; use --socket PATH or --listen tcp://HOST:PORT`);
  }
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const code = err.code === 'EADDRINUSE' ? 'PLUGIN_ADDRESS_IN_USE' : 'PLUGIN_LISTEN_FAILED';
      reject(new LcowError(code, `cannot listen on ${formatAddress(address)}: ${err.message}`, { cause: err }));
    };
    server.once('error', failed);
    const listening = () => {
      server.off('error', failed);
      resolve();
    };
    if (address.kind === 'tcp') server.listen(address.port, address.host, listening);
    else server.listen(address.path, listening);
  });
  if (address.kind !== 'tcp') return address;
  const bound = server.address() as net.AddressInfo;
  return { kind: 'tcp', host: address.host, port: bound.port };
}

/** Removes our socket file after the server closed (libuv unlinks it too; a missing file is fine). */
export async function removeSocketFile(address: ListenAddress): Promise<void> {
  if (address.kind !== 'unix') return;
  await unlink(address.path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
