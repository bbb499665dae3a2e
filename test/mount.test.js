// Loop-mount our images read-only (root only, where the kernel lets us) and compare what the
// kernel's ext4 driver shows with the tar: the same checks as debugfs.test.js, through node:fs.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { corpusDir, golden, goldenImage, hasTool, runTar2ext4, tmpDir, toolPath } from './helpers/corpus.js';
import { checkDirMatchesTar } from './helpers/debugfs.js';

const CASES = ['basic.tar', 'links.tar', 'devices.tar', 'longnames.tar'];

function whyNot() {
  if (process.platform !== 'linux') return `loop mounts need Linux (this is ${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'loop mounts need root';
  if (!hasTool('mount') || !hasTool('umount')) return 'mount/umount not installed';
  return null;
}

const work = tmpDir('lcow-mount-');

function mount(image, dir) {
  return spawnSync(toolPath('mount'), ['-t', 'ext4', '-o', 'loop,ro', image, dir], { encoding: 'utf8' });
}

function unmount(dir) {
  const u = spawnSync(toolPath('umount'), [dir], { encoding: 'utf8' });
  if (u.status !== 0) spawnSync(toolPath('umount'), ['-l', dir], { encoding: 'utf8' });
}

/** Does `mount -o loop,ro` work here? Tried on one of hcsshim's own images (known good). */
function probeMount() {
  const probe = path.join(work, 'probe.img');
  const dir = path.join(work, 'probe.mnt');
  const known = goldenImage(golden().results.find((r) => r.case === 'devices.tar' && r.options.length === 0));
  if (!known) return null; // nothing known-good to try: let the tests fail loudly instead
  fs.writeFileSync(probe, known);
  fs.mkdirSync(dir, { recursive: true });
  const m = mount(probe, dir);
  if (m.status === 0) unmount(dir);
  fs.rmSync(probe, { force: true });
  try {
    fs.rmdirSync(dir);
  } catch {
    // lazy unmount pending
  }
  return m.status === 0 ? null : `mount -o loop,ro does not work here: ${(m.stderr || m.error?.message || '').trim()}`;
}

const reason = whyNot() ?? probeMount();
const corpus = reason ? null : await corpusDir();

for (const name of CASES) {
  test(`mount ${name} []`, (t) => {
    if (reason) return t.skip(reason);
    const tar = path.join(corpus, name);
    const out = path.join(work, `${name}.img`);
    const mnt = path.join(work, `${name}.mnt`);
    fs.mkdirSync(mnt, { recursive: true });
    let mounted = false;
    try {
      const res = runTar2ext4(['-i', tar, '-o', out]);
      assert.equal(res.status, 0, `exit status ${res.status}; stderr: ${res.stderr}`);
      const m = mount(out, mnt);
      assert.equal(m.status, 0, `mount -o loop,ro failed on our image (it works on hcsshim's): ${m.stderr}`);
      mounted = true;
      const problems = checkDirMatchesTar(mnt, tar);
      if (problems.length) assert.fail(`mounted image differs from the tar:\n  ${problems.join('\n  ')}`);
    } finally {
      if (mounted) unmount(mnt);
      fs.rmSync(out, { force: true });
      try {
        fs.rmdirSync(mnt);
      } catch {
        // still mounted (lazy unmount pending): leave the empty dir
      }
    }
  });
}
