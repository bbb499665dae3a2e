// Long-run fuzzer for both properties (issue #5):
//   npm run fuzz -- --runs N [--seed S] [--tree-runs M] [--jobs J] [--timeout MS]
//   npm run fuzz -- --replay .fuzz/failures/<name>.json   (runs one saved failure again)
// --runs drives the mutation property; the tree property runs --tree-runs cases (default
// max(20, N/1000)). Failing inputs go to .fuzz/failures/ with a .json beside each (seed,
// case number, options, the one-line error, the problems). Exit status 1 on any failure.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO } from '../helpers/corpus.js';
import { WorkerPool } from './pool.js';
import { Tally, runMutations, runTrees } from './properties.js';
import { mutationSeeds } from './seeds.js';

// A bare `node --test` runs every .js file under test/; the fuzzer is not a test file.
if (process.env.NODE_TEST_CONTEXT) process.exit(0);

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    seed: { type: 'string' },
    'tree-runs': { type: 'string' },
    jobs: { type: 'string', default: '2' },
    timeout: { type: 'string', default: '10000' },
    replay: { type: 'string' },
  },
});

if (args.replay) {
  const failure = JSON.parse(fs.readFileSync(args.replay, 'utf8'));
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lcow-fuzz-'));
  const pool = new WorkerPool({ size: 1, dir: workDir, timeoutMs: Number(args.timeout) });
  const job = failure.property === 'tree'
    ? { kind: 'tree', tarPath: failure.input, optionSets: Array.isArray(failure.options[0]) ? failure.options : [failure.options] }
    : { kind: 'convert', input: failure.input, options: failure.options };
  const reply = await pool.run(job, 120_000);
  await pool.close();
  fs.rmSync(workDir, { recursive: true, force: true });
  console.log(JSON.stringify(reply, null, 2));
  process.exit(reply.problems.length ? 1 : 0);
}
const runs = Number(args.runs);
const treeRuns = args['tree-runs'] === undefined ? Math.max(20, Math.floor(runs / 1000)) : Number(args['tree-runs']);
const seed = args.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(args.seed);
const failuresDir = path.join(REPO, '.fuzz', 'failures');

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
console.log(`fuzz: seed ${seed}, ${runs} mutation cases, ${treeRuns} tree cases, ${args.jobs} workers`);

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lcow-fuzz-'));
const pool = new WorkerPool({ size: Number(args.jobs), dir: workDir, timeoutMs: Number(args.timeout) });
const tally = new Tally({ failuresDir, seed });
let lastReport = Date.now();
const progress = (label, total) => () => {
  if (Date.now() - lastReport < 15_000) return;
  lastReport = Date.now();
  console.log(`fuzz: ${label} ${tally.cases}/${total} cases, ${tally.failures.length} failures, ${elapsed()}`);
};

try {
  const seeds = await mutationSeeds(workDir);
  await runTrees({ pool, seed, runs: treeRuns, workDir, tally, onProgress: progress('trees', treeRuns) });
  await runMutations({ pool, seeds, seed, runs, workDir, tally, onProgress: progress('mutations', treeRuns + runs) });
} finally {
  await pool.close();
  fs.rmSync(workDir, { recursive: true, force: true });
}

console.log(tally.summary());
console.log(`fuzz: ${tally.cases} cases run (${treeRuns} trees, ${runs} mutations), ${tally.failures.length} failures, seed ${seed}, ${elapsed()}`);
if (tally.failures.length) console.log(`fuzz: failing inputs in ${path.relative(process.cwd(), failuresDir) || failuresDir}/`);
process.exitCode = tally.failures.length ? 1 : 0;
