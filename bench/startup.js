// startup: converting an empty tar is all fixed cost (node, module loading, Wasm instantiation,
// creating the image), against a bare `node -e 0` (target: within 1.5x) and hcsshim's tar2ext4.

import { tar2ext4Spec } from './lib/commands.js';
import { hcsshimRef, hcsshimSpecs } from './lib/hcsshim.js';
import { corpusTar } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure, median } from './lib/measure.js';

export const name = 'startup';

export async function run(report) {
  const tar = await corpusTar('empty.tar');
  const m = measure([tar2ext4Spec('lcow', tar), { name: 'node -e 0', argv: [process.execPath, '-e', '0'] }, ...hcsshimSpecs(tar)], 'startup empty.tar');
  report.add({
    scenario: name,
    case: 'empty.tar',
    input: tar,
    subject: m.lcow,
    refs: [{ name: 'node -e 0', m: m['node -e 0'], target: '<=1.5' }, hcsshimRef(m)],
    limits: [{ name: 'lcow own s', digits: 3, value: m.lcow.logs.length ? median(m.lcow.logs.map((j) => j.seconds)) : null }],
  });
}

if (isMain(import.meta.url)) await runScenarios([{ name, run }]);
