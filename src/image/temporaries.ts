// Files and folders that must not outlive this process: the spool of an image read from
// standard input, and the temporaries that conversion workers have open (a worker thread
// never receives a signal, so the main thread removes them for it). Removed on exit and
// on SIGINT, SIGTERM and SIGHUP, after which the signal is raised again.

import { readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const live = new Set<string>();
/** Outputs being written by a worker: their `.NAME.XXXXXXXX.tmp` siblings are ours too. */
const targets = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let installed = false;

function removeAll(): void {
  for (const path of live) rmSync(path, { recursive: true, force: true });
  live.clear();
  for (const target of targets) {
    // src/host/output.ts names a temporary `.<name>.<8 hex>.tmp` beside its target. A
    // signal can arrive after a worker created one and before its message naming it.
    const pattern = new RegExp(`^\\.${basename(target).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.[0-9a-f]{8}\\.tmp$`);
    let names: string[] = [];
    try {
      names = readdirSync(dirname(target));
    } catch {
      continue;
    }
    for (const name of names) if (pattern.test(name)) rmSync(join(dirname(target), name), { force: true });
  }
  targets.clear();
}

/**
 * Installs the handlers now: call it before creating what `track` will name, or a signal
 * in between finds no handler and its default action leaves the file behind.
 */
export function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', removeAll);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function onSignal(signal: NodeJS.Signals): void {
  removeAll();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  process.kill(process.pid, signal);
}

export function track(path: string): void {
  install();
  live.add(path);
}

/** An output a worker is about to write: its temporaries go on a signal even before the worker names them. */
export function trackTarget(path: string): void {
  install();
  targets.add(path);
}

export function untrackTarget(path: string): void {
  targets.delete(path);
}

/** Forget a path that was renamed into place or removed by its owner. */
export function untrack(path: string): void {
  live.delete(path);
}

/** Remove a path now. */
export function removeTracked(path: string): void {
  rmSync(path, { recursive: true, force: true });
  live.delete(path);
}
