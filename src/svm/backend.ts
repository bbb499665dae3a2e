// What plays the service VM (spec/driver.md §5–6, §8). The manager keeps every rule of
// the reference (ref counts, modes, short paths, ordering, error texts); a backend only
// carries out single steps on one VM. Two backends fit behind it:
//   - `linux` (src/svm/linux/): this host's kernel plays the VM. Disks become loop
//     devices mounted under a host directory that stands for the VM's "/", union views
//     are overlayfs mounts there, and Get returns their host path.
//   - `hcs` (Windows issue): HCS v1 through koffi (spec/windows-host.md §a). start() is
//     HcsCreateComputeSystem + HcsStartComputeSystem with the boot disks of §a.5,
//     addDisk/removeDisk are HcsModifyComputeSystem MappedVirtualDisk Add/Remove, and
//     makeDirectories/isDirectory/mount/unmount/flush run the guest commands named by
//     commandLineOf() through HcsCreateProcess (§6.5). Its hostPathOf() is undefined:
//     the view is reached through the remote file system of §9.

import type { RemoteFs } from './hcs/remotefs/client.js';

/** A disk as the backend attaches it: a host file at a guest path (§8.2). */
export interface GuestDisk {
  hostPath: string;
  /** Where the guest mounts it (`/tmp/dN`, `/tmp/scratch`). */
  guestPath: string;
  readOnly: boolean;
}

export interface VmStartConfig {
  /** The map key: the layer id, or `_lcow_global_svm_`. */
  vmId: string;
  /** The HCS name: `<id>_svm` or `_lcow_global_svm_` (§5.3 step 2). */
  name: string;
  /** Disks attached at boot, in order (scratch first when there is one). */
  disks: GuestDisk[];
  /** UvmTimeoutSeconds, for the backend's own waits. */
  timeoutSeconds: number;
}

/** The union mounts of §6.4, as structured requests rather than command lines. */
export type MountRequest =
  /** One disk: the disk's own mount point seen again at `target` (FROM scratch, or a base layer). */
  | { kind: 'bind'; source: string; target: string; readOnly: boolean }
  /** overlayfs: `lowers` nearest first; with `upper` a writable view, else a read-only one. */
  | { kind: 'overlay'; target: string; lowers: string[]; upper?: { upperdir: string; workdir: string } };

/** The guest command the reference runs for a mount request (§6.4, with `:` between lowers). */
export function commandLineOf(request: MountRequest): string {
  if (request.kind === 'bind') return `mount ${request.source} ${request.target}`;
  const lowers = `lowerdir=${request.lowers.join(':')}`;
  const data = request.upper ? `${lowers},upperdir=${request.upper.upperdir},workdir=${request.upper.workdir}` : lowers;
  return `mount -t overlay overlay -o${data} ${request.target}`;
}

/** One running service VM. Every path is a guest path. */
export interface BackendVm {
  /** Hot add (§8.2) with "mount" = true: the disk's file system appears at its guest path. */
  addDisk(disk: GuestDisk): Promise<void>;
  /** Hot remove by host path (§8.2): unmounted and detached. */
  removeDisk(hostPath: string): Promise<void>;
  /** `mkdir -p`. */
  makeDirectories(guestPath: string): Promise<void>;
  /** `test -d`. */
  isDirectory(guestPath: string): Promise<boolean>;
  mount(request: MountRequest): Promise<void>;
  /** `umount <path>`. */
  unmount(guestPath: string): Promise<void>;
  /** Writes of the file system mounted at `guestPath` reach its disk file (syncfs). */
  flush(guestPath: string): Promise<void>;
  /** Where a guest path is on this host, when the host can see it at all. */
  hostPathOf(guestPath: string): string | undefined;
  /** The remote file system of a view (§9), on backends whose views the host cannot see (hcs). */
  remoteFs?(root: string): RemoteFs;
  /** Stops the VM; everything attached or mounted in it is released. */
  terminate(): Promise<void>;
  /** Resolves once the VM has exited (the manager bounds it by UvmTimeoutSeconds). */
  waitExited(): Promise<void>;
}

export interface ServiceVmBackend {
  /** `linux`, `hcs`, `fake`: shown by the driver's Status. */
  readonly name: string;
  /**
   * Whether its VMs need the scratch disk of §5.3. The guest tools of the reference
   * (vhd2tar and friends) write temporary files there; a backend that runs no guest
   * tools has no use for it.
   */
  readonly usesScratch: boolean;
  /** Creates and starts a VM with its boot disks attached (§8.1). */
  start(config: VmStartConfig): Promise<BackendVm>;
  /**
   * InitDriver after a crash: releases whatever a killed process left behind for this
   * data root. (HCS VMs die with the process that created them, TerminateOnLastHandleClosed.)
   */
  recover?(): Promise<unknown>;
  /**
   * Takes over a VM that a process that ended cleanly left running (`lcow driver get`
   * in one process, `put` in the next), after checking that it is still as recorded;
   * throws when it is not. Backends whose VMs end with their process have no such thing.
   */
  adopt?(vmId: string, disks: GuestDisk[], unionMounts: string[]): Promise<BackendVm>;
}
