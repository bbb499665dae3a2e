// rootfs: a Debian bookworm minbase tree (debootstrap, tarred as pax with atime and ctime), the
// shape of a real base layer, against hcsshim with -overlay -vhd and with -overlay -verity -vhd.
// Targets: <= 0.8 x hcsshim, <= 0.5 x hcsshim with -verity, peak RSS <= 160 MiB. Skipped, saying
// why, where debootstrap cannot run (not installed, not root, no mirror).

import { LAYER_FLAGS, tar2ext4Spec } from './lib/commands.js';
import { hcsshimRef, hcsshimSpecs } from './lib/hcsshim.js';
import { rootfsTar, rootfsUnavailable } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure } from './lib/measure.js';

export const name = 'rootfs';
const VERITY_FLAGS = ['-overlay', '-verity', '-vhd'];

function addCase(report, caseName, tar, flags, target) {
  const m = measure([tar2ext4Spec('lcow', tar, flags), ...hcsshimSpecs(tar, flags)], `rootfs ${caseName}`);
  report.add({
    scenario: name,
    case: caseName,
    input: tar,
    subject: m.lcow,
    refs: [hcsshimRef(m, target)],
    limits: [{ name: 'peak RSS MiB', value: m.lcow.rssMiB, target: '<=160' }],
  });
}

export async function run(report) {
  const why = rootfsUnavailable();
  if (why) {
    report.skip(name, why);
    return;
  }
  const tar = rootfsTar();
  addCase(report, 'rootfs.tar', tar, LAYER_FLAGS, '<=0.8');
  addCase(report, 'rootfs.tar -verity', tar, VERITY_FLAGS, '<=0.5');
}

if (isMain(import.meta.url)) await runScenarios([{ name, run }]);
