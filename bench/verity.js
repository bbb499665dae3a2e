// verity: the tree tar converted with -verity (dm-verity hash tree appended) against the same
// conversion without it (target: verity adds at most 35%) and against hcsshim -verity.

import { LAYER_FLAGS, tar2ext4Spec } from './lib/commands.js';
import { hcsshimRef, hcsshimSpecs } from './lib/hcsshim.js';
import { treeTar } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure } from './lib/measure.js';

export const name = 'verity';
const VERITY_FLAGS = ['-overlay', '-verity', '-vhd'];

export async function run(report) {
  const tar = treeTar();
  const m = measure([tar2ext4Spec('lcow -verity', tar, VERITY_FLAGS), tar2ext4Spec('lcow', tar, LAYER_FLAGS), ...hcsshimSpecs(tar, VERITY_FLAGS)], 'verity tree.tar');
  report.add({
    scenario: name,
    case: 'tree.tar -verity',
    input: tar,
    subject: m['lcow -verity'],
    refs: [{ name: 'lcow', m: m.lcow, target: '<=1.35' }, hcsshimRef(m)],
    limits: [{ name: 'peak RSS MiB', value: m['lcow -verity'].rssMiB, target: '<=160' }],
  });
}

if (isMain(import.meta.url)) await runScenarios([{ name, run }]);
