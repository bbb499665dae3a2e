// The measured commands, as measure() specs: the converter and the reference tools, each writing
// to a scratch path in .bench/ that is removed (untimed) after every run.

import fs from 'node:fs';
import path from 'node:path';
import { toolPath } from '../../test/helpers/corpus.js';
import { BENCH_DIR, REPO, benchPath, freshDir, rm } from './inputs.js';

export const LCOW = path.join(REPO, 'dist', 'host', 'cli', 'lcow.js');

export function mke2fsPath() {
  const p = toolPath('mke2fs');
  if (!p) throw new Error('bench: mke2fs (e2fsprogs) not found in PATH, /usr/sbin or /sbin');
  return p;
}

/**
 * lcow convert; --log-level info makes it print the "converted" line (engineMemoryBytes, ...).
 * --no-sync: cp and tar -xf leave their output in the page cache too, so the converter
 * skips its final fsync here (mke2fs does flush; the report says so).
 */
export function lcowSpec(name, tar, extra = []) {
  if (!fs.existsSync(LCOW)) throw new Error(`bench: ${LCOW} missing: run npm run build first`);
  const out = benchPath('out.img');
  return {
    name,
    argv: [process.execPath, LCOW, 'convert', tar.path, '-o', out, '--no-sync', ...extra, '--log-level', 'info'],
    before: () => rm(out),
    after: () => removeLcowOutputs(),
  };
}

/** out.img and any temporary a killed conversion left beside it (.out.img.<hex>.tmp). */
export function removeLcowOutputs() {
  rm(benchPath('out.img'));
  for (const f of fs.readdirSync(BENCH_DIR)) if (/^\.out\.img\..*\.tmp$/.test(f)) rm(path.join(BENCH_DIR, f));
}

export function cpSpec(tar) {
  const out = benchPath('copy.tar');
  return { name: 'cp', argv: ['cp', tar.path, out], before: () => rm(out), after: () => rm(out) };
}

/** tar -xf into a fresh, empty folder each run. */
export function untarSpec(tar) {
  const dir = benchPath('untar');
  return { name: 'tar -xf', argv: ['tar', '-xf', tar.path, '-C', dir], before: () => freshDir(dir), after: () => rm(dir) };
}

/** mke2fs -d of an extracted tree into a new image file of `bytes` (mke2fs creates it). */
export function mke2fsSpec(dir, bytes) {
  const img = benchPath('mke2fs.img');
  const mib = Math.ceil(bytes / 2 ** 20);
  return {
    name: 'mke2fs -d',
    argv: [mke2fsPath(), '-q', '-F', '-t', 'ext4', '-d', dir, img, `${mib}M`],
    before: () => rm(img),
    after: () => rm(img),
  };
}

/** Every scratch output above (end of a scenario, also after a failure); cached inputs stay. */
export function removeOutputs() {
  removeLcowOutputs();
  for (const n of ['copy.tar', 'mke2fs.img', 'untar']) rm(benchPath(n));
}
