// Which disk a layer folder holds (spec/driver.md §2 "layer details"): layer.vhd for a
// read-only layer, else sandbox.vhdx for a read-write one.

import { statSync } from 'node:fs';
import { join } from 'node:path';
import { LcowError } from '../host/errors.js';

export const LAYER_FILE = 'layer.vhd';
export const SANDBOX_FILE = 'sandbox.vhdx';

export interface LayerDisk {
  folder: string;
  hostPath: string;
  readOnly: boolean;
  size: number;
}

export function layerDiskOf(folder: string): LayerDisk {
  for (const [name, readOnly] of [[LAYER_FILE, true], [SANDBOX_FILE, false]] as const) {
    const hostPath = join(folder, name);
    try {
      return { folder, hostPath, readOnly, size: statSync(hostPath).size };
    } catch {
      // not this one
    }
  }
  throw new LcowError('DRIVER_NO_DISK', `failed to locate layer or sandbox in ${folder}`);
}
