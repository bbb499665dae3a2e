// The two properties, run on a WorkerPool: used by test/property.test.js (short run) and
// test/fuzz/run.js (long run). Cases come from fast-check arbitraries with fc.sample in
// batches (seed + batch number), so case N of a seed is always the same input, and all
// cases run even after a failure: a fuzzer wants every distinct failure, not the first.
// No side effects on import: node --test runs every .js file under test/ as a test file.

import fc from 'fast-check';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../helpers/corpus.js';
import { treeArb, treeToJson } from './arbitraries.js';
import { applyCase, caseArb } from './mutate.js';

export const TREE_OPTION_SETS = [[], ['overlay'], ['inline']];
const BATCH = 500;
const MAX_SAVED_PER_SIGNATURE = 3;

function* sampleCases(arb, seed, runs) {
  for (let start = 0, batch = 0; start < runs; start += BATCH, batch++) {
    const values = fc.sample(arb, { seed: (seed + batch) | 0, numRuns: Math.min(BATCH, runs - start) });
    for (let i = 0; i < values.length; i++) yield { index: start + i, value: values[i] };
  }
}

/** Runs fn over items with at most `limit` in flight. */
async function forEachConcurrent(items, limit, fn) {
  const iterator = items[Symbol.iterator]();
  const lane = async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) await fn(next.value);
  };
  await Promise.all(Array.from({ length: limit }, lane));
}

/** A failure's kind and message with names and numbers blanked, to group repeats of one bug. */
export function signatureOf(problem) {
  const msg = (problem.message ?? '')
    .split('\n')[0]
    .replace(/"[^"]*"|'[^']*'/g, '…')
    .replace(/(Symlink|Inode|Directory inode|Entry) .*? \(/, '$1 … (') // e2fsck names the path
    .replace(/\b\d+\b/g, 'N')
    .slice(0, 120);
  return `${problem.kind}${problem.code ? ` ${problem.code}` : ''}: ${msg}`;
}

const CLI_FLAGS = { overlay: '--overlay', inline: '--inline', vhd: '--vhd', backslash: '--convert-backslash' };

/** The lcow CLI flags of an option set (for the reproduce command of a failure). */
export function cliFlags(options) {
  return options.every((o) => typeof o === 'string') ? options.map((o) => CLI_FLAGS[o]).join(' ') : '';
}

/**
 * Collects outcomes and failures; saves each failing input (at most a few per signature) to
 * `failuresDir` as <name>.tar (or .tar.gz) with <name>.json: seed, case, options, problems.
 */
export class Tally {
  constructor({ failuresDir, seed }) {
    this.failuresDir = failuresDir;
    this.seed = seed;
    this.cases = 0;
    this.failures = [];
    this.outcomes = new Map();
    this.signatures = new Map(); // signature -> {count, saved: [paths]}
  }

  record(property, index, reply, input, details) {
    this.cases++;
    this.outcomes.set(reply.outcome, (this.outcomes.get(reply.outcome) ?? 0) + 1);
    if (!reply.problems.length) return;
    const signature = signatureOf(reply.problems[0]);
    const entry = this.signatures.get(signature) ?? { count: 0, saved: [] };
    this.signatures.set(signature, entry);
    entry.count++;
    const failure = { property, seed: this.seed, case: index, ...details, error: reply.error ?? null, problems: reply.problems, signature };
    if (this.failuresDir && entry.saved.length < MAX_SAVED_PER_SIGNATURE) {
      fs.mkdirSync(this.failuresDir, { recursive: true });
      const gz = input[0] === 0x1f && input[1] === 0x8b;
      const base = `${property}-${reply.problems[0].kind}-${createHash('sha256').update(input).digest('hex').slice(0, 12)}`;
      failure.input = path.join(this.failuresDir, `${base}.tar${gz ? '.gz' : ''}`);
      fs.writeFileSync(failure.input, input);
      failure.cli = `node dist/host/cli/lcow.js convert ${path.relative(REPO, failure.input)} -o /tmp/out.img ${cliFlags(details.options)}`.trim();
      const bytesAsHex = (k, v) => (v instanceof Uint8Array || v?.type === 'Buffer' ? `hex:${Buffer.from(v.data ?? v).toString('hex')}` : v);
      fs.writeFileSync(path.join(this.failuresDir, `${base}.json`), `${JSON.stringify(failure, bytesAsHex, 2)}\n`);
      entry.saved.push(failure.input);
    }
    this.failures.push(failure);
  }

  /** Human summary: outcome counts and one line per distinct failure. */
  summary() {
    const lines = [`outcomes: ${[...this.outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`];
    for (const [sig, { count, saved }] of this.signatures) lines.push(`FAIL x${count} ${sig}${saved.length ? `\n    reproducer: ${saved[0]}` : ''}`);
    return lines.join('\n');
  }
}

/**
 * Property (b): mutated seed tars convert cleanly or fail cleanly (see worker.js); every
 * image gets e2fsck -fn (cheap next to the conversion itself on these small images).
 */
export async function runMutations({ pool, seeds, seed, runs, workDir, tally, onProgress }) {
  const cases = sampleCases(caseArb(seeds.length), seed, runs);
  await forEachConcurrent(cases, pool.size, async ({ index, value }) => {
    const input = applyCase(seeds, value);
    const file = path.join(workDir, `case-${index}.tar`);
    fs.writeFileSync(file, input);
    const reply = await pool.run({ kind: 'convert', input: file, options: value.options });
    fs.rmSync(file, { force: true });
    const seedTar = seeds[value.seed % seeds.length].name;
    tally.record('mutation', index, reply, input, { seedTar, options: value.options, ops: value.ops, gzip: value.gzip });
    onProgress?.();
  });
}

/** Property (a): random trees written by Python's tarfile (PAX or GNU) read back through debugfs. */
export async function runTrees({ pool, seed, runs, workDir, tally, onProgress }) {
  const cases = sampleCases(treeArb({ formats: ['pax', 'gnu'] }), seed, runs);
  await forEachConcurrent(cases, pool.size, async ({ index, value }) => {
    const tarPath = path.join(workDir, `tree-${index}.tar`);
    const reply = await pool.run({ kind: 'tree', tree: value, tarPath, optionSets: TREE_OPTION_SETS }, 120_000);
    const input = fs.existsSync(tarPath) ? fs.readFileSync(tarPath) : Buffer.from(treeToJson(value));
    fs.rmSync(tarPath, { force: true });
    tally.record('tree', index, reply, input, { options: reply.problems[0]?.options ?? TREE_OPTION_SETS });
    onProgress?.();
  });
}
