// export: Diff (layer.vhd -> OCI tar) and DiffGetter (every regular file read through
// layerFile) on the tree input converted as ApplyDiff converts it, against cp of the tar and
// cat of every file of the extracted tree; then Diff of the 1,000,000-entry layer for memory.
// MB/s counts the tree tar's bytes (the export is about the same size). Peak RSS is the
// check that matters: it must not grow with the layer (targets: <= 200 MiB for the tree,
// <= 400 MiB for 1M entries).
//
// Run alone: node bench/export.js. The same file is the measured child:
//   node bench/export.js diff <layer.vhd> <out.tar>   |   node bench/export.js cat <layer.vhd>

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { LCOW, cpSpec } from './lib/commands.js';
import { benchPath, rm, treeExtracted, treeTar, wideTar } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure } from './lib/measure.js';

export const name = 'export';
const SELF = fileURLToPath(import.meta.url);
const DIST = new URL('../dist/', import.meta.url);

async function openLayer(vhd) {
  const { Ext4Reader } = await import(new URL('host/ext4/reader.js', DIST));
  const { openImageSource } = await import(new URL('host/ext4/source.js', DIST));
  return { reader: Ext4Reader.open(openImageSource(vhd)), root: '/' };
}

/** The measured child: diff writes the tar to a file, cat reads every regular file and discards it. */
async function child(op, vhd, out) {
  const exporters = await import(new URL('driver/export/layer-tar.js', DIST));
  const view = await openLayer(vhd);
  try {
    if (op === 'diff') {
      await pipeline(exporters.layerTar(view), fs.createWriteStream(out));
      return;
    }
    let bytes = 0;
    for (const e of view.reader.walk()) {
      if (e.inode.type !== 'file') continue;
      for await (const chunk of exporters.layerFile(view, e.path)) bytes += chunk.length;
    }
    process.stdout.write(`${bytes}\n`);
  } finally {
    view.reader.close();
  }
}

/** Converts a tar as ApplyDiff does (untimed set-up). */
function layerOf(tar, file) {
  const vhd = benchPath(file);
  rm(vhd);
  const r = spawnSync(process.execPath, [LCOW, 'convert', tar.path, '-o', vhd, '--overlay', '--vhd', '--max-size', '128GiB', '--no-sync'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench: converting ${tar.path} failed: ${r.stderr.trim()}`);
  return vhd;
}

function exportSpec(label, vhd) {
  const out = benchPath('export.tar');
  return { name: label, argv: [process.execPath, SELF, 'diff', vhd, out], before: () => rm(out), after: () => rm(out) };
}

export async function run(report) {
  const tar = treeTar();
  const dir = treeExtracted(tar);
  const vhd = layerOf(tar, 'export-tree.vhd');
  try {
    const catAll = { name: 'cat every file', argv: ['sh', '-c', `find '${dir}' -type f -exec cat {} + > /dev/null`] };
    const m = measure([exportSpec('diff', vhd), cpSpec(tar), { name: 'cat', argv: [process.execPath, SELF, 'cat', vhd] }, catAll], 'export tree');
    report.add({ scenario: name, case: 'diff tree', input: tar, subject: m.diff, refs: [{ name: 'cp', m: m.cp }], limits: [{ name: 'peak RSS MiB', value: m.diff.rssMiB, target: '<=200' }] });
    report.add({ scenario: name, case: 'cat tree', input: tar, subject: m.cat, refs: [{ name: 'cat every file', m: m['cat every file'] }], limits: [{ name: 'peak RSS MiB', value: m.cat.rssMiB, target: '<=200' }] });
  } finally {
    rm(vhd);
  }
  const wide = wideTar();
  const wideVhd = layerOf(wide, 'export-wide.vhd');
  try {
    const m = measure([exportSpec('diff', wideVhd)], 'export 1000x1000');
    report.add({ scenario: name, case: 'diff 1000x1000', input: wide, subject: m.diff, limits: [{ name: 'peak RSS MiB', value: m.diff.rssMiB, target: '<=400' }] });
  } finally {
    rm(wideVhd);
  }
}

if (isMain(import.meta.url)) {
  const [op, vhd, out] = process.argv.slice(2);
  if (op === 'diff' || op === 'cat') await child(op, path.resolve(vhd), out && path.resolve(out));
  else await runScenarios([{ name, run }]);
}
