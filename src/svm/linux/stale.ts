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
  /**
   * Loop devices still in use after that: a process outside lcow holds them (a container
   * whose mount namespace has a copy of a view, a losetup of a layer). They detach
   * themselves when it lets go; their sandboxes keep their allocated blocks until then.
   */
  stillMapped: string[];
}

/** How long loop devices get to clear themselves once their mounts are gone. */
const DETACH_WAIT_MS = 2000;

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
    const stillMapped = await waitForLoops(ours, detached.length > 0 || mapped.size > 0 ? DETACH_WAIT_MS : 0);
    const busyFiles = new Set(stillMapped.map((device) => backingFileOf(device)));
    // Sandboxes were grown for their loop devices: give their zero blocks back.
    for (const file of mapped) if (isVhdx(file) && !busyFiles.has(file)) await blocks.releaseZeroBlocks(file);
    removeEmptyTree(svmRoot);
    return { unmounted, detached, stillMapped };
  } catch (err) {
    throw new LcowError('SVM_STALE_RELEASE_FAILED', `lcowdriver: init: cannot release what a previous run left mounted under ${svmRoot}: ${(err as Error).message}`, { cause: err });
  }
}
