// One plugin per data root: two servers on one root would each hold their own views and
// locks and corrupt each other's layers. The lock is a pid file created with O_EXCL; a
// file whose process is gone (a crash, a reboot) is stale and replaced.

import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { LcowError } from '../../host/errors.js';

/** In the data root beside the layer folders; layer ids are hex, so the name cannot collide. */
export const PID_FILE_NAME = 'plugin.pid';

export interface InstanceLock {
  readonly pidFile: string;
  release(): Promise<void>;
}

/** A starting instance creates the file and then writes its pid: give it this long. */
const PID_WRITE_GRACE_MS = 200;

/** The pid recorded in the file, or undefined when it holds no number (a crash between create and write). */
async function recordedPid(pidFile: string): Promise<number | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

async function recordedPidAfterGrace(pidFile: string): Promise<number | undefined> {
  const pid = await recordedPid(pidFile);
  if (pid !== undefined) return pid;
  await new Promise((resolve) => setTimeout(resolve, PID_WRITE_GRACE_MS));
  return recordedPid(pidFile);
}

/**
 * Whether `pid` is a running lcow plugin. Signal 0 tells whether the process exists;
 * on Linux its command line must also mention lcow or the plugin, because after a
 * reboot a recorded pid is often reused by an unrelated process.
 */
async function isLivePlugin(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (process.platform !== 'linux') return true;
  const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (commandLine === undefined) return true;
  return /lcow|plugin/i.test(commandLine);
}

async function createPidFile(pidFile: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(pidFile, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new LcowError('PLUGIN_LOCK_FAILED', `cannot create ${pidFile}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
  } finally {
    await handle.close();
  }
  return true;
}

/** Takes the data root for this process, or refuses with PLUGIN_ALREADY_RUNNING. */
export async function acquireInstanceLock(root: string): Promise<InstanceLock> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const pidFile = path.join(root, PID_FILE_NAME);
  if (!(await createPidFile(pidFile))) {
    const pid = await recordedPidAfterGrace(pidFile);
    if (pid !== undefined && pid !== process.pid && (await isLivePlugin(pid))) {
      throw new LcowError('PLUGIN_ALREADY_RUNNING', `another lcow plugin (pid ${pid}) is serving ${root}: stop it first, or use another --root`);
    }
    await unlink(pidFile).catch(() => undefined);
    // Two instances replacing the same stale file: O_EXCL lets exactly one of them win.
    if (!(await createPidFile(pidFile))) {
      throw new LcowError('PLUGIN_ALREADY_RUNNING', `another lcow plugin started on ${root} at the same moment: stop it first, or use another --root`);
    }
  }
  return {
    pidFile,
    async release() {
      // Remove the file only while it is still ours.
      if ((await recordedPid(pidFile)) === process.pid) await unlink(pidFile).catch(() => undefined);
    },
  };
}
