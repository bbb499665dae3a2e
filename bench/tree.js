// tree: a tar of a real tree on this machine (default /usr/share; BENCH_TREE to change), against
// copying the tar, against mke2fs -d building an ext4 image from the extracted tree, and against
// hcsshim. Targets: <= 1.2 x cp, < 1.0 x mke2fs -d, peak RSS <= 160 MiB.

import { cpSpec, mke2fsSpec, tar2ext4Spec } from './lib/commands.js';
import { hcsshimRef, hcsshimSpecs } from './lib/hcsshim.js';
import { treeExtracted, treeTar } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure } from './lib/measure.js';

export const name = 'tree';

export async function run(report) {
  const tar = treeTar();
  const dir = treeExtracted(tar);
  // Room for the data plus ext4 metadata and journal, rounded up to MiB by mke2fsSpec.
  const imageBytes = 1.5 * tar.bytes + 64 * 2 ** 20;
  const m = measure([tar2ext4Spec('lcow', tar), cpSpec(tar), mke2fsSpec(dir, imageBytes), ...hcsshimSpecs(tar)], 'tree tree.tar');
  report.add({
    scenario: name,
    case: 'tree.tar',
    input: tar,
    subject: m.lcow,
    refs: [
      { name: 'cp', m: m.cp, target: '<=1.2' },
      { name: 'mke2fs -d', m: m['mke2fs -d'], target: '<1.0' },
      hcsshimRef(m),
    ],
    limits: [{ name: 'peak RSS MiB', value: m.lcow.rssMiB, target: '<=160' }],
  });
}

if (isMain(import.meta.url)) await runScenarios([{ name, run }]);
