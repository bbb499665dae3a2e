// root-digest: lcow root-digest of the tree tar with TMPDIR on a 64 MiB tmpfs, far smaller than
// the image: the digest must come without writing the image anywhere, in bounded memory (peak
// RSS <= 160 MiB), against the same conversion writing a -verity image. Skipped, saying why,
// where a tmpfs cannot be mounted (not root).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { LCOW, tar2ext4Spec } from './lib/commands.js';
import { benchPath, treeTar } from './lib/inputs.js';
import { isMain, runScenarios } from './lib/main.js';
import { measure } from './lib/measure.js';

export const name = 'root-digest';
const TMPDIR_MIB = 64;

/** Mounts a TMPDIR_MIB tmpfs, runs fn(dir), and unmounts it whatever happens. */
async function withSmallTmpdir(fn) {
  const dir = benchPath('small-tmpdir');
  fs.mkdirSync(dir, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPDIR_MIB}m,mode=1777`, 'lcow-bench-tmpdir', dir], { encoding: 'utf8' });
  if (mounted.status !== 0) return `cannot mount a ${TMPDIR_MIB} MiB tmpfs: ${(mounted.stderr || mounted.error?.message || '').trim()}`;
  try {
    await fn(dir);
  } finally {
    const r = spawnSync('umount', [dir], { encoding: 'utf8' });
    if (r.status !== 0) process.stderr.write(`bench: umount ${dir} failed: ${r.stderr.trim()}\n`);
    fs.rmdirSync(dir);
  }
  return null;
}

export async function run(report) {
  const tar = treeTar();
  const why = await withSmallTmpdir(async (tmpdir) => {
    const digest = { name: 'lcow root-digest', argv: [process.execPath, LCOW, 'root-digest', tar.path], env: { TMPDIR: tmpdir } };
    const m = measure([digest, tar2ext4Spec('tar2ext4 -verity', tar, ['-overlay', '-verity', '-maxsize', String(128 * 2 ** 30)])], `root-digest tree.tar (TMPDIR ${TMPDIR_MIB} MiB)`);
    report.add({
      scenario: name,
      case: `tree, ${TMPDIR_MIB}MiB TMPDIR`,
      input: tar,
      subject: m['lcow root-digest'],
      refs: [{ name: 'tar2ext4 -verity', m: m['tar2ext4 -verity'] }],
      limits: [{ name: 'peak RSS MiB', value: m['lcow root-digest'].rssMiB, target: '<=160' }],
    });
  });
  if (why) report.skip(name, why);
}

if (isMain(import.meta.url)) await runScenarios([{ name, run }]);
