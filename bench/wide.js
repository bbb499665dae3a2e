// wide: many small entries, where per-entry cost dominates, against tar -xf of the same tar into
// a fresh folder. wide.tar (corpus: 20,000 entries in one directory) is reported without a
// target; the generated 1,000 x 1,000 tar has the targets: <= 0.5 x tar -xf, engine memory
// <= 200 bytes per inode (engineMemoryBytes / tar entries), peak RSS <= 600 MiB.

import { lcowSpec, untarSpec } from './lib/commands.js';
import { corpusTar, wideTar } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure } from './lib/measure.js';

export const name = 'wide';

function addCase(report, caseName, tar, targets) {
  const m = measure([lcowSpec('lcow', tar), untarSpec(tar)], `wide ${caseName}`);
  const engine = m.lcow.engineMemoryBytes;
  report.add({
    scenario: name,
    case: caseName,
    input: tar,
    subject: m.lcow,
    refs: [{ name: 'tar -xf', m: m['tar -xf'], target: targets.ratio }],
    limits: [
      { name: 'engine B/inode', value: engine == null ? null : engine / tar.entries, target: targets.bytesPerInode },
      { name: 'peak RSS MiB', value: m.lcow.rssMiB, target: targets.rssMiB },
    ],
  });
}

export async function run(report) {
  addCase(report, 'wide.tar', await corpusTar('wide.tar'), {});
  addCase(report, '1000x1000', wideTar(), { ratio: '<=0.5', bytesPerInode: '<=200', rssMiB: '<=600' });
}

if (isMain(import.meta.url)) await runScenarios([{ name, run }]);
