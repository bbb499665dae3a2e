// The state of one service VM (spec/driver.md §5.1): what the manager knows about it,
// beside the backend's handle.

import type { BackendVm } from './backend.js';
import { Mutex } from './mutex.js';
import { OneShot } from './one-shot.js';
import { DEFAULT_UVM_TIMEOUT_SECONDS } from './options.js';

/** A layer disk as the driver asks for it (§7.5 getAllMounts). */
export interface SvmDisk {
  hostPath: string;
  /** The long guest path `/tmp/<layerID>` (§2); empty means "attach only". */
  containerPath: string;
  readOnly: boolean;
  /** A sandbox.vhdx: as a parent it contributes its `upper/` (or, with no parents of its own, its root). */
  sandbox: boolean;
}

export interface AttachedVhd {
  refCount: number;
  /** The counter value it was attached with: its short path is `/tmp/d<attachCounter>` (§6.1). */
  attachCounter: number;
  readOnly: boolean;
  /** The guest path it was mounted at. */
  guestPath: string;
}

export class ServiceVm {
  readonly vmId: string;
  /** Serialises disk and mount operations on this VM. */
  readonly lock = new Mutex();
  readonly started = new OneShot();
  readonly stopped = new OneShot();
  readonly attachedVhds = new Map<string, AttachedVhd>();
  /** Union mount guest path -> reference count. */
  readonly unionMounts = new Map<string, number>();
  attachCounter = 0;
  scratchAttached = false;
  /** UvmTimeoutSeconds, parsed when this VM was started. */
  timeoutSeconds = DEFAULT_UVM_TIMEOUT_SECONDS;
  /** Set once the backend started it. */
  vm: BackendVm | undefined;

  constructor(vmId: string) {
    this.vmId = vmId;
  }
}
