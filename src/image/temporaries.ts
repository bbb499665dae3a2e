// Files and folders that must not outlive this process: the spool of an image read from
// standard input, and the temporaries that conversion workers have open (a worker thread
// never receives a signal, so the main thread removes them for it). Removed on exit and
// on SIGINT, SIGTERM and SIGHUP, after which the signal is raised again.

import { rmSync } from 'node:fs';

const live = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let installed = false;

function removeAll(): void {
  for (const path of live) rmSync(path, { recursive: true, force: true });
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  removeAll();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  process.kill(process.pid, signal);
}

export function track(path: string): void {
  if (!installed) {
    installed = true;
    process.on('exit', removeAll);
    for (const s of SIGNALS) process.on(s, onSignal);
  }
  live.add(path);
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
