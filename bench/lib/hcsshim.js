// The hcsshim column: every scenario measures hcsshim's tar2ext4 (LCOW_BENCH_HCSSHIM) in the
// same rounds as ours, on the same input with the same flags, or reports the column skipped.

import { hcsshimPath, hcsshimSpec, HCSSHIM_UNSET, LAYER_FLAGS } from './commands.js';

/** The hcsshim spec for `tar` with `flags`, in a list to spread into measure()'s specs. */
export function hcsshimSpecs(tar, flags = LAYER_FLAGS) {
  const binary = hcsshimPath();
  return binary ? [hcsshimSpec(binary, tar, flags)] : [];
}

/** The report's reference to hcsshim: its measurement, or a skipped column saying why. */
export function hcsshimRef(m, target) {
  return m.hcsshim ? { name: 'hcsshim', m: m.hcsshim, target } : { name: 'hcsshim', skipped: HCSSHIM_UNSET, target };
}
