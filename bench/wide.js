// wide: many small entries, where per-entry cost dominates, against hcsshim and tar -xf of the
// same tar into a fresh folder. wide.tar (corpus: 20,000 entries in one directory): <= 0.5 x
// hcsshim, peak RSS <= 160 MiB. The generated 1,000 x 1,000 tar: <= 0.5 x tar -xf, engine
// memory <= 200 bytes per inode (engineMemoryBytes / tar entries), peak RSS <= 600 MiB.

import { tar2ext4Spec, untarSpec } from './lib/commands.js';
import { hcsshimRef, hcsshimSpecs } from './lib/hcsshim.js';
import { corpusTar, wideTar } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure } from './lib/measure.js';

export const name = 'wide';

function addCase(report, caseName, tar, targets) {
  const m = measure([tar2ext4Spec('lcow', tar), untarSpec(tar), ...hcsshimSpecs(tar)], `wide ${caseName}`);
  const engine = m.lcow.engineMemoryBytes;
  report.add({
    scenario: name,
    case: caseName,
    input: tar,
    subject: m.lcow,
    refs: [hcsshimRef(m, targets.hcsshim), { name: 'tar -xf', m: m['tar -xf'], target: targets.untar }],
    limits: [
      { name: 'engine B/inode', value: engine == null ? null : engine / tar.entries, target: targets.bytesPerInode },
      { name: 'peak RSS MiB', value: m.lcow.rssMiB, target: targets.rssMiB },
    ],
  });
}

export async function run(report) {
  addCase(report, 'wide.tar', await corpusTar('wide.tar'), { hcsshim: '<=0.5', rssMiB: '<=160' });
  addCase(report, '1000x1000', wideTar(), { untar: '<=0.5', bytesPerInode: '<=200', rssMiB: '<=600' });
}

if (isMain(import.meta.url)) await runScenarios([{ name, run }]);
