// Runs every scenario (npm run bench), or those named: node bench/run.js bigfile wide

import * as bigfile from './bigfile.js';
import * as tree from './tree.js';
import * as wide from './wide.js';
import * as verity from './verity.js';
import * as startup from './startup.js';
import * as image from './image.js';
import * as rootfs from './rootfs.js';
import * as rootDigest from './root-digest.js';
import { runScenarios } from './lib/main.js';

const all = [startup, bigfile, rootfs, tree, verity, rootDigest, wide, image];
const names = process.argv.slice(2);
const unknown = names.filter((n) => !all.some((s) => s.name === n));
if (unknown.length) {
  process.stderr.write(`bench: unknown scenario ${unknown.join(', ')}; choose from ${all.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}
const chosen = all.filter((s) => !names.length || names.includes(s.name));
await runScenarios(chosen, { all: chosen.length === all.length });
