// image: a multi-layer `docker save` archive (Docker 20.10 layout) whose four layers are
// GNU tars of the tree (default /usr/share, BENCH_TREE to change), its top-level folders
// split into four groups of about equal size. `lcow image create` (every layer to a layer
// VHD, in parallel) against converting the same layer tars one after the other with
// `lcow convert --overlay --verity --vhd --max-size 128GiB` (the same files, and the
// reference reads already extracted tars). Target: below 1.0 (parallel layers pay off).

import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { LCOW } from './lib/commands.js';
import { BENCH_DIR, TREE_SOURCE, benchPath, freshDir, rm } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure } from './lib/measure.js';

export const name = 'image';
const LAYERS = 4;
const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

function sha256File(file) {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buffer = Buffer.allocUnsafe(1 << 22);
  try {
    for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0;) hash.update(buffer.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** The tree's top-level entries in LAYERS groups of about equal size (largest first, each to the smallest group). */
function groups(root) {
  const sizes = fs.readdirSync(root).map((entry) => {
    const r = spawnSync('du', ['-sk', path.join(root, entry)], { encoding: 'utf8' });
    return { entry, kib: Number(r.stdout.split('\t')[0]) || 0 };
  }).sort((a, b) => b.kib - a.kib);
  const buckets = Array.from({ length: LAYERS }, () => ({ kib: 0, entries: [] }));
  for (const s of sizes) {
    const smallest = buckets.reduce((a, b) => (b.kib < a.kib ? b : a));
    smallest.kib += s.kib;
    smallest.entries.push(s.entry);
  }
  return buckets.filter((b) => b.entries.length > 0).map((b) => b.entries.sort());
}

/** .bench/image/: layer-N.tar, and image.tar made of them; rebuilt when the source changes. */
function imageArchive() {
  const dir = benchPath('image');
  const meta = path.join(dir, 'image.json');
  const root = path.resolve(TREE_SOURCE);
  try {
    const known = JSON.parse(fs.readFileSync(meta, 'utf8'));
    if (known.source === root && fs.statSync(known.archive).size === known.bytes) return known;
  } catch {
    // missing or stale: regenerate
  }
  freshDir(dir);
  const rel = path.relative('/', root);
  const layerTars = groups(root).map((entries, i) => {
    const file = path.join(dir, `layer-${i}.tar`);
    log(`generating ${file} (${entries.length} folders of ${root})`);
    // Exit 1 only means some file changed while being read; unreadable files are skipped.
    const r = spawnSync('tar', ['-cf', file, '--ignore-failed-read', '-C', '/', ...entries.map((e) => path.join(rel, e))], { stdio: ['ignore', 'ignore', 'ignore'] });
    if (r.status !== 0 && r.status !== 1) throw new Error(`bench: tar of ${root} failed (${r.status})`);
    return file;
  });
  const diffIds = layerTars.map(sha256File);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds.map((d) => `sha256:${d}`) } }));
  const configHex = createHash('sha256').update(config).digest('hex');
  const staging = path.join(dir, 'staging');
  freshDir(staging);
  fs.writeFileSync(path.join(staging, `${configHex}.json`), config);
  const layerNames = layerTars.map((file, i) => {
    fs.mkdirSync(path.join(staging, diffIds[i]));
    fs.linkSync(file, path.join(staging, diffIds[i], 'layer.tar'));
    return `${diffIds[i]}/layer.tar`;
  });
  fs.writeFileSync(path.join(staging, 'manifest.json'), JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['bench/image:1'], Layers: layerNames }]));
  const archive = path.join(dir, 'image.tar');
  const r = spawnSync('tar', ['-cf', archive, '-C', staging, '.']);
  if (r.status !== 0) throw new Error('bench: tar of the image staging folder failed');
  rm(staging);
  const made = { source: root, archive, bytes: fs.statSync(archive).size, layerTars, entries: layerTars.length };
  fs.writeFileSync(meta, JSON.stringify(made, null, 2));
  return made;
}

export async function run(report) {
  const image = imageArchive();
  const out = path.join(BENCH_DIR, 'image-out');
  const sequential = image.layerTars
    .map((tar, i) => `"${process.execPath}" "${LCOW}" convert "${tar}" -o "${out}/${i}.vhd" --overlay --verity --vhd --max-size 128GiB --no-sync`)
    .join(' && ');
  const fresh = () => freshDir(out);
  const clean = () => rm(out);
  const m = measure([
    { name: 'lcow image create', argv: [process.execPath, LCOW, 'image', 'create', image.archive, '-o', out, '--no-sync'], before: fresh, after: clean },
    { name: 'lcow convert per layer', argv: ['sh', '-c', sequential], before: fresh, after: clean },
  ], 'image image.tar');
  report.add({
    scenario: name,
    case: `image.tar (${image.layerTars.length} layers)`,
    input: { bytes: image.bytes, entries: image.layerTars.length },
    subject: m['lcow image create'],
    refs: [{ name: 'lcow convert per layer', m: m['lcow convert per layer'], target: '<1.0' }],
    limits: [{ name: 'peak RSS MiB', value: m['lcow image create'].rssMiB }],
  });
}

if (isMain(import.meta.url)) await runScenarios([{ name, run }]);
