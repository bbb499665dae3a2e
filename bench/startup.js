// startup: converting an empty tar is all fixed cost (node, module loading, Wasm instantiation,
// creating the image), compared with a bare `node -e 0`. No target: reported for tracking.

import { lcowSpec } from './lib/commands.js';
import { corpusTar } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure, median } from './lib/measure.js';

export const name = 'startup';

export async function run(report) {
  const tar = await corpusTar('empty.tar');
  const m = measure([lcowSpec('lcow', tar), { name: 'node -e 0', argv: [process.execPath, '-e', '0'] }], 'startup empty.tar');
  report.add({
    scenario: name,
    case: 'empty.tar',
    input: tar,
    subject: m.lcow,
    refs: [{ name: 'node -e 0', m: m['node -e 0'] }],
    limits: [{ name: 'lcow own s', digits: 3, value: m.lcow.logs.length ? median(m.lcow.logs.map((j) => j.seconds)) : null }],
  });
}

if (isMain(import.meta.url)) await runScenarios([{ name, run }]);
