// The `linux` backend: this host's kernel plays the service VM.
//
// Each VM is a host directory, <dataRoot>/svm/<vmID>/, that stands for the VM's "/":
// the guest path /tmp/d3 is <dataRoot>/svm/<vmID>/tmp/d3, and the union mount
// /tmp/<id>-mount is <dataRoot>/svm/<vmID>/tmp/<id>-mount, which is what Get returns.
// A disk is a loop device (loop.ts) over its ext4 bytes (disk-map.ts) mounted at its
// guest path; union views are overlayfs mounts whose lower and upper directories are
// named through /proc/self/fd/<fd of the VM's root>/..., so mount data stays short
// (overlayfs takes one page of options) however long the data root's path is.
// Everything this data root mounts is under <dataRoot>/svm/ and every loop device maps
// a file under <dataRoot>/, which is how stale.ts finds it after a crash.

import { closeSync, mkdirSync, openSync, realpathSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { LcowError } from '../../host/errors.js';
import type { BackendVm, GuestDisk, MountRequest, ServiceVmBackend, VmStartConfig } from '../backend.js';
import { isVhdx, mapDisk, unmapDisk, type DiskMapping, type SandboxBlocks } from './disk-map.js';
import { mount, MS_BIND, MS_RDONLY, MS_REMOUNT, syncfs, umount } from './libc.js';
import { attachLoop, backingFileOf, detachLoop } from './loop.js';
import { mountsWithin } from './mountinfo.js';
import { releaseStale, removeEmptyTree, sleep, unmountOrDetach, unmountOrFail, type StaleRelease } from './stale.js';

/** overlayfs reads its options from one page, NUL included. */
const MOUNT_DATA_LIMIT = 4095;
/** How long a loop device gets to clear itself after its unmount before we clear it. */
const LOOP_CLEAR_MS = 2000;

/** One disk file's use by this backend's VMs: a file attached read-write is in one VM only. */
interface FileUse {
  mapping: DiskMapping;
  /** vmID -> read-only? */
  users: Map<string, boolean>;
}

export class LinuxBackend implements ServiceVmBackend {
  readonly name = 'linux';
  /** Nothing runs inside these VMs (Diff, Changes and DiffGetter read disks on the host), so no scratch disk. */
  readonly usesScratch = false;
  readonly dataRoot: string;
  readonly svmRoot: string;
  readonly blocks: SandboxBlocks;
  private readonly files = new Map<string, FileUse>();

  /** `dataRoot` must exist; it is resolved, since mountinfo and sysfs name real paths. */
  constructor(dataRoot: string, blocks: SandboxBlocks) {
    this.dataRoot = realpathSync(dataRoot);
    this.svmRoot = join(this.dataRoot, 'svm');
    this.blocks = blocks;
  }

  /** InitDriver after a crash: releases the mounts and loop devices of this data root only. */
  recover(): Promise<StaleRelease> {
    return releaseStale(this.dataRoot, this.blocks);
  }

  async start(config: VmStartConfig): Promise<LinuxVm> {
    const root = join(this.svmRoot, config.vmId);
    mkdirSync(join(root, 'tmp'), { recursive: true, mode: 0o700 });
    const vm = new LinuxVm(this, config.vmId, root);
    try {
      for (const disk of config.disks) await vm.addDisk(disk);
    } catch (err) {
      await vm.terminate().catch(() => undefined);
      throw err;
    }
    return vm;
  }

  /** Takes over a VM of an earlier process: every disk and union mount must still be mounted where recorded. */
  async adopt(vmId: string, disks: GuestDisk[], unionMounts: string[]): Promise<LinuxVm> {
    const vm = new LinuxVm(this, vmId, join(this.svmRoot, vmId));
    const mounted = new Map(mountsWithin(vm.root).map((entry) => [entry.mountPoint, entry]));
    const gone = (what: string) => new LcowError('SVM_ADOPT_FAILED', `service VM ${vmId}: ${what} is no longer mounted as recorded`);
    try {
      for (const disk of disks) {
        const entry = mounted.get(vm.hostPathOf(disk.guestPath));
        const backing = entry?.source.startsWith('/dev/loop') ? backingFileOf(entry.source) : undefined;
        if (!entry || backing !== realpathOrSelf(disk.hostPath)) throw gone(`${disk.hostPath} at ${disk.guestPath}`);
        this.takeOver(disk.hostPath, vmId, disk.readOnly);
        vm.adoptDisk(disk.hostPath, disk.guestPath, entry.source);
      }
      for (const name of unionMounts) {
        if (!mounted.has(vm.hostPathOf(name))) throw gone(name);
        vm.adoptUnionMount(name);
      }
    } catch (err) {
      vm.close();
      throw err;
    }
    return vm;
  }

  /** Records `file` as in use by `vmId` without preparing it again: it is attached already. */
  private takeOver(file: string, vmId: string, readOnly: boolean): void {
    const use = this.files.get(file);
    if (use) use.users.set(vmId, readOnly);
    else this.files.set(file, { mapping: { kind: isVhdx(file) ? 'vhdx' : 'vhd', offset: 0, sizeLimit: 0 }, users: new Map([[vmId, readOnly]]) });
  }

  /** Takes `file` for `vmId`; the first user prepares it for loop devices. */
  async claim(file: string, vmId: string, readOnly: boolean): Promise<DiskMapping> {
    const use = this.files.get(file);
    if (use) {
      for (const [other, otherReadOnly] of use.users) {
        if (!readOnly || !otherReadOnly) {
          throw new LcowError(
            'SVM_DISK_IN_USE',
            `${file} is attached ${otherReadOnly ? 'read-only' : 'read-write'} to service VM ${other}; a disk attached read-write cannot be shared between service VMs (Hyper-V refuses the same)`,
          );
        }
      }
      use.users.set(vmId, readOnly);
      return use.mapping;
    }
    // Recorded before the (asynchronous) preparation so that a concurrent claim sees it.
    const pending: FileUse = { mapping: undefined as unknown as DiskMapping, users: new Map([[vmId, readOnly]]) };
    this.files.set(file, pending);
    try {
      pending.mapping = await mapDisk(file, this.blocks);
    } catch (err) {
      this.files.delete(file);
      throw err;
    }
    return pending.mapping;
  }

  /**
   * Gives `file` back; the last user undoes the preparation, unless a loop device still
   * maps it (a lazily detached mount), when touching its blocks would race the device.
   */
  async unclaim(file: string, vmId: string, stillMapped = false): Promise<void> {
    const use = this.files.get(file);
    if (!use || !use.users.delete(vmId) || use.users.size > 0) return;
    this.files.delete(file);
    if (!stillMapped) await unmapDisk(file, use.mapping, this.blocks);
  }
}

interface AttachedDisk {
  guestPath: string;
  loopDevice: string;
}

export class LinuxVm implements BackendVm {
  readonly vmId: string;
  /** The host directory standing for the VM's "/". */
  readonly root: string;
  private readonly backend: LinuxBackend;
  /** Kept open so overlay options can name directories as /proc/self/fd/<rootFd>/... */
  private rootFd: number | undefined;
  private readonly disks = new Map<string, AttachedDisk>();
  /** Union mount guest paths, in mount order. */
  private readonly unionMounts: string[] = [];
  private terminating = false;

  constructor(backend: LinuxBackend, vmId: string, root: string) {
    this.backend = backend;
    this.vmId = vmId;
    this.root = root;
    this.rootFd = openSync(root, 'r');
  }

  /** Taken over from an earlier process (LinuxBackend.adopt). */
  adoptDisk(hostPath: string, guestPath: string, loopDevice: string): void {
    this.disks.set(hostPath, { guestPath, loopDevice });
  }

  adoptUnionMount(guestPath: string): void {
    this.unionMounts.push(guestPath);
  }

  /** Lets go of the VM's root without releasing anything in it. */
  close(): void {
    if (this.rootFd !== undefined) closeSync(this.rootFd);
    this.rootFd = undefined;
  }

  hostPathOf(guestPath: string): string {
    const clean = posix.normalize(guestPath);
    if (!clean.startsWith('/') || clean.split('/').includes('..')) {
      throw new LcowError('SVM_BAD_GUEST_PATH', `guest path ${JSON.stringify(guestPath)} is not an absolute path inside the service VM`);
    }
    return join(this.root, clean);
  }

  /** The same directory, named through the open root so that overlay options stay short. */
  private shortHostPath(guestPath: string): string {
    if (this.rootFd === undefined) throw new LcowError('SVM_NO_VM', `service VM ${this.vmId} has been terminated`);
    this.hostPathOf(guestPath); // validates it
    return `/proc/self/fd/${this.rootFd}${posix.normalize(guestPath)}`;
  }

  async addDisk(disk: GuestDisk): Promise<void> {
    if (this.rootFd === undefined) throw new LcowError('SVM_NO_VM', `service VM ${this.vmId} has been terminated`);
    if (disk.guestPath === '') {
      throw new LcowError('SVM_ATTACH_ONLY', `${disk.hostPath}: attaching a disk without mounting it is not supported by the linux backend`);
    }
    const mountPoint = this.hostPathOf(disk.guestPath);
    const mapping = await this.backend.claim(disk.hostPath, this.vmId, disk.readOnly);
    let loopDevice: string | undefined;
    try {
      mkdirSync(mountPoint, { recursive: true, mode: 0o700 });
      const loop = attachLoop(disk.hostPath, { offset: mapping.offset, sizeLimit: mapping.sizeLimit, readOnly: disk.readOnly });
      loopDevice = loop.path;
      try {
        mount(loop.path, mountPoint, 'ext4', disk.readOnly ? MS_RDONLY : 0, null);
      } finally {
        closeSync(loop.fd); // from here on the mount holds the device; unmounting clears it (autoclear)
      }
    } catch (err) {
      const cleared = loopDevice === undefined || (await waitLoopCleared(loopDevice, disk.hostPath));
      removeEmptyTree(mountPoint);
      await this.backend.unclaim(disk.hostPath, this.vmId, !cleared);
      const code = err instanceof LcowError ? err.code : 'SVM_MOUNT_FAILED';
      throw new LcowError(code, `cannot mount ${disk.hostPath} at ${disk.guestPath} in service VM ${this.vmId}: ${mountHint(err)}`, { cause: err });
    }
    this.disks.set(disk.hostPath, { guestPath: disk.guestPath, loopDevice });
  }

  async removeDisk(hostPath: string): Promise<void> {
    const attached = this.disks.get(hostPath);
    if (!attached) return;
    const mountPoint = this.hostPathOf(attached.guestPath);
    this.release(mountPoint);
    this.disks.delete(hostPath);
    const cleared = await waitLoopCleared(attached.loopDevice, hostPath);
    removeEmptyTree(mountPoint);
    await this.backend.unclaim(hostPath, this.vmId, !cleared);
  }

  async makeDirectories(guestPath: string): Promise<void> {
    mkdirSync(this.hostPathOf(guestPath), { recursive: true, mode: 0o755 });
  }

  async isDirectory(guestPath: string): Promise<boolean> {
    try {
      return statSync(this.hostPathOf(guestPath)).isDirectory();
    } catch {
      return false;
    }
  }

  async mount(request: MountRequest): Promise<void> {
    const target = this.hostPathOf(request.target);
    if (request.kind === 'bind') {
      mount(this.hostPathOf(request.source), target, null, MS_BIND, null);
      // A bind mount takes its read-only flag only from a remount.
      if (request.readOnly) {
        try {
          mount('none', target, null, MS_BIND | MS_REMOUNT | MS_RDONLY, null);
        } catch (err) {
          umount(target);
          throw err;
        }
      }
    } else {
      const lowers = `lowerdir=${request.lowers.map((lower) => this.shortHostPath(lower)).join(':')}`;
      const data = request.upper
        ? `${lowers},upperdir=${this.shortHostPath(request.upper.upperdir)},workdir=${this.shortHostPath(request.upper.workdir)}`
        : lowers;
      if (data.length > MOUNT_DATA_LIMIT) {
        throw new LcowError('SVM_TOO_MANY_LAYERS', `${request.lowers.length} layers need ${data.length} bytes of overlay options; the kernel takes at most ${MOUNT_DATA_LIMIT}`);
      }
      mount('overlay', target, 'overlay', request.upper ? 0 : MS_RDONLY, data);
    }
    this.unionMounts.push(request.target);
  }

  async unmount(guestPath: string): Promise<void> {
    const target = this.hostPathOf(guestPath);
    this.release(target);
    const at = this.unionMounts.lastIndexOf(guestPath);
    if (at >= 0) this.unionMounts.splice(at, 1);
    removeEmptyTree(target);
  }

  /**
   * Unmounts; a busy mount (a process has its working directory or a file open in
   * the view) fails Put and Remove, but is detached lazily when the VM is terminated.
   */
  private release(mountPoint: string): void {
    if (this.terminating) unmountOrDetach(mountPoint);
    else unmountOrFail(mountPoint);
  }

  async flush(guestPath: string): Promise<void> {
    const fd = openSync(this.hostPathOf(guestPath), 'r');
    try {
      syncfs(fd, guestPath);
    } finally {
      closeSync(fd);
    }
  }

  /** Unmounts the union views, then the disks, then anything else left under the VM's root. */
  async terminate(): Promise<void> {
    this.terminating = true;
    let firstError: unknown;
    const attempt = async (step: () => Promise<void> | void) => {
      try {
        await step();
      } catch (err) {
        firstError ??= err;
      }
    };
    for (const guestPath of [...this.unionMounts].reverse()) await attempt(() => this.unmount(guestPath));
    for (const hostPath of [...this.disks.keys()].reverse()) await attempt(() => this.removeDisk(hostPath));
    for (const entry of mountsWithin(this.root)) await attempt(() => unmountOrDetach(entry.mountPoint));
    this.close();
    removeEmptyTree(this.root);
    if (firstError) throw firstError;
  }

  async waitExited(): Promise<void> {
    // terminate() has already released everything by the time it returns.
  }
}

/**
 * Waits for an autoclear loop device to let go of `file` after its unmount, and clears
 * it if it does not; false when it still maps the file (its mount was detached lazily).
 */
async function waitLoopCleared(device: string, file: string): Promise<boolean> {
  const deadline = Date.now() + LOOP_CLEAR_MS;
  const mapsFile = () => {
    const backing = backingFileOf(device);
    return backing !== undefined && backing === realpathOrSelf(file);
  };
  while (mapsFile() && Date.now() < deadline) await sleep(5);
  if (!mapsFile()) return true;
  detachLoop(device);
  return !mapsFile();
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function mountHint(err: unknown): string {
  const message = (err as Error).message;
  const code = (err as { code?: string }).code;
  if (code === 'EPERM') return `${message}; mounting needs root (CAP_SYS_ADMIN)`;
  if (code === 'EINVAL' || code === 'EUCLEAN') return `${message}; the disk holds no ext4 file system the kernel accepts`;
  if (code === 'EROFS') return `${message}; the file system needs journal recovery, which a read-only attach cannot do`;
  return message;
}
