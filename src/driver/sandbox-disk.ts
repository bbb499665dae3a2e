// Empty ext4 disks in a dynamic VHDX (spec/driver.md §8.4, CreateExt4Vhdx): the
// sandbox of a read-write layer and the scratch disk of a service VM. The reference
// formats them inside a VM with mkfs.ext4; here the engine writes the same file system
// as mke2fs would and the VHDX writer wraps it, with no VM at all.

import { existsSync } from 'node:fs';
import { LcowError } from '../host/errors.js';
import { copyFileSparse } from '../host/sparse-copy.js';
import { emptyExt4Writes } from '../host/empty-ext4.js';
import { createVhdx } from '../host/vhdx/writer.js';
import { grantVmGroupAccess } from '../host/win32/grant-vm-group-access.js';
import { DEFAULT_SANDBOX_GB } from './options.js';

const GB = 1024 ** 3;

/** As hcsshim does for sandbox and scratch disks: the Hyper-V VM group may read them (windows-host.md §b). */
async function grantOnWindows(path: string): Promise<void> {
  if (process.platform === 'win32') await grantVmGroupAccess(path);
}

/**
 * Writes `dest` as a dynamic VHDX (1 MiB blocks) holding an empty ext4 of `sizeGB` GiB
 * (at least 20). With `cacheFile`, a 20 GB disk is copied from the cache when it
 * exists, and seeds it otherwise.
 */
export async function createExt4Vhdx(dest: string, sizeGB: number, cacheFile?: string): Promise<void> {
  const size = Math.max(sizeGB, DEFAULT_SANDBOX_GB);
  const cached = cacheFile !== undefined && size === DEFAULT_SANDBOX_GB;
  if (cached && existsSync(cacheFile)) {
    try {
      copyFileSparse(cacheFile, dest, true);
    } catch (err) {
      throw new LcowError('DRIVER_DISK_FAILED', `failed to copy cached file '${cacheFile}' to '${dest}': ${(err as Error).message}`, { cause: err });
    }
    await grantOnWindows(dest);
    return;
  }
  const sizeBytes = size * GB;
  try {
    await createVhdx(dest, { virtualSize: sizeBytes, sync: true }, emptyExt4Writes({ sizeBytes }));
  } catch (err) {
    throw new LcowError('DRIVER_DISK_FAILED', `failed to create VHDx ${dest}: ${(err as Error).message}`, { cause: err });
  }
  await grantOnWindows(dest);
  if (cached) {
    try {
      copyFileSparse(dest, cacheFile, true);
    } catch (err) {
      throw new LcowError('DRIVER_DISK_FAILED', `failed to seed cache '${dest}' from '${cacheFile}': ${(err as Error).message}`, { cause: err });
    }
  }
}
