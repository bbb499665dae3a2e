// The measured commands, as measure() specs: the converter and the reference tools, each writing
// to a scratch path in .bench/ that is removed (untimed) after every run.

import fs from 'node:fs';
import path from 'node:path';
import { toolPath } from '../../test/helpers/corpus.js';
import { BENCH_DIR, REPO, benchPath, freshDir, rm } from './inputs.js';

export const LCOW = path.join(REPO, 'dist', 'host', 'cli', 'lcow.js');
export const TAR2EXT4 = path.join(REPO, 'dist', 'host', 'cli', 'tar2ext4.js');
/** The flags moby's lcow driver gives tar2ext4, and the ones every hcsshim comparison uses. */
export const LAYER_FLAGS = ['-overlay', '-vhd'];

export function mke2fsPath() {
  const p = toolPath('mke2fs');
  if (!p) throw new Error('bench: mke2fs (e2fsprogs) not found in PATH, /usr/sbin or /sbin');
  return p;
}

function requireBuild(file) {
  if (!fs.existsSync(file)) throw new Error(`bench: ${file} missing: run npm run build first`);
}

/**
 * A hcsshim tar2ext4 binary to compare with (LCOW_BENCH_HCSSHIM; README "Performance" says how
 * to build one), or null when unset. A set but unusable path is an error, not a silent skip.
 */
export function hcsshimPath() {
  const p = process.env.LCOW_BENCH_HCSSHIM;
  if (!p) return null;
  try {
    fs.accessSync(p, fs.constants.X_OK);
  } catch {
    throw new Error(`bench: LCOW_BENCH_HCSSHIM=${p} is not an executable file`);
  }
  return path.resolve(p);
}

export const HCSSHIM_UNSET = 'LCOW_BENCH_HCSSHIM unset: no hcsshim column (README "Performance" says how to build one)';

/**
 * Our tar2ext4 with hcsshim's flags (default -overlay -vhd). No -log-level: loading the logger
 * is start-up time the user does not pay; `probe` is the same command with -log-level info,
 * run once untimed for the "converted" line (engine memory).
 */
export function tar2ext4Spec(name, tar, flags = LAYER_FLAGS) {
  requireBuild(TAR2EXT4);
  const out = benchPath('out.img');
  const argv = [process.execPath, TAR2EXT4, '-i', tar.path, '-o', out, ...flags];
  return { name, argv, probe: [...argv, '-log-level', 'info'], before: () => rm(out), after: () => removeLcowOutputs() };
}

/** hcsshim's tar2ext4 with the same flags, writing its own scratch file. */
export function hcsshimSpec(binary, tar, flags = LAYER_FLAGS) {
  const out = benchPath('hcsshim.img');
  return { name: 'hcsshim', argv: [binary, '-i', tar.path, '-o', out, ...flags], before: () => rm(out), after: () => rm(out) };
}

/** lcow convert (the friendlier CLI; without --sync it does not flush, like cp and tar -xf). */
export function lcowSpec(name, tar, extra = []) {
  requireBuild(LCOW);
  const out = benchPath('out.img');
  const argv = [process.execPath, LCOW, 'convert', tar.path, '-o', out, ...extra];
  return { name, argv, probe: [...argv, '--log-level', 'info'], before: () => rm(out), after: () => removeLcowOutputs() };
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
  for (const n of ['copy.tar', 'mke2fs.img', 'hcsshim.img', 'untar']) rm(benchPath(n));
}
