// The valid tars the mutation property starts from: the small corpus tars, the sample
// layer, a few random trees written by Python's tarfile (PAX and GNU), and GNU tar's own
// sparse members (old GNU, PAX 0.1, PAX 1.0) so the sparse-map readers get mutated too.
// No side effects on import: node --test runs every .js file under test/ as a test file.

import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, corpusDir, hasTool } from '../helpers/corpus.js';
import { treeArb, writeTreeTar } from './arbitraries.js';

const MAX_SEED_BYTES = 64 << 10; // small seeds keep each case (and its e2fsck) fast

function gnuTarSparseSeeds(dir) {
  if (!hasTool('tar')) return [];
  const src = path.join(dir, 'sparse-src');
  fs.mkdirSync(src, { recursive: true });
  const file = path.join(src, 'sparse.bin');
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, 300 * 1024 + 7);
  fs.writeSync(fd, Buffer.from('start'), 0, 5, 0);
  fs.writeSync(fd, Buffer.alloc(5000, 0x5a), 0, 5000, 100 * 1024);
  fs.writeSync(fd, Buffer.from('end'), 0, 3, 300 * 1024 + 4);
  fs.closeSync(fd);
  const formats = {
    'gnu-sparse-old': ['--format=gnu'],
    'gnu-sparse-pax01': ['--format=pax', '--sparse-version=0.1'],
    'gnu-sparse-pax10': ['--format=pax', '--sparse-version=1.0'],
  };
  return Object.entries(formats).map(([name, flags]) => {
    const out = path.join(dir, `${name}.tar`);
    const r = spawnSync('tar', ['-C', src, '--sparse', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', ...flags, '-cf', out, 'sparse.bin'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tar ${flags.join(' ')}: ${r.stderr}`);
    return { name, bytes: fs.readFileSync(out) };
  });
}

/** [{name, bytes}] of seed tars; generated ones are written under `dir`. */
export async function mutationSeeds(dir) {
  const corpus = await corpusDir();
  const seeds = [];
  for (const f of fs.readdirSync(corpus).filter((f) => f.endsWith('.tar')).sort()) {
    const p = path.join(corpus, f);
    if (fs.statSync(p).size <= MAX_SEED_BYTES) seeds.push({ name: f, bytes: fs.readFileSync(p) });
  }
  seeds.push({ name: 'sample-layer.tar', bytes: fs.readFileSync(path.join(REPO, 'fixtures', 'sample-layer.tar')) });
  const trees = fc.sample(treeArb({ maxEntries: 8, maxFileSize: 6000, formats: ['pax', 'gnu'] }), { seed: 5, numRuns: 6 });
  trees.forEach((tree, i) => {
    const p = path.join(dir, `tree-${i}.tar`);
    writeTreeTar(tree, p);
    seeds.push({ name: `tree-${i}-${tree.format}.tar`, bytes: fs.readFileSync(p) });
  });
  seeds.push(...gnuTarSparseSeeds(dir));
  return seeds;
}
