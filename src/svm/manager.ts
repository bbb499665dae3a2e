// The service-VM manager (spec/driver.md §4–6): the map of running service VMs keyed by
// vmID, their reference counts, safe and global modes, starting or reusing a VM with
// disks, hot add and remove with short guest paths, union mounts, the scratch disk and
// termination. Every rule and error text of the reference lives here; the backend
// (backend.ts) only carries out single steps.
//
// Where we differ from the reference, on purpose:
//   - A caller whose start fails (its own start, or the start it waited for) does not
//     keep the reference it took: the reference leaked it and left a zombie entry.
//   - In global mode a failed start evicts the entry (the reference kept it, so every
//     later operation failed with the old error until Cleanup).
//   - A disk already attached read-only is not reused for a read-write request (its
//     upper directory could not be written); that request fails with its own error.

import { existsSync, rmSync } from 'node:fs';
import { copyFileSparse } from '../host/sparse-copy.js';
import { join } from 'node:path';
import { LcowError } from '../host/errors.js';
import { commandLineOf, type BackendVm, type GuestDisk, type MountRequest, type ServiceVmBackend } from './backend.js';
import { Mutex } from './mutex.js';
import { uvmTimeoutSeconds } from './options.js';
import { ServiceVm, type AttachedVhd, type SvmDisk } from './service-vm.js';
import { asError, messageOf, wrapError } from './wrap-error.js';

export const GLOBAL_VM_ID = '_lcow_global_svm_';
export const SCRATCH_GUEST_PATH = '/tmp/scratch';
/** HCS_E_OPERATION_PENDING: a terminate that is still under way counts as success (§5.4). */
export const HCS_OPERATION_PENDING = 0xc0370103;

export interface ManagerSettings {
  dataRoot: string;
  globalMode: boolean;
  /** The lower-cased lcow.* options, parsed again at every start as opengcs does. */
  options: Map<string, string>;
  env?: NodeJS.ProcessEnv;
  backend: ServiceVmBackend;
  /** Writes an empty ext4 scratch disk at `path` (§8.4); needed when the backend uses scratch disks. */
  createScratch?: (path: string) => Promise<void>;
}

type MapEntry = { svm: ServiceVm; refCount: number };

/** A running VM's bookkeeping, as saved for the next process on this data root (views.ts). */
export interface VmRecord {
  vmId: string;
  refCount: number;
  attachCounter: number;
  timeoutSeconds: number;
  attachedVhds: Array<[string, AttachedVhd]>;
  unionMounts: Array<[string, number]>;
}
type RefResult =
  | { kind: 'unknown' }
  | { kind: 'terminating'; svm: ServiceVm }
  | { kind: 'ok'; svm: ServiceVm; lastRef: boolean };

/** `/tmp/<layerID>-mount`: the union mount keeps the long form (§6.4). */
export function unionMountName(disks: readonly SvmDisk[]): string {
  if (disks.length === 0) throw new LcowError('SVM_NO_LAYERS', 'createUnionMount: error must have at least 1 layer');
  return `${disks[0].containerPath}-mount`;
}

export class ServiceVmManager {
  readonly globalMode: boolean;
  readonly backend: ServiceVmBackend;
  private readonly settings: ManagerSettings;
  private readonly vms = new Map<string, MapEntry>();
  private readonly scratchCache = new Mutex();

  constructor(settings: ManagerSettings) {
    if (settings.backend.usesScratch && !settings.createScratch) {
      throw new LcowError('SVM_INTERNAL', `the ${settings.backend.name} backend needs scratch disks but no scratch writer was given`);
    }
    this.settings = settings;
    this.globalMode = settings.globalMode;
    this.backend = settings.backend;
  }

  vmIdOf(id: string): string {
    return this.globalMode ? GLOBAL_VM_ID : id;
  }

  /** The vmIDs in the map, terminating ones included. */
  vmIds(): string[] {
    return [...this.vms.keys()];
  }

  /** The VMs that are up (started, referenced), to be taken over by another process. */
  snapshot(): VmRecord[] {
    return [...this.vms.values()]
      .filter(({ svm, refCount }) => refCount > 0 && svm.started.hasFired && !svm.started.firedError && svm.vm)
      .map(({ svm, refCount }) => ({
        vmId: svm.vmId,
        refCount,
        attachCounter: svm.attachCounter,
        timeoutSeconds: svm.timeoutSeconds,
        attachedVhds: [...svm.attachedVhds].map(([hostPath, attached]) => [hostPath, { ...attached }]),
        unionMounts: [...svm.unionMounts],
      }));
  }

  /** Takes over a VM that an earlier process on this data root left running. */
  adopt(record: VmRecord, vm: BackendVm): void {
    if (this.vms.has(record.vmId)) throw new LcowError('SVM_INTERNAL', `service VM ${record.vmId} is already in the map`);
    const svm = new ServiceVm(record.vmId);
    svm.attachCounter = record.attachCounter;
    svm.timeoutSeconds = record.timeoutSeconds;
    for (const [hostPath, attached] of record.attachedVhds) svm.attachedVhds.set(hostPath, { ...attached });
    for (const [name, refs] of record.unionMounts) svm.unionMounts.set(name, refs);
    svm.vm = vm;
    svm.started.fire();
    this.vms.set(record.vmId, { svm, refCount: record.refCount });
  }

  // ---- the map (§5.2); synchronous, so nothing interleaves with it ----

  private add(vmId: string): { svm: ServiceVm; existed: boolean; terminating: boolean } {
    const entry = this.vms.get(vmId);
    if (!entry) {
      const svm = new ServiceVm(vmId);
      this.vms.set(vmId, { svm, refCount: 1 });
      return { svm, existed: false, terminating: false };
    }
    if (entry.refCount === 0) return { svm: entry.svm, existed: true, terminating: true };
    entry.refCount += 1;
    return { svm: entry.svm, existed: true, terminating: false };
  }

  private decrementRefCount(vmId: string): RefResult {
    const entry = this.vms.get(vmId);
    if (!entry) return { kind: 'unknown' };
    if (entry.refCount === 0) return { kind: 'terminating', svm: entry.svm };
    entry.refCount -= 1;
    return { kind: 'ok', svm: entry.svm, lastRef: entry.refCount === 0 };
  }

  private setRefCountZero(vmId: string): RefResult {
    const entry = this.vms.get(vmId);
    if (!entry) return { kind: 'unknown' };
    if (entry.refCount === 0) return { kind: 'terminating', svm: entry.svm };
    entry.refCount = 0;
    return { kind: 'ok', svm: entry.svm, lastRef: true };
  }

  /**
   * The map's get (§5.2), as Put uses it (§7.6): undefined when no such VM runs; waits
   * for a VM being stopped and rethrows its stop error.
   */
  async lookup(id: string): Promise<ServiceVm | undefined> {
    const entry = this.vms.get(this.vmIdOf(id));
    if (!entry) return undefined;
    if (entry.refCount === 0) {
      const stopError = await entry.svm.stopped.wait();
      if (stopError) throw stopError;
      return undefined;
    }
    return entry.svm;
  }

  // ---- start (§5.3) ----

  /** Starts the VM for `id`, or reuses it, with `disks` attached; takes one reference. */
  async startServiceVmIfNotRunning(id: string, disks: SvmDisk[], context: string): Promise<ServiceVm> {
    const vmId = this.vmIdOf(id);
    const title = `lcowdriver: startServiceVMIfNotRunning ${vmId}:`;
    for (;;) {
      const added = this.add(vmId);
      if (added.terminating) {
        const stopError = await added.svm.stopped.wait();
        if (stopError) throw stopError;
        continue;
      }
      if (!added.existed) return this.startFirst(added.svm, disks, context, title);
      try {
        await this.hotAddVhds(added.svm, disks);
      } catch (err) {
        await this.terminateServiceVm(vmId, context, false).catch(() => undefined);
        throw wrapError(codeOf(err, 'SVM_HOT_ADD_FAILED'), `${title} failed to hot add vhds on service vm`, err);
      }
      return added.svm;
    }
  }

  private async startFirst(svm: ServiceVm, disks: SvmDisk[], context: string, title: string): Promise<ServiceVm> {
    try {
      await this.bootAndPrepare(svm, disks, context, title);
    } catch (err) {
      const error = asError(err);
      if (svm.vm) await this.stopVm(svm, context).catch(() => undefined);
      svm.started.fire(error);
      // Drops the reference just taken; in global mode forced, so the failed entry leaves the map.
      await this.terminateServiceVm(svm.vmId, 'error path on startServiceVMIfNotRunning', this.globalMode).catch(() => undefined);
      throw error;
    }
    svm.started.fire();
    return svm;
  }

  private async bootAndPrepare(svm: ServiceVm, disks: SvmDisk[], context: string, title: string): Promise<void> {
    try {
      svm.timeoutSeconds = uvmTimeoutSeconds(this.settings.options, this.settings.env);
    } catch (err) {
      throw wrapError('SVM_INVALID_OPTION', `${title} failed to generate default gogcs configuration for global svm (${context})`, err);
    }
    const name = svm.vmId === GLOBAL_VM_ID ? GLOBAL_VM_ID : `${svm.vmId}_svm`;
    const scratch = this.scratchDiskOf(svm);
    const boot: GuestDisk[] = [];
    if (this.backend.usesScratch) {
      await this.scratchCache.run(async () => {
        if (!existsSync(this.scratchCachePath)) return;
        copyFileSparse(this.scratchCachePath, scratch.hostPath);
        boot.push(this.record(svm, scratch));
        svm.scratchAttached = true;
      });
    }
    for (const disk of disks) {
      const attached = svm.attachedVhds.get(disk.hostPath);
      if (attached) attached.refCount += 1; // the same disk twice in one request
      else boot.push(this.record(svm, disk));
    }
    try {
      svm.vm = await this.backend.start({ vmId: svm.vmId, name, disks: boot, timeoutSeconds: svm.timeoutSeconds });
    } catch (err) {
      svm.attachedVhds.clear();
      throw wrapError(codeOf(err, 'SVM_START_FAILED'), `failed to start service utility VM (${context})`, err);
    }
    if (!this.backend.usesScratch) return;
    try {
      await this.scratchCache.run(async () => {
        if (existsSync(this.scratchCachePath)) return;
        await this.settings.createScratch!(scratch.hostPath);
        copyFileSparse(scratch.hostPath, this.scratchCachePath);
      });
    } catch (err) {
      throw wrapError('SVM_SCRATCH_FAILED', `failed to create SVM scratch VHDX (${context})`, err);
    }
    if (!svm.scratchAttached) {
      try {
        await this.hotAddVhdsAtStart(svm, [scratch]);
      } catch (err) {
        throw wrapError('SVM_SCRATCH_FAILED', `failed to hot-add ${scratch.hostPath} failed`, err);
      }
      svm.scratchAttached = true;
    }
  }

  private get scratchCachePath(): string {
    return join(this.settings.dataRoot, 'cache', 'scratch.vhdx');
  }

  private scratchDiskOf(svm: ServiceVm): SvmDisk {
    const hostPath = join(this.settings.dataRoot, 'scratch', `${svm.vmId}.vhdx`);
    return { hostPath, containerPath: SCRATCH_GUEST_PATH, readOnly: false, sandbox: false };
  }

  /** Takes the next attach counter for `disk` and records it attached once (§5.3 step 4). */
  private record(svm: ServiceVm, disk: SvmDisk): GuestDisk {
    svm.attachCounter += 1;
    const guestPath = guestPathOf(disk, svm.attachCounter);
    svm.attachedVhds.set(disk.hostPath, { refCount: 1, attachCounter: svm.attachCounter, readOnly: disk.readOnly, guestPath });
    return { hostPath: disk.hostPath, guestPath, readOnly: disk.readOnly };
  }

  // ---- terminate (§5.4) ----

  /** Drops one reference (or all, with `force`); the last one stops the VM. No-op in global mode unless forced. */
  async terminateServiceVm(id: string, context: string, force: boolean): Promise<void> {
    if (this.globalMode && !force) return;
    const vmId = this.vmIdOf(id);
    const result = force ? this.setRefCountZero(vmId) : this.decrementRefCount(vmId);
    if (result.kind === 'unknown') return;
    if (result.kind === 'terminating') {
      const stopError = await result.svm.stopped.wait();
      if (stopError) throw stopError;
      return;
    }
    if (!result.lastRef) return;
    const svm = result.svm;
    let finalError: Error | undefined;
    try {
      // A start still under way finishes first: its result decides what there is to stop.
      const startError = await svm.started.wait();
      if (startError) finalError = startError;
      else await this.stopVm(svm, context);
    } catch (err) {
      finalError = asError(err);
    }
    if (svm.scratchAttached) {
      try {
        rmSync(this.scratchDiskOf(svm).hostPath, { force: true });
      } catch (err) {
        finalError = asError(err);
      }
    }
    this.vms.delete(vmId);
    svm.stopped.fire(finalError);
    if (finalError) throw finalError;
  }

  private async stopVm(svm: ServiceVm, context: string): Promise<void> {
    const vm = svm.vm;
    if (!vm) throw new LcowError('SVM_NO_VM', `lcowdriver: waitTermiante: Nil utility VM. ${context}`);
    try {
      await vm.terminate();
    } catch (err) {
      if ((err as { hresult?: number }).hresult !== HCS_OPERATION_PENDING) {
        throw wrapError(codeOf(err, 'SVM_TERMINATE_FAILED'), `failed to terminate utility VM (${context})`, err);
      }
    }
    try {
      await withTimeout(vm.waitExited(), svm.timeoutSeconds);
    } catch (err) {
      throw wrapError(codeOf(err, 'SVM_TERMINATE_FAILED'), `failed waiting for utility VM to terminate (${context})`, err);
    }
  }

  /** Cleanup (§7.11): force-terminates every VM in the map, ignoring errors. */
  async cleanup(): Promise<void> {
    await Promise.all(this.vmIds().map((vmId) => this.terminateServiceVm(vmId, 'cleanup', true).catch(() => undefined)));
  }

  // ---- disks (§6.1–6.3) ----

  /** `/tmp/d<counter>` of an attached disk; empty when it is not attached or has no guest path (§6.1). */
  shortPath(svm: ServiceVm, disk: SvmDisk): string {
    const attached = svm.attachedVhds.get(disk.hostPath);
    if (!attached || disk.containerPath === '') return '';
    return guestPathOf(disk, attached.attachCounter);
  }

  async hotAddVhds(svm: ServiceVm, disks: SvmDisk[]): Promise<void> {
    const startError = await svm.started.wait();
    if (startError) throw startError;
    await this.hotAddVhdsAtStart(svm, disks);
  }

  private async hotAddVhdsAtStart(svm: ServiceVm, disks: SvmDisk[]): Promise<void> {
    await svm.lock.run(async () => {
      const done: SvmDisk[] = [];
      for (const disk of disks) {
        try {
          await this.hotAddOne(svm, disk);
        } catch (err) {
          await this.hotRemoveLocked(svm, done).catch(() => undefined);
          throw err;
        }
        done.push(disk);
      }
    });
  }

  private async hotAddOne(svm: ServiceVm, disk: SvmDisk): Promise<void> {
    const attached = svm.attachedVhds.get(disk.hostPath);
    if (attached) {
      if (attached.readOnly && !disk.readOnly) {
        throw new LcowError('SVM_DISK_READ_ONLY', `${disk.hostPath} is attached read-only to service VM ${svm.vmId} and cannot be used read-write there as well`);
      }
      attached.refCount += 1;
      return;
    }
    svm.attachCounter += 1;
    const guestPath = guestPathOf(disk, svm.attachCounter);
    try {
      await vmOf(svm).addDisk({ hostPath: disk.hostPath, guestPath, readOnly: disk.readOnly });
    } catch (err) {
      throw wrapError(codeOf(err, 'SVM_HOT_ADD_FAILED'), 'failed to modify utility VM configuration for hot-add', err);
    }
    svm.attachedVhds.set(disk.hostPath, { refCount: 1, attachCounter: svm.attachCounter, readOnly: disk.readOnly, guestPath });
  }

  async hotRemoveVhds(svm: ServiceVm, disks: SvmDisk[]): Promise<void> {
    const startError = await svm.started.wait();
    if (startError) throw startError;
    await svm.lock.run(() => this.hotRemoveLocked(svm, disks));
  }

  private async hotRemoveLocked(svm: ServiceVm, disks: SvmDisk[]): Promise<void> {
    let firstError: Error | undefined;
    for (const disk of disks) {
      const attached = svm.attachedVhds.get(disk.hostPath);
      if (!attached) continue; // Get is lazy: Put may name disks that were never added
      if (attached.refCount > 1) {
        attached.refCount -= 1;
        continue;
      }
      try {
        await vmOf(svm).removeDisk(disk.hostPath);
        svm.attachedVhds.delete(disk.hostPath);
      } catch (err) {
        firstError ??= wrapError(codeOf(err, 'SVM_HOT_REMOVE_FAILED'), `failed modifying utility VM for hot-remove ${disk.hostPath}`, err);
      }
    }
    if (firstError) throw firstError;
  }

  /** Makes what was written to `hostPath` through any VM that has it attached read-write reach the file. */
  async flushDisk(hostPath: string): Promise<void> {
    for (const { svm, refCount } of [...this.vms.values()]) {
      if (refCount === 0 || !svm.started.hasFired || svm.started.firedError) continue;
      await svm.lock.run(async () => {
        const attached = svm.attachedVhds.get(hostPath);
        if (attached && !attached.readOnly && attached.guestPath !== '') await vmOf(svm).flush(attached.guestPath);
      });
    }
  }

  // ---- union mounts (§6.4) ----

  async createUnionMount(svm: ServiceVm, name: string, disks: SvmDisk[]): Promise<void> {
    if (disks.length === 0) throw new LcowError('SVM_NO_LAYERS', 'createUnionMount: error must have at least 1 layer');
    const startError = await svm.started.wait();
    if (startError) throw startError;
    await svm.lock.run(async () => {
      const refs = svm.unionMounts.get(name);
      if (refs !== undefined) {
        svm.unionMounts.set(name, refs + 1);
        return;
      }
      const vm = vmOf(svm);
      const request = await this.unionMountRequest(svm, name, disks);
      await guestStep(`mkdir -p ${name}`, () => vm.makeDirectories(name));
      if (request.kind === 'overlay' && request.upper) {
        const { upperdir, workdir } = request.upper;
        await guestStep(`mkdir -p ${upperdir} ${workdir}`, async () => {
          await vm.makeDirectories(upperdir);
          await vm.makeDirectories(workdir);
        });
      }
      await guestStep(commandLineOf(request), () => vm.mount(request));
      svm.unionMounts.set(name, 1);
    });
  }

  /**
   * The mount of §6.4. Lowers, nearest first: the layer itself when it is read-only,
   * then each parent. A sandbox parent contributes its `upper/` (whiteouts and opaque
   * markers included), or its root when it has no parents of its own (it was mounted
   * directly, FROM scratch); a sandbox parent with parents but no `upper/` was never
   * written through a view and contributes nothing.
   */
  private async unionMountRequest(svm: ServiceVm, name: string, disks: SvmDisk[]): Promise<MountRequest> {
    const shorts = disks.map((disk) => {
      const short = this.shortPath(svm, disk);
      if (short === '') throw new LcowError('SVM_NOT_ATTACHED', `failed to get short container path for ${disk.hostPath} in SVM ${svm.vmId}`);
      return short;
    });
    const [top] = disks;
    if (disks.length === 1) return { kind: 'bind', source: shorts[0], target: name, readOnly: top.readOnly };
    const lowers = top.readOnly ? [shorts[0]] : [];
    for (let i = 1; i < disks.length; i += 1) {
      const hasParents = i < disks.length - 1;
      if (!disks[i].sandbox || !hasParents) lowers.push(shorts[i]);
      else if (await vmOf(svm).isDirectory(`${shorts[i]}/upper`)) lowers.push(`${shorts[i]}/upper`);
    }
    if (top.readOnly) return { kind: 'overlay', target: name, lowers };
    return { kind: 'overlay', target: name, lowers, upper: { upperdir: `${shorts[0]}/upper`, workdir: `${shorts[0]}/work` } };
  }

  async deleteUnionMount(svm: ServiceVm, name: string): Promise<void> {
    const startError = await svm.started.wait();
    if (startError) throw startError;
    await svm.lock.run(async () => {
      const refs = svm.unionMounts.get(name);
      if (refs === undefined) return;
      if (refs > 1) {
        svm.unionMounts.set(name, refs - 1);
        return;
      }
      await guestStep(`umount ${name}`, () => vmOf(svm).unmount(name));
      svm.unionMounts.delete(name);
    });
  }
}

/** The guest path a disk is mounted at: `/tmp/scratch`, nothing, or `/tmp/d<counter>` (§6.1). */
function guestPathOf(disk: SvmDisk, counter: number): string {
  if (disk.containerPath === '' || disk.containerPath === SCRATCH_GUEST_PATH) return disk.containerPath;
  return `/tmp/d${counter}`;
}

function vmOf(svm: ServiceVm): NonNullable<ServiceVm['vm']> {
  if (!svm.vm) throw new LcowError('SVM_NO_VM', `cannot hot-add VHD as no utility VM is in configuration`);
  return svm.vm;
}

/** Runs one guest step; a failure reads `<command> failed (<stderr>): <err>` as in §6.4. */
async function guestStep(command: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr;
    const detail = stderr ? ` (${stderr.trim()})` : '';
    throw new LcowError(codeOf(err, 'SVM_GUEST_COMMAND_FAILED'), `${command} failed${detail}: ${messageOf(err)}`, { cause: err });
  }
}

/** Keeps the cause's stable code when it has one. */
function codeOf(err: unknown, fallback: string): string {
  return err instanceof LcowError ? err.code : fallback;
}

async function withTimeout(work: Promise<void>, seconds: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LcowError('SVM_TIMEOUT', `timed out after ${seconds} s`)), seconds * 1000);
  });
  try {
    await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
