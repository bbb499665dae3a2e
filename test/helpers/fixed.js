// Helpers of the profile-fixed tests: the purpose-made tars (fixed_tars.py), a strict
// e2fsck check, read-only kernel loop mounts that are always released, and the tree
// comparison with Python's tarfile (fixed_tree.py).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, hasTool, toolPath, tmpDir } from './corpus.js';

const HERE = path.join(REPO, 'test', 'helpers');

/** Writes the tars of fixed_tars.py into a fresh temp directory and returns it. */
export function fixedTars() {
  const dir = tmpDir('lcow-fixed-tars-');
  const r = spawnSync(toolPath('python3'), [path.join(HERE, 'fixed_tars.py'), dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fixed_tars.py failed: ${r.stderr}`);
  return dir;
}

/**
 * `e2fsck -fn`: exit status and every message besides the banner, the pass headers and
 * the summary line. Clean means exit 0 and no messages.
 */
export function e2fsck(image) {
  const r = spawnSync(toolPath('e2fsck'), ['-fn', image], { encoding: 'utf8', env: { ...process.env, LANG: 'C', LC_ALL: 'C' } });
  const messages = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim())
    .filter((l) => l !== '' && !/^e2fsck \d/.test(l) && !/^Pass \d+[A-Z]?: /.test(l) && !l.startsWith(`${image}: `));
  return { status: r.status, messages };
}

/** Why read-only loop mounts cannot run here, or null. */
export function mountUnavailable() {
  if (process.platform !== 'linux') return `loop mounts need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'loop mounts need root';
  for (const tool of ['losetup', 'mount', 'umount']) if (!hasTool(tool)) return `${tool} not installed`;
  if (!fs.existsSync('/dev/loop-control')) return 'no /dev/loop-control (loop devices unavailable)';
  return null;
}

function run(tool, args) {
  return spawnSync(toolPath(tool) ?? tool, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/**
 * Attaches `image` read-only to a loop device, mounts it read-only at a fresh directory,
 * runs fn(dir), and always unmounts and detaches, whatever fn does.
 */
export async function withReadOnlyMount(image, fn) {
  const attach = run('losetup', ['-f', '--show', '-r', image]);
  if (attach.status !== 0) throw new Error(`losetup -r ${image}: ${attach.stderr.trim()}`);
  const device = attach.stdout.trim();
  const dir = fs.mkdtempSync(path.join(path.dirname(image), 'mnt-'));
  try {
    const m = run('mount', ['-t', 'ext4', '-o', 'ro', device, dir]);
    if (m.status !== 0) throw new Error(`mount ${device}: ${m.stderr.trim()}`);
    try {
      return await fn(dir);
    } finally {
      if (run('umount', [dir]).status !== 0) run('umount', ['-l', dir]);
    }
  } finally {
    run('losetup', ['-d', device]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** fixed_tree.py: the mounted tree against the tar, as Python's tarfile reads it. */
export function compareTreeWithTar(tar, root, { overlay = false } = {}) {
  const r = spawnSync(toolPath('python3'), [path.join(HERE, 'fixed_tree.py'), tar, root, ...(overlay ? ['--overlay'] : [])], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * The output of a listing tool run in `dir` (getfattr -R, getfacl -R), as a map from
 * file name to its sorted lines, so that directory order does not matter.
 */
export function listingByFile(dir, tool, args) {
  const r = spawnSync(toolPath(tool), args, { cwd: dir, encoding: 'utf8', maxBuffer: 256 << 20 });
  const files = new Map();
  let current = null;
  for (const line of r.stdout.split('\n')) {
    const m = /^# file: (?:\.\/)?(.*)$/.exec(line);
    if (m) {
      current = m[1];
      files.set(current, []);
    } else if (line.trim() !== '' && current !== null) {
      files.get(current).push(line);
    }
  }
  for (const lines of files.values()) lines.sort();
  return files;
}
