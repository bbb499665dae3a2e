// Test helpers for the graph-driver plugin: a client that speaks to it as dockerd's
// plugin client does (POST, the v1.2 Accept header, Go's JSON with a trailing newline),
// and a launcher for `lcow plugin` as a child process that is always stopped by pid.
// No side effects on import.

import http from 'node:http';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO } from './corpus.js';

export const PLUGIN_ACCEPT = 'application/vnd.docker.plugins.v1.2+json';
const LCOW = path.join(REPO, 'dist/host/cli/lcow.js');

/** Where to send requests: { socketPath } or { host, port }. */
function target(address) {
  if (address.startsWith('unix://')) return { socketPath: address.slice('unix://'.length) };
  const tcp = /^tcp:\/\/(.+):(\d+)$/.exec(address);
  if (tcp) return { host: tcp[1], port: Number(tcp[2]) };
  return { socketPath: address };
}

/**
 * One call. `body` is an object (sent as Go's encoder writes it), a Buffer, a Readable
 * (sent chunked, as SendFile does) or undefined (empty body, as Plugin.Activate).
 * Resolves to { status, headers, raw, json } once the response has ended.
 */
export function call(address, endpoint, body, { timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request({
      ...target(address),
      method: 'POST',
      path: `/${endpoint}`,
      headers: { Accept: PLUGIN_ACCEPT, ...(body?.pipe ? { 'Transfer-Encoding': 'chunked' } : {}) },
      timeout: timeoutMs,
    });
    request.once('timeout', () => request.destroy(new Error(`${endpoint}: no answer within ${timeoutMs} ms`)));
    request.once('error', reject);
    request.once('response', (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.once('error', reject);
      response.once('aborted', () => reject(new Error(`${endpoint}: response aborted`)));
      response.once('end', () => {
        const raw = Buffer.concat(chunks);
        let json;
        if (/json/.test(response.headers['content-type'] ?? '')) json = JSON.parse(raw.toString('utf8'));
        resolve({ status: response.statusCode, headers: response.headers, raw, json });
      });
    });
    if (body === undefined) request.end();
    else if (Buffer.isBuffer(body)) request.end(body);
    else if (body.pipe) body.pipe(request);
    else request.end(`${JSON.stringify(body)}\n`);
  });
}

/** A call whose response body is returned as a stream (Diff): resolves at the status line. */
export function callStreaming(address, endpoint, body) {
  return new Promise((resolve, reject) => {
    const request = http.request({ ...target(address), method: 'POST', path: `/${endpoint}`, headers: { Accept: PLUGIN_ACCEPT } });
    request.once('error', reject);
    request.once('response', resolve);
    request.end(`${JSON.stringify(body)}\n`);
  });
}

/** The command that runs `lcow plugin ARGS`, as a user or a service unit runs it. */
export function pluginCommand(args) {
  return [process.execPath, [LCOW, 'plugin', ...args]];
}

/** Runs `lcow plugin` to completion (for refusals): { status, stdout, stderr }. */
export function runPlugin(args, { timeoutMs = 20_000 } = {}) {
  const [command, argv] = pluginCommand(args);
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lcow plugin ${args.join(' ')} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/**
 * Starts `lcow plugin ARGS` and waits until it prints its address. Returns
 * { child, pid, address, logs(), stop(signal) }; stop() signals this pid only, waits for
 * the exit (SIGKILL after `stopTimeoutMs`) and resolves to { status, signal }.
 */
export async function startPlugin(args, { startTimeoutMs = 20_000, stopTimeoutMs = 90_000, env } = {}) {
  const [command, argv] = pluginCommand(args);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', (status, signal) => resolve({ status, signal })));
  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lcow plugin did not listen within ${startTimeoutMs} ms; stderr: ${stderr}`));
    }, startTimeoutMs);
    child.stdout.on('data', (d) => {
      stdout += d;
      const newline = stdout.indexOf('\n');
      if (newline >= 0) {
        clearTimeout(timer);
        resolve(stdout.slice(0, newline));
      }
    });
    exited.then(({ status, signal }) => {
      clearTimeout(timer);
      reject(new Error(`lcow plugin exited (${status ?? signal}) before listening; stderr: ${stderr}`));
    });
  });
  let stopping;
  return {
    child,
    pid: child.pid,
    address,
    exited,
    /** The pino lines written so far, parsed. */
    logs: () => stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line)),
    stderr: () => stderr,
    stop(signal = 'SIGTERM') {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return exited;
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}
