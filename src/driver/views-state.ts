// <dataRoot>/svm/views.json: the service VMs and Gets of the process that owns this data
// root, so that the next process can tell a crash (release everything) from a clean exit
// with views still up (take them over: `lcow driver get` in one process, `put` in the
// next). Written after every change, under a temporary name and renamed.

import { mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { VmRecord } from '../svm/manager.js';
import type { SvmDisk } from '../svm/service-vm.js';

export const VIEWS_STATE_FILE = 'views.json';

export interface ViewsState {
  version: 1;
  /** The process that owns the root, and its instance (one process may open a root again). */
  owner: number;
  instance: string;
  /** Mounts do not outlive a reboot: a state from another boot is stale whatever it says. */
  bootId: string;
  /** Set when the owner ended cleanly, leaving its views up for the next process. */
  handedOver: boolean;
  backend: string;
  globalMode: boolean;
  vms: VmRecord[];
  /** The disks of every outstanding Get, by layer id. */
  gets: Array<[string, SvmDisk[][]]>;
}

export function viewsStatePath(dataRoot: string): string {
  return join(dataRoot, 'svm', VIEWS_STATE_FILE);
}

export function currentBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** The saved state; undefined when there is none or it cannot be read (then it is treated as a crash). */
export function readViewsState(path: string): ViewsState | undefined {
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as ViewsState;
    return state && state.version === 1 && Array.isArray(state.vms) && Array.isArray(state.gets) ? state : undefined;
  } catch {
    return undefined;
  }
}

export function writeViewsState(path: string, state: ViewsState): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${state.owner}.tmp`;
  writeFileSync(temporary, JSON.stringify(state), { mode: 0o600 });
  renameSync(temporary, path);
}

/** Removes the state, and the svm folder when nothing else is in it. */
export function removeViewsState(path: string): void {
  rmSync(path, { force: true });
  try {
    rmdirSync(dirname(path));
  } catch {
    // VM folders are still there, or there was no folder
  }
}

/**
 * Whether `pid` is a running lcow process other than this one. On Linux its command
 * line must name node or lcow, so that a pid reused by an unrelated process does not
 * hold the root.
 */
export function isOtherLiveProcess(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return /node|lcow/i.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc: the process exists, assume it is ours
  }
}
