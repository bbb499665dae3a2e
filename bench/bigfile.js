// bigfile: one 128 MiB file (corpus bigfile.tar). The converter should stream data at about the
// speed of a plain copy of the tar. Targets: <= 1.0 x hcsshim, <= 1.10 x cp, peak RSS <= 160 MiB.

import { cpSpec, tar2ext4Spec } from './lib/commands.js';
import { hcsshimRef, hcsshimSpecs } from './lib/hcsshim.js';
import { corpusTar } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure } from './lib/measure.js';

export const name = 'bigfile';

export async function run(report) {
  const tar = await corpusTar('bigfile.tar');
  const m = measure([tar2ext4Spec('lcow', tar), cpSpec(tar), ...hcsshimSpecs(tar)], 'bigfile bigfile.tar');
  report.add({
    scenario: name,
    case: 'bigfile.tar',
    input: tar,
    subject: m.lcow,
    refs: [hcsshimRef(m, '<=1.0'), { name: 'cp', m: m.cp, target: '<=1.10' }],
    limits: [{ name: 'peak RSS MiB', value: m.lcow.rssMiB, target: '<=160' }],
  });
}

if (isMain(import.meta.url)) await runScenarios([{ name, run }]);
