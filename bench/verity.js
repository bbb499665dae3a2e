// verity: the tree tar converted with --verity (dm-verity hash tree appended) against the same
// conversion without it. Target: verity adds at most 35% (ratio <= 1.35).

import { lcowSpec } from './lib/commands.js';
import { treeTar } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure } from './lib/measure.js';

export const name = 'verity';

export async function run(report) {
  const tar = treeTar();
  const m = measure([lcowSpec('lcow --verity', tar, ['--verity']), lcowSpec('lcow', tar)], 'verity tree.tar');
  report.add({
    scenario: name,
    case: 'tree.tar',
    input: tar,
    subject: m['lcow --verity'],
    refs: [{ name: 'lcow', m: m.lcow, target: '<=1.35' }],
    limits: [{ name: 'peak RSS MiB', value: m['lcow --verity'].rssMiB }],
  });
}

if (isMain(import.meta.url)) await runScenarios([{ name, run }]);
