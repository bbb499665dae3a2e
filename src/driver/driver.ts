// The lcow graph driver (spec/driver.md §7) over its data root (§2). Everything the
// reference sent into a service VM except the union view is done here on the host:
// layers are converted by the engine, sandboxes are written by the engine and the VHDX
// writer, and Diff, DiffGetter and Changes read the disks with our own ext4 and VHDX
// readers. Get and Put go to the service-VM machinery (src/svm/) behind UnionViews.

import { mkdirSync, readdirSync, renameSync, rmSync, lstatSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { LcowError } from '../host/errors.js';
import { grantVmGroupAccess } from '../host/win32/grant-vm-group-access.js';
import type { RemoteFs } from '../svm/hcs/remotefs/client.js';
import { layerChanges, changesSize, layerFile, layerTar } from './export/layer-tar.js';
import { UnionViews } from './views.js';
import { convertLayer } from './apply-diff.js';
import { KeyedMutex } from './keyed-mutex.js';
import { checkLayerId, checkParentId, RESERVED_FOLDERS, REMOVING_SUFFIX } from './layer-id.js';
import { readLayerChain, writeLayerChain, LAYER_CHAIN_FILE } from './layer-chain.js';
import { layerDiskOf, LAYER_FILE, SANDBOX_FILE, type LayerDisk } from './layer-disk.js';
import { closeLayerViews, openLayerView, openLayerViews } from './layer-views.js';
import { globalModeOf, parseOptionList, parseOptionMap, sandboxSizeOf, DEFAULT_SANDBOX_GB } from './options.js';
import { createExt4Vhdx } from './sandbox-disk.js';
import { isTemporaryName } from '../host/temporary-name.js';
import type { Change, CreateOptions, FileGetter, GraphDriver } from './types.js';

/** Runs after ApplyDiff writes a layer.vhd: on Windows it grants the Hyper-V VM group read access. */
export type GrantHook = (path: string) => Promise<void>;

export interface DriverSettings {
  /** Called on every layer.vhd ApplyDiff writes (default: nothing, as off Windows). */
  grant?: GrantHook;
  /** Convert in a child process (default: unless DOCKER_LCOW_NOREEXEC is set). */
  reexec?: boolean;
}

const SANDBOX_CACHE_LOCK = '\0sandbox-cache';

export class Driver implements GraphDriver {
  readonly home: string;
  readonly globalMode: boolean;
  private readonly views: UnionViews;
  private readonly settings: Required<DriverSettings>;
  private readonly locks = new KeyedMutex();

  private constructor(home: string, globalMode: boolean, views: UnionViews, settings: Required<DriverSettings>) {
    this.home = home;
    this.globalMode = globalMode;
    this.views = views;
    this.settings = settings;
  }

  /** InitDriver (§7.1): parses the options, makes the folders, clears stale scratch disks and views. */
  static async init(home: string, options: readonly string[] | null = [], settings: DriverSettings = {}): Promise<Driver> {
    if (typeof home !== 'string' || home === '') throw new LcowError('USAGE', 'lcowdriver: init: the data root must be a non-empty path');
    const parsed = parseOptionList(options);
    const globalMode = globalModeOf(parsed);
    for (const path of [home, join(home, 'cache'), join(home, 'scratch')]) {
      try {
        mkdirSync(path, { recursive: true, mode: 0o700 });
      } catch (err) {
        throw new LcowError('DRIVER_INIT_FAILED', `lcowdriver: init: failed to create '${path}': ${(err as Error).message}`, { cause: err });
      }
    }
    // Scratch disks of service VMs that a killed daemon left behind.
    for (const name of readdirSync(join(home, 'scratch'))) {
      if (name.endsWith('.vhdx')) rmSync(join(home, 'scratch', name), { force: true });
    }
    const views = await UnionViews.open(home, parsed);
    return new Driver(home, globalMode, views, {
      grant: settings.grant ?? (process.platform === 'win32' ? async (path) => void (await grantVmGroupAccess(path)) : async () => {}),
      reexec: settings.reexec ?? !process.env.DOCKER_LCOW_NOREEXEC,
    });
  }

  toString(): string {
    return 'lcow';
  }

  /** dir(id): the layer's folder. */
  getLayerPath(id: string): string {
    return join(this.home, checkLayerId(id));
  }

  async create(id: string, parent: string, options: CreateOptions = {}): Promise<void> {
    checkLayerId(id);
    await this.locks.run(id, async () => this.createFolder(id, checkParentId(parent), options));
  }

  private createFolder(id: string, parent: string, _options: CreateOptions): void {
    let chain: string[] | null = null;
    if (parent !== '') {
      const parentFolder = this.getLayerPath(parent);
      const parentChain = readLayerChain(parentFolder, parent);
      if (!existsSync(parentFolder)) {
        throw new LcowError('DRIVER_NO_PARENT', `lcowdriver: cannot create layer folder with missing parent ${parent}`);
      }
      chain = [parentFolder, ...parentChain];
    }
    const folder = this.getLayerPath(id);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    try {
      writeLayerChain(folder, id, chain);
    } catch (err) {
      rmSync(folder, { recursive: true, force: true });
      throw err;
    }
  }

  async createReadWrite(id: string, parent: string, options: CreateOptions = {}): Promise<void> {
    checkLayerId(id);
    await this.locks.run(id, async () => {
      this.createFolder(id, checkParentId(parent), options);
      // As the reference: a bad size is refused after the folder exists, and the folder stays.
      const sizeGB = sandboxSizeOf(id, parseOptionMap(options.storageOpt));
      const dest = join(this.getLayerPath(id), SANDBOX_FILE);
      if (sizeGB !== DEFAULT_SANDBOX_GB) {
        await createExt4Vhdx(dest, sizeGB);
        return;
      }
      await this.locks.run(SANDBOX_CACHE_LOCK, () => createExt4Vhdx(dest, sizeGB, join(this.home, 'cache', SANDBOX_FILE)));
    });
  }

  async remove(id: string): Promise<void> {
    checkLayerId(id);
    await this.locks.run(id, async () => {
      await this.views.release(id);
      const folder = this.getLayerPath(id);
      const removing = `${folder}${REMOVING_SUFFIX}`;
      // A crash in an earlier Remove may have left the -removing folder behind.
      rmSync(removing, { recursive: true, force: true });
      try {
        renameSync(folder, removing);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw new LcowError('DRIVER_REMOVE_FAILED', `lcowdriver: remove: ${id}: ${(err as Error).message}`, { cause: err });
      }
      rmSync(removing, { recursive: true, force: true });
    });
  }

  /** [dir(id)] + its chain, each with its disk (getAllMounts, §7.5). */
  private chainDisks(id: string, operation: string): LayerDisk[] {
    const folder = this.getLayerPath(id);
    return [folder, ...readLayerChain(folder, id)].map((dir) => {
      try {
        return layerDiskOf(dir);
      } catch (err) {
        throw new LcowError('DRIVER_NO_DISK', `lcowdriver: ${operation}: ${id} failed to get layer details for ${dir}: ${(err as Error).message}`, { cause: err });
      }
    });
  }

  async get(id: string, _mountLabel?: string): Promise<string> {
    checkLayerId(id);
    return this.locks.run(id, () => this.views.get(id, this.chainDisks(id, 'get')));
  }

  async put(id: string): Promise<void> {
    checkLayerId(id);
    await this.locks.run(id, () => this.views.put(id, this.chainDisks(id, 'put')));
  }

  /** The remote file system of the view Get made (spec §9): on the hcs backend, where get() answers a guest path. */
  async remoteFs(id: string): Promise<RemoteFs | undefined> {
    checkLayerId(id);
    return this.views.remoteFs(id);
  }

  async exists(id: string): Promise<boolean> {
    try {
      lstatSync(this.getLayerPath(id));
      return true;
    } catch {
      return false;
    }
  }

  async status(): Promise<Array<[string, string]>> {
    return [
      ['Backend', this.views.backendName],
      ['Data Root', this.home],
      ['Layers', String(this.layerIds().length)],
      ['Service VM Mode', this.globalMode ? 'global' : 'safe'],
    ];
  }

  /** Ids of the folders that are layers (they all hold a layerchain.json). */
  layerIds(): string[] {
    return readdirSync(this.home, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !RESERVED_FOLDERS.has(entry.name) && !entry.name.endsWith(REMOVING_SUFFIX))
      .filter((entry) => existsSync(join(this.home, entry.name, LAYER_CHAIN_FILE)))
      .map((entry) => entry.name);
  }

  async getMetadata(id: string): Promise<Record<string, string>> {
    return { dir: this.getLayerPath(id) };
  }

  async cleanup(): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.home);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      if (!name.endsWith(REMOVING_SUFFIX)) continue;
      // Files may be in use; the reference only warns, and so do we (by not failing).
      try {
        rmSync(join(this.home, name), { recursive: true, force: true });
      } catch { /* left for the next Cleanup */ }
    }
    await this.views.cleanup();
  }

  async applyDiff(id: string, _parent: string, diff: Readable): Promise<number> {
    checkLayerId(id);
    return this.locks.run(id, async () => {
      const folder = this.getLayerPath(id);
      if (!existsSync(folder)) {
        diff.resume();
        throw new LcowError('DRIVER_NO_LAYER', `lcowdriver: applydiff: ${id}: no such layer folder ${folder}: create the layer first`);
      }
      // Temporaries of a conversion that was killed: nobody else writes here while we hold the id.
      for (const name of readdirSync(folder)) if (isTemporaryName(name)) rmSync(join(folder, name), { force: true });
      const dest = join(folder, LAYER_FILE);
      const size = await convertLayer(dest, diff, this.settings.reexec);
      try {
        await this.settings.grant(dest);
      } catch (err) {
        throw new LcowError('DRIVER_GRANT_FAILED', `lcowdriver: applydiff: ${id}: ${(err as Error).message}`, { cause: err });
      }
      return size;
    });
  }

  async diff(id: string, _parent: string): Promise<Readable> {
    checkLayerId(id);
    return this.locks.run(id, async () => {
      const disk = layerDiskOf(this.getLayerPath(id));
      if (!disk.readOnly) await this.views.flush(id);
      const view = openLayerView(disk);
      const stream = layerTar(view);
      stream.once('close', () => view.reader.close());
      return stream;
    });
  }

  private async withChainViews<T>(id: string, operation: string, use: (views: ReturnType<typeof openLayerViews>) => T): Promise<T> {
    checkLayerId(id);
    return this.locks.run(id, async () => {
      const disks = this.chainDisks(id, operation);
      if (!disks[0].readOnly) await this.views.flush(id);
      const views = openLayerViews(disks);
      try {
        return use(views);
      } finally {
        closeLayerViews(views);
      }
    });
  }

  async changes(id: string, _parent: string): Promise<Change[]> {
    return this.withChainViews(id, 'changes', ([layer, ...parents]) => layerChanges(layer, parents));
  }

  async diffSize(id: string, _parent: string): Promise<number> {
    return this.withChainViews(id, 'diffsize', ([layer, ...parents]) => changesSize(layer, parents));
  }

  async diffGetter(id: string): Promise<FileGetter> {
    checkLayerId(id);
    const view = await this.locks.run(id, async () => openLayerView(layerDiskOf(this.getLayerPath(id))));
    return {
      get: async (path: string) => layerFile(view, path),
      close: async () => view.reader.close(),
    };
  }
}
