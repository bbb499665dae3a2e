// What a killed process left behind in one data root: mounts under <dataRoot>/svm/
// (found in mountinfo by path) and loop devices mapping files under <dataRoot>/ (found
// in sysfs by backing file). Only this root's: a path test by whole path elements, so
// /data/lcow2 is not inside /data/lcow.

import { readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { LcowError } from '../../host/errors.js';
import { isVhdx, type SandboxBlocks } from './disk-map.js';
import { MNT_DETACH, SyscallError, umount } from './libc.js';
import { backingFileOf, detachLoop, loopDevices } from './loop.js';
import { isWithin, mountsWithin } from './mountinfo.js';

export interface StaleRelease {
  /** Mount points unmounted, innermost first. */
  unmounted: string[];
  /** Loop devices that were still mapping a file of the data root after the unmounts. */
  detached: string[];
}

/** How long loop devices get to clear themselves once their mounts are gone. */
const DETACH_WAIT_MS = 5000;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Unmounts `mountPoint`; a mount still busy (a process has its cwd there) is detached lazily. */
export function unmountOrDetach(mountPoint: string): void {
  try {
    umount(mountPoint);
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EINVAL') return; // not a mount point (any more)
    if (!(err instanceof SyscallError && err.code === 'EBUSY')) throw err;
    umount(mountPoint, MNT_DETACH);
  }
}

/** Unmounts `mountPoint`, saying what to do when it is busy. */
export function unmountOrFail(mountPoint: string): void {
  try {
    umount(mountPoint);
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EINVAL') return; // not a mount point (any more)
    if (err instanceof SyscallError && err.code === 'EBUSY') {
      throw new LcowError('SVM_VIEW_BUSY', `${err.message}: a process still uses ${mountPoint} (its working directory or an open file); end it, then put again`);
    }
    throw err;
  }
}

/** Waits until no loop device maps a file for which `wanted` is true; returns those still mapped. */
export async function waitForLoops(wanted: (backingFile: string) => boolean, ms = DETACH_WAIT_MS): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = loopDevices().filter((loop) => wanted(loop.backingFile));
    if (left.length === 0 || Date.now() >= deadline) return left.map((loop) => loop.path);
    await sleep(10);
  }
}

/** rmdir of every directory from `directory` down, innermost first; files and busy mount points stay. */
export function removeEmptyTree(directory: string): void {
  let entries;
  try {
    entries = readdirSync(directory, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) if (entry.isDirectory()) removeEmptyTree(join(directory, entry.name));
  try {
    rmdirSync(directory);
  } catch {
    // not empty, or still a mount point: nothing of ours to delete there
  }
}

/** Releases every mount and loop device of `dataRoot` (a real path), as InitDriver does after a crash. */
export async function releaseStale(dataRoot: string, blocks: SandboxBlocks): Promise<StaleRelease> {
  const svmRoot = join(dataRoot, 'svm');
  const mapped = new Set<string>();
  const unmounted: string[] = [];
  try {
    for (const entry of mountsWithin(svmRoot)) {
      const backingFile = entry.source.startsWith('/dev/loop') ? backingFileOf(entry.source) : undefined;
      if (backingFile !== undefined && isWithin(backingFile, dataRoot)) mapped.add(backingFile);
      unmountOrDetach(entry.mountPoint);
      unmounted.push(entry.mountPoint);
    }
    const ours = (file: string) => isWithin(file, dataRoot);
    const detached: string[] = [];
    for (const loop of loopDevices()) {
      if (!ours(loop.backingFile)) continue;
      mapped.add(loop.backingFile);
      // Autoclear devices are gone once unmounted; this catches any other (or sets autoclear on a busy one).
      detachLoop(loop.path);
      detached.push(loop.path);
    }
    const stillMapped = await waitForLoops(ours);
    if (stillMapped.length > 0) {
      throw new LcowError('SVM_STALE_BUSY', `loop devices ${stillMapped.join(', ')} still map files of ${dataRoot}: something outside lcow holds them open`);
    }
    // Sandboxes were grown for their loop devices: give their zero blocks back.
    for (const file of mapped) if (isVhdx(file)) await blocks.releaseZeroBlocks(file);
    removeEmptyTree(svmRoot);
    return { unmounted, detached };
  } catch (err) {
    if (err instanceof LcowError) throw err;
    throw new LcowError('SVM_STALE_RELEASE_FAILED', `lcowdriver: init: cannot release what a previous run left mounted under ${svmRoot}: ${(err as Error).message}`, { cause: err });
  }
}
