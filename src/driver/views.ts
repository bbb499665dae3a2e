// Get and Put (spec/driver.md §7.5–7.6) over the service-VM manager: a Get starts or
// reuses the service VM of the layer with the chain's disks and makes the union mount;
// the matching Put removes the mount, the disks and the reference. On the linux backend
// the view is a directory on this host and Get returns its path.
//
// Unlike the reference, a Put with no Get of ours outstanding does nothing: the
// reference then dropped disk and VM references that other views were holding.
//
// One process owns a data root at a time. Its views outlive it when it ends cleanly
// (views-state.ts): the next process takes them over, so `lcow driver get ID` and a later
// `lcow driver put ID` are two processes. A process killed with views up leaves a state
// not marked handed over, and the next open releases everything of the root instead.

import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { LcowError } from '../host/errors.js';
import { allocateAllBlocks, releaseZeroBlocks } from '../host/vhdx/layout.js';
import type { ServiceVmBackend } from '../svm/backend.js';
import { hcsBackendFor } from '../svm/hcs/platform.js';
import type { RemoteFs } from '../svm/hcs/remotefs/client.js';
import { LinuxBackend } from '../svm/linux/backend.js';
import { ServiceVmManager, unionMountName } from '../svm/manager.js';
import { backendNameOf } from '../svm/options.js';
import type { SvmDisk } from '../svm/service-vm.js';
import { DEFAULT_SANDBOX_GB, globalModeOf } from './options.js';
import { createExt4Vhdx } from './sandbox-disk.js';
import { currentBootId, isOtherLiveProcess, readViewsState, removeViewsState, viewsStatePath, writeViewsState, type ViewsState } from './views-state.js';

/** A layer's disk: the layer itself first, then its parents nearest first (from layerchain.json). */
export interface LayerDisk {
  folder: string;
  hostPath: string;
  /** True for layer.vhd, false for a sandbox.vhdx. */
  readOnly: boolean;
}

export interface ViewSettings {
  /** Another backend than lcow.backend names (tests: the fake one). */
  backend?: ServiceVmBackend;
  env?: NodeJS.ProcessEnv;
  /** Writes an empty scratch disk (backends with scratch disks only). */
  createScratch?: (path: string) => Promise<void>;
}

const SANDBOX_FILE = 'sandbox.vhdx';

/**
 * The manager's disks for a view. Parents are attached read-only: they are only lower
 * layers, and a sandbox parent attached read-write could not be shared with the VM that
 * has it as its own top layer.
 */
function svmDisksOf(disks: LayerDisk[]): SvmDisk[] {
  if (disks.length === 0) throw new LcowError('SVM_NO_LAYERS', 'createUnionMount: error must have at least 1 layer');
  return disks.map((disk, index) => ({
    hostPath: disk.hostPath,
    containerPath: `/tmp/${basename(disk.folder)}`,
    readOnly: index > 0 || disk.readOnly,
    sandbox: !disk.readOnly,
  }));
}

export class UnionViews {
  readonly dataRoot: string;
  readonly manager: ServiceVmManager;
  /** The disks of every Get of ours not yet matched by a Put, by layer id. */
  private readonly open = new Map<string, SvmDisk[][]>();
  private readonly statePath: string;
  private readonly instance = randomBytes(8).toString('hex');

  private constructor(dataRoot: string, manager: ServiceVmManager) {
    this.dataRoot = dataRoot;
    this.manager = manager;
    this.statePath = viewsStatePath(dataRoot);
  }

  /**
   * Picks the backend, then takes over the views an earlier process on this data root
   * left up when it ended cleanly, or else releases whatever a killed process left
   * mounted or attached under it (InitDriver after a crash).
   */
  static async open(dataRoot: string, options: Map<string, string>, settings: ViewSettings = {}): Promise<UnionViews> {
    const globalMode = globalModeOf(options);
    const makeBackend = () => settings.backend ?? backendFor(dataRoot, options);
    const makeViews = (backend: ServiceVmBackend) =>
      new UnionViews(dataRoot, new ServiceVmManager({ dataRoot, globalMode, options, env: settings.env, backend, createScratch: settings.createScratch ?? ((path) => createExt4Vhdx(path, DEFAULT_SANDBOX_GB)) }));
    const saved = readViewsState(viewsStatePath(dataRoot));
    if (saved && saved.bootId === currentBootId() && isOtherLiveProcess(saved.owner)) {
      throw new LcowError('SVM_ROOT_IN_USE', `lcowdriver: init: ${dataRoot} is in use by process ${saved.owner}, which holds its service VMs; one driver per data root`);
    }
    const backend = makeBackend();
    const canTakeOver = saved?.handedOver === true && saved.bootId === currentBootId() && saved.backend === backend.name && saved.globalMode === globalMode;
    let views = makeViews(backend);
    if (!(canTakeOver && (await views.takeOver(saved)))) {
      // A failed take-over may have recorded some disks: start again from a fresh backend.
      if (canTakeOver) views = makeViews(makeBackend());
      await views.manager.backend.recover?.();
    }
    views.persist('claim');
    handOverAtExit(views);
    return views;
  }

  /** Adopts the saved VMs and Gets; false (nothing adopted) when the mounts are not as recorded. */
  private async takeOver(saved: ViewsState): Promise<boolean> {
    const backend = this.manager.backend;
    if (!backend.adopt) return false;
    try {
      for (const record of saved.vms) {
        const disks = record.attachedVhds.map(([hostPath, attached]) => ({ hostPath, guestPath: attached.guestPath, readOnly: attached.readOnly }));
        this.manager.adopt(record, await backend.adopt(record.vmId, disks, record.unionMounts.map(([name]) => name)));
      }
    } catch {
      return false;
    }
    for (const [id, gets] of saved.gets) this.open.set(id, gets);
    return true;
  }

  /**
   * Saves the state for the next process: `claim` when this instance takes the root,
   * `exit` (handed over) when the process is ending cleanly. An instance that the same
   * process has since replaced by opening the root again leaves the file alone.
   */
  private persist(mode: 'claim' | 'update' | 'exit' = 'update'): void {
    if (mode !== 'claim') {
      const current = readViewsState(this.statePath);
      if (current && current.owner === process.pid && current.instance !== this.instance) return;
    }
    const vms = this.manager.snapshot();
    if (vms.length === 0 && this.open.size === 0) {
      removeViewsState(this.statePath);
      return;
    }
    writeViewsState(this.statePath, {
      version: 1,
      owner: process.pid,
      instance: this.instance,
      bootId: currentBootId(),
      handedOver: mode === 'exit',
      backend: this.manager.backend.name,
      globalMode: this.manager.globalMode,
      vms,
      gets: [...this.open],
    });
  }

  /** Marks the saved state handed over (the exit hook calls it; a process about to end may too). */
  handOver(): void {
    this.persist('exit');
  }

  get backendName(): string {
    return this.manager.backend.name;
  }

  /** Layer ids with a Get outstanding, and how many. */
  openViews(): Map<string, number> {
    return new Map([...this.open].map(([id, gets]) => [id, gets.length]));
  }

  /** The host path of the union view of `disks`; concurrent Gets of one id share it. */
  async get(id: string, disks: LayerDisk[]): Promise<string> {
    const svmDisks = svmDisksOf(disks);
    const name = unionMountName(svmDisks);
    const svm = await this.manager.startServiceVmIfNotRunning(id, svmDisks, `get ${id}`);
    try {
      await this.manager.createUnionMount(svm, name, svmDisks);
    } catch (err) {
      await this.manager.hotRemoveVhds(svm, svmDisks).catch(() => undefined);
      await this.manager.terminateServiceVm(id, `get ${id}`, false).catch(() => undefined);
      throw err;
    }
    // On hcs the host cannot see the view: Get answers the guest path (Path() of the reference) and remoteFs() reaches it.
    const path = svm.vm?.hostPathOf(name) ?? (svm.vm?.remoteFs ? name : undefined);
    if (path === undefined) {
      await this.releaseOne(id, svmDisks).catch(() => undefined);
      throw new LcowError('SVM_NO_HOST_PATH', `lcowdriver: get: ${id}: the ${this.backendName} backend has no host path for ${name}`);
    }
    const gets = this.open.get(id) ?? [];
    gets.push(svmDisks);
    this.open.set(id, gets);
    this.persist();
    return path;
  }

  /** The remote file system of `id`'s latest Get (§9) on a backend the host cannot see into (hcs). */
  async remoteFs(id: string): Promise<RemoteFs | undefined> {
    const svmDisks = this.open.get(id)?.at(-1);
    const svm = svmDisks ? await this.manager.lookup(id) : undefined;
    return svmDisks && svm?.vm?.remoteFs ? svm.vm.remoteFs(unionMountName(svmDisks)) : undefined;
  }

  /** Releases one Get of `id` (the disks that Get attached); the last one unmounts and detaches everything. */
  async put(id: string, _disks?: LayerDisk[]): Promise<void> {
    const gets = this.open.get(id);
    const svmDisks = gets?.pop();
    if (!gets || !svmDisks) return;
    if (gets.length === 0) this.open.delete(id);
    try {
      await this.releaseOne(id, svmDisks);
    } finally {
      this.persist();
    }
  }

  /** Put (§7.6) step 3: every step runs, the first error is returned. */
  private async releaseOne(id: string, svmDisks: SvmDisk[]): Promise<void> {
    const svm = await this.manager.lookup(id);
    if (!svm) return; // the VM was terminated (Remove, Cleanup): nothing of this view is left
    const errors: unknown[] = [];
    await this.manager.deleteUnionMount(svm, unionMountName(svmDisks)).catch((err) => errors.push(err));
    await this.manager.hotRemoveVhds(svm, svmDisks).catch((err) => errors.push(err));
    await this.manager.terminateServiceVm(id, `Put ${id}`, false).catch((err) => errors.push(err));
    if (errors.length > 0) throw errors[0];
  }

  /**
   * Makes what was written through a mounted view of `id` reach its sandbox.vhdx
   * (syncfs of the sandbox's ext4), so that Diff, Changes and DiffSize, which read the
   * file, see what the view shows. Nothing to do when it is not mounted.
   */
  async flush(id: string): Promise<void> {
    await this.manager.flushDisk(join(this.dataRoot, id, SANDBOX_FILE));
  }

  /** Remove (§7.4): releases every Get of `id`, then (safe mode) force-terminates its VM. */
  async release(id: string): Promise<void> {
    while (this.open.has(id)) await this.put(id);
    if (!this.manager.globalMode) await this.manager.terminateServiceVm(id, `Remove ${id}`, true);
    this.persist();
  }

  /** Cleanup (§7.11): force-terminates every service VM; every view is gone after it. */
  async cleanup(): Promise<void> {
    this.open.clear();
    await this.manager.cleanup();
    this.persist();
  }
}

const live = new Set<UnionViews>();

/** One exit hook for every instance: a process that ends cleanly hands its views over. */
function handOverAtExit(views: UnionViews): void {
  if (live.size === 0) process.once('exit', () => live.forEach((instance) => instance.handOver()));
  for (const earlier of live) if (earlier.dataRoot === views.dataRoot) live.delete(earlier); // replaced: its state is no longer its own
  live.add(views);
}

function backendFor(dataRoot: string, options: Map<string, string>): ServiceVmBackend {
  const name = backendNameOf(options);
  if (name === 'hcs') return hcsBackendFor(options);
  return new LinuxBackend(dataRoot, { allocateAllBlocks, releaseZeroBlocks });
}
