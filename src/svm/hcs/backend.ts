// The hcs backend: service VMs are HCS v1 utility VMs (spec/driver.md §8, windows-host.md
// §a). start() checks the boot options and disks, creates and starts the compute system
// with its boot disks, and terminates it when the start fails; disks are hot added and
// removed with HcsModifyComputeSystem (each disk granted to the VM group first); the guest
// steps of the manager (mkdir, test -d, mount, umount, sync) run as processes in the VM.
// The host cannot see into the VM, so
// hostPathOf() is undefined; the view is reached through the remote file system of §9.

import path, { type PlatformPath } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { commandLineOf, type BackendVm, type GuestDisk, type MountRequest, type ServiceVmBackend, type VmStartConfig } from '../backend.js';
import { grantVmGroupAccess } from '../../host/win32/grant-vm-group-access.js';
import type { HcsApi } from './api.js';
import { bootFilesOf, checkBootDisks, systemTimeoutsOf } from './boot-options.js';
import { ComputeSystem, type SystemTimeouts } from './compute-system.js';
import { createSystemDocument, MAPPED_VIRTUAL_DISK_QUERY, modifyDiskDocument, type MappedVirtualDisk } from './documents.js';
import type { HcsProcess } from './process.js';
import { RemoteFs } from './remotefs/client.js';
import { GuestCommandError, runProcess, startProcess, type RunResult } from './run-process.js';
import { scsiAddressOf, type ScsiAddress } from './scsi-address.js';

export interface HcsBackendSettings {
  /** The HCS surface: vmcompute.dll through koffi, or the in-process fake. */
  api: HcsApi;
  /** The lower-cased lcow.* options (kirdpath, kernel, initrd, bootparameters). */
  options: Map<string, string>;
  env?: NodeJS.ProcessEnv;
  /** Path rules of the host's paths (default: this platform's). */
  paths?: PlatformPath;
  /** File existence for the boot checks (default: fs.existsSync). */
  exists?: (path: string) => boolean;
  /** Create/start waits (default: hcsshim's, from HCSSHIM_TIMEOUT_SYSTEMCREATE/START). */
  timeouts?: SystemTimeouts;
  /**
   * Makes a disk readable by the VM's worker process before it is attached (default:
   * GrantVmGroupAccess on Windows, nothing elsewhere). Every disk gets it, whichever way
   * it was made: the scratch the manager copies from its cache has no grant of its own.
   */
  grant?: (hostPath: string) => Promise<void>;
}

async function defaultGrant(hostPath: string): Promise<void> {
  if (process.platform === 'win32') await grantVmGroupAccess(hostPath);
}

function mappedDisk(disk: GuestDisk): MappedVirtualDisk {
  return { hostPath: disk.hostPath, containerPath: disk.guestPath, readOnly: disk.readOnly, attachOnly: disk.guestPath === '' };
}

export class HcsVm implements BackendVm {
  readonly system: ComputeSystem;
  /** UvmTimeoutSeconds: bounds every guest command's copies and exit wait. */
  readonly timeoutSeconds: number;
  private readonly grant: (hostPath: string) => Promise<void>;

  constructor(system: ComputeSystem, timeoutSeconds: number, grant: (hostPath: string) => Promise<void> = defaultGrant) {
    this.system = system;
    this.timeoutSeconds = timeoutSeconds;
    this.grant = grant;
  }

  async addDisk(disk: GuestDisk): Promise<void> {
    await this.grant(disk.hostPath);
    await this.system.modify(modifyDiskDocument('Add', mappedDisk(disk)));
  }

  async removeDisk(hostPath: string): Promise<void> {
    await this.system.modify(modifyDiskDocument('Remove', { hostPath, containerPath: '', readOnly: false, attachOnly: false }));
  }

  /** Controller and LUN of an attached disk, from the MappedVirtualDisk properties. */
  async scsiAddressOf(hostPath: string): Promise<ScsiAddress> {
    return scsiAddressOf(await this.system.properties(MAPPED_VIRTUAL_DISK_QUERY), hostPath);
  }

  /** Runs one command to its end (§6.5); a non-zero exit throws GuestCommandError. */
  run(commandLine: string, options: { stdin?: Buffer | Readable; stdout?: Writable; callerWantsStderr?: boolean } = {}): Promise<RunResult> {
    return runProcess(this.system, commandLine, { ...options, timeoutSeconds: this.timeoutSeconds, context: commandLine });
  }

  /** Starts a long-lived command (remotefs openfile); the caller closes it. */
  spawn(commandLine: string): Promise<HcsProcess> {
    return startProcess(this.system, commandLine);
  }

  async makeDirectories(guestPath: string): Promise<void> {
    await this.run(`mkdir -p ${guestPath}`, { callerWantsStderr: true });
  }

  async isDirectory(guestPath: string): Promise<boolean> {
    try {
      await this.run(`test -d ${guestPath}`, { callerWantsStderr: true });
      return true;
    } catch (err) {
      if (err instanceof GuestCommandError && err.exitCode === 1) return false;
      throw err;
    }
  }

  async mount(request: MountRequest): Promise<void> {
    await this.run(commandLineOf(request), { callerWantsStderr: true });
  }

  async unmount(guestPath: string): Promise<void> {
    await this.run(`umount ${guestPath}`, { callerWantsStderr: true });
  }

  /** `sync`: the guest's writes reach the disk files the host reads. */
  async flush(_guestPath: string): Promise<void> {
    await this.run('sync', { callerWantsStderr: true });
  }

  hostPathOf(_guestPath: string): string | undefined {
    return undefined;
  }

  /** The remote file system of a union view in this VM (§9). */
  remoteFs(root: string): RemoteFs {
    return new RemoteFs(this, root);
  }

  async terminate(): Promise<void> {
    await this.system.terminate();
  }

  /**
   * The Exited notification, bounded by UvmTimeoutSeconds (the manager's own bound), then
   * the handle is closed either way: closing the last handle also stops a VM that did not
   * exit (TerminateOnLastHandleClosed), and nothing is left waiting on it.
   */
  async waitExited(): Promise<void> {
    try {
      await this.system.waitExited(this.timeoutSeconds);
    } finally {
      await this.system.close();
    }
  }
}

export class HcsBackend implements ServiceVmBackend {
  readonly name = 'hcs';
  /** The reference always gives its utility VMs a scratch disk at /tmp/scratch. */
  readonly usesScratch = true;
  private readonly settings: HcsBackendSettings;

  constructor(settings: HcsBackendSettings) {
    this.settings = settings;
  }

  async start(config: VmStartConfig): Promise<HcsVm> {
    const env = this.settings.env ?? process.env;
    const paths = this.settings.paths ?? path;
    const boot = bootFilesOf({ options: this.settings.options, env, paths, exists: this.settings.exists });
    checkBootDisks(config.disks, this.settings.exists);
    const grant = this.settings.grant ?? defaultGrant;
    for (const disk of config.disks) await grant(disk.hostPath);
    const timeouts = this.settings.timeouts ?? systemTimeoutsOf(env);
    const document = createSystemDocument(config.name, boot, config.disks.map(mappedDisk));
    const system = await ComputeSystem.create(this.settings.api, config.name, document, timeouts);
    try {
      await system.start(timeouts.startSeconds);
    } catch (err) {
      // opengcs: a VM that failed to start is terminated, best effort, and its error is the start's.
      // Closing the last handle also stops it (TerminateOnLastHandleClosed).
      await system.terminate().catch(() => undefined);
      await system.close();
      throw err;
    }
    return new HcsVm(system, config.timeoutSeconds, grant);
  }
}
