// An in-process backend that pretends to be the service VMs: it keeps what a VM would
// have (attached disks, directories, mounts), logs every step, and fails or stalls on
// request. Tests of the manager's rules run on it where mounts are not allowed. Not
// chosen by lcow.backend; tests construct it.

import type { BackendVm, GuestDisk, MountRequest, ServiceVmBackend, VmStartConfig } from './backend.js';
import { commandLineOf } from './backend.js';

export interface FakeBehaviour {
  /** Error to fail start() with. */
  failStart?: (config: VmStartConfig) => Error | undefined;
  /** Error to fail one hot add with. */
  failAddDisk?: (disk: GuestDisk, vm: string) => Error | undefined;
  failMount?: (request: MountRequest) => Error | undefined;
  failTerminate?: (vm: string) => Error | undefined;
  /** start() resolves only once this does (to hold a start "in progress"). */
  startGate?: () => Promise<void>;
  /** terminate() resolves only once this does (to hold a stop "in progress"). */
  terminateGate?: (vm: string) => Promise<void>;
  /** VMs that never report their exit (to exercise the terminate timeout). */
  neverExits?: (vm: string) => boolean;
}

export class FakeVm implements BackendVm {
  readonly name: string;
  /** Guest path -> disk, for every disk attached and mounted. */
  readonly disks = new Map<string, GuestDisk>();
  readonly mounts = new Map<string, MountRequest>();
  readonly directories = new Set<string>(['/', '/tmp']);
  running = true;
  private readonly backend: FakeBackend;

  constructor(backend: FakeBackend, name: string) {
    this.backend = backend;
    this.name = name;
  }

  private check(): void {
    if (!this.running) throw new Error(`fake VM ${this.name} is not running`);
  }

  async addDisk(disk: GuestDisk): Promise<void> {
    this.check();
    const error = this.backend.behaviour.failAddDisk?.(disk, this.name);
    this.backend.log.push(`${this.name}: add ${disk.hostPath} at ${disk.guestPath || '(no mount)'}${disk.readOnly ? ' ro' : ''}${error ? ' FAILED' : ''}`);
    if (error) throw error;
    this.disks.set(disk.guestPath || `attach:${disk.hostPath}`, disk);
  }

  async removeDisk(hostPath: string): Promise<void> {
    this.check();
    this.backend.log.push(`${this.name}: remove ${hostPath}`);
    for (const [guestPath, disk] of this.disks) if (disk.hostPath === hostPath) this.disks.delete(guestPath);
  }

  /** The disk mounted at or above `guestPath`, and the path inside it. */
  private diskAt(guestPath: string): { disk: GuestDisk; inner: string } | undefined {
    for (const [mountPoint, disk] of this.disks) {
      if (guestPath === mountPoint || guestPath.startsWith(`${mountPoint}/`)) return { disk, inner: guestPath.slice(mountPoint.length) };
    }
    return undefined;
  }

  async makeDirectories(guestPath: string): Promise<void> {
    this.check();
    this.backend.log.push(`${this.name}: mkdir -p ${guestPath}`);
    const onDisk = this.diskAt(guestPath);
    if (onDisk) {
      if (onDisk.disk.readOnly) throw Object.assign(new Error('read-only file system'), { stderr: `mkdir: can't create directory '${guestPath}': Read-only file system` });
      this.backend.diskDirectories(onDisk.disk.hostPath).add(onDisk.inner);
    } else {
      this.directories.add(guestPath);
    }
  }

  async isDirectory(guestPath: string): Promise<boolean> {
    this.check();
    const onDisk = this.diskAt(guestPath);
    if (onDisk) return onDisk.inner === '' || this.backend.diskDirectories(onDisk.disk.hostPath).has(onDisk.inner);
    return this.directories.has(guestPath);
  }

  async mount(request: MountRequest): Promise<void> {
    this.check();
    const error = this.backend.behaviour.failMount?.(request);
    this.backend.log.push(`${this.name}: ${commandLineOf(request)}${error ? ' FAILED' : ''}`);
    if (error) throw error;
    this.mounts.set(request.target, request);
  }

  async unmount(guestPath: string): Promise<void> {
    this.check();
    this.backend.log.push(`${this.name}: umount ${guestPath}`);
    if (!this.mounts.delete(guestPath)) throw new Error(`${guestPath}: not mounted`);
  }

  async flush(guestPath: string): Promise<void> {
    this.check();
    this.backend.log.push(`${this.name}: sync -f ${guestPath}`);
  }

  hostPathOf(guestPath: string): string {
    return `/fake/${this.name}${guestPath}`;
  }

  async terminate(): Promise<void> {
    await this.backend.behaviour.terminateGate?.(this.name);
    const error = this.backend.behaviour.failTerminate?.(this.name);
    this.backend.log.push(`${this.name}: terminate${error ? ' FAILED' : ''}`);
    if (error) throw error;
    this.running = false;
    this.disks.clear();
    this.mounts.clear();
  }

  waitExited(): Promise<void> {
    if (this.backend.behaviour.neverExits?.(this.name)) return new Promise(() => undefined);
    return Promise.resolve();
  }
}

export class FakeBackend implements ServiceVmBackend {
  readonly name = 'fake';
  readonly usesScratch: boolean;
  readonly behaviour: FakeBehaviour;
  /** Every step, in order, as "<vm name>: <what>". */
  readonly log: string[] = [];
  /** VMs by name, the running and the stopped. */
  readonly vms = new Map<string, FakeVm>();
  /** Directories made on each disk, by host path: what a later VM finds on it. */
  private readonly onDisk = new Map<string, Set<string>>();

  constructor(options: { usesScratch?: boolean; behaviour?: FakeBehaviour } = {}) {
    this.usesScratch = options.usesScratch ?? false;
    this.behaviour = options.behaviour ?? {};
  }

  diskDirectories(hostPath: string): Set<string> {
    let set = this.onDisk.get(hostPath);
    if (!set) this.onDisk.set(hostPath, (set = new Set()));
    return set;
  }

  running(): FakeVm[] {
    return [...this.vms.values()].filter((vm) => vm.running);
  }

  async start(config: VmStartConfig): Promise<FakeVm> {
    const disks = config.disks.map((d) => `${d.hostPath}@${d.guestPath}${d.readOnly ? ':ro' : ''}`).join(' ');
    this.log.push(`${config.name}: start timeout=${config.timeoutSeconds}${disks ? ` ${disks}` : ''}`);
    await this.behaviour.startGate?.();
    const error = this.behaviour.failStart?.(config);
    if (error) {
      this.log.push(`${config.name}: start FAILED`);
      throw error;
    }
    const vm = new FakeVm(this, config.name);
    for (const disk of config.disks) vm.disks.set(disk.guestPath, disk);
    this.vms.set(config.name, vm);
    return vm;
  }
}
