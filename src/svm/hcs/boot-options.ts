// The boot options opengcs reads at every utility-VM start (spec/driver.md §3) and the
// checks its Validate makes before HCS is called: the kernel and initrd files exist, and
// every boot disk exists and has a guest path. Also hcsshim's create/start timeouts.

import { existsSync } from 'node:fs';
import type { PlatformPath } from 'node:path';
import { LcowError } from '../../host/errors.js';
import type { GuestDisk } from '../backend.js';
import type { BootFiles } from './documents.js';
import type { SystemTimeouts } from './compute-system.js';

export interface BootContext {
  options: Map<string, string>;
  env: NodeJS.ProcessEnv;
  /** path.win32 on Windows; the tests on Linux use path.posix with Linux files. */
  paths: PlatformPath;
  exists?: (path: string) => boolean;
}

/** `%ProgramFiles%\Linux Containers`. */
export function defaultKirdPath(env: NodeJS.ProcessEnv, paths: PlatformPath): string {
  return paths.join(env.ProgramFiles ?? env.PROGRAMFILES ?? 'C:\\Program Files', 'Linux Containers');
}

function invalid(message: string): LcowError {
  return new LcowError('SVM_BOOT_FILES_MISSING', message);
}

/** lcow.kirdpath, lcow.kernel, lcow.initrd, lcow.bootparameters, with the boot files checked. */
export function bootFilesOf(context: BootContext): BootFiles {
  const { options, env, paths } = context;
  const exists = context.exists ?? existsSync;
  const imagePath = options.get('lcow.kirdpath') || defaultKirdPath(env, paths);
  const kernelFile = options.get('lcow.kernel') || 'kernel';
  const initrdFile = options.get('lcow.initrd') || 'initrd.img';
  const kernel = paths.join(imagePath, kernelFile);
  if (!exists(kernel)) throw invalid(`kernel '${kernel}' not found`);
  const initrd = paths.join(imagePath, initrdFile);
  if (!exists(initrd)) throw invalid(`initrd '${initrd}' not found`);
  return { imagePath, kernelFile, initrdFile, bootParameters: options.get('lcow.bootparameters') ?? '' };
}

/** opengcs Validate's checks of the boot disks. */
export function checkBootDisks(disks: readonly GuestDisk[], exists: (path: string) => boolean = existsSync): void {
  for (const disk of disks) {
    if (!exists(disk.hostPath)) throw new LcowError('SVM_DISK_MISSING', `mapped virtual disk '${disk.hostPath}' not found`);
    if (disk.guestPath === '') throw new LcowError('SVM_DISK_MISSING', `mapped virtual disk '${disk.hostPath}' requested without a container path`);
  }
}

const DEFAULT_SYSTEM_TIMEOUT_SECONDS = 4 * 60;

/** hcsshim's durationFromEnvironment: a positive integer of seconds, anything else ignored. */
function secondsFrom(env: NodeJS.ProcessEnv, name: string): number {
  const value = Number.parseInt(env[name] ?? '', 10);
  return /^[+]?[0-9]+$/.test(env[name] ?? '') && value > 0 ? value : DEFAULT_SYSTEM_TIMEOUT_SECONDS;
}

export function systemTimeoutsOf(env: NodeJS.ProcessEnv): SystemTimeouts {
  return { createSeconds: secondsFrom(env, 'HCSSHIM_TIMEOUT_SYSTEMCREATE'), startSeconds: secondsFrom(env, 'HCSSHIM_TIMEOUT_SYSTEMSTART') };
}
