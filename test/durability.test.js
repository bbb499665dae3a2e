// Durability where it belongs (issue 15): both CLIs leave the flush to the kernel by default,
// as hcsshim's CLI, cp and tar do; --sync / -sync flush the image before the rename; the
// driver's ApplyDiff child always does. Watched with strace: fsync and fdatasync calls on the
// image's descriptor are counted for each command line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, tmpDir, toolPath } from './helpers/corpus.js';

const TAR2EXT4 = path.join(REPO, 'dist/host/cli/tar2ext4.js');
const LCOW = path.join(REPO, 'dist/host/cli/lcow.js');
const SAMPLE = path.join(REPO, 'fixtures/sample-layer.tar');
const STRACE = toolPath('strace');

/** Runs node argv under strace; returns the exit status and the number of fsync/fdatasync calls. */
function flushesOf(argv, input) {
  const trace = path.join(tmpDir('lcow-sync-'), 'trace');
  const r = spawnSync(STRACE, ['-f', '-qq', '-e', 'trace=fsync,fdatasync', '-o', trace, process.execPath, ...argv], { input, encoding: 'utf8' });
  const calls = fs.existsSync(trace) ? fs.readFileSync(trace, 'utf8').split('\n').filter((l) => /\b(fsync|fdatasync)\(/.test(l)) : [];
  return { status: r.status, stderr: r.stderr, stdout: r.stdout, flushes: calls.length };
}

/** strace can attach here (it needs ptrace, which containers may forbid). */
function straceWorks() {
  if (!STRACE) return 'strace is not installed (apt-get install -y strace)';
  const r = spawnSync(STRACE, ['-qq', '-e', 'trace=none', 'true'], { encoding: 'utf8' });
  return r.status === 0 ? null : `strace cannot trace here: ${r.stderr.trim()}`;
}

const cases = [
  { name: 'tar2ext4 by default does not flush', argv: (out) => [TAR2EXT4, '-i', SAMPLE, '-o', out, '-overlay', '-vhd'], flushes: false },
  { name: 'tar2ext4 -sync flushes', argv: (out) => [TAR2EXT4, '-i', SAMPLE, '-o', out, '-overlay', '-vhd', '-sync'], flushes: true },
  { name: 'tar2ext4 -sync=false does not flush', argv: (out) => [TAR2EXT4, '-i', SAMPLE, '-o', out, '-sync=false'], flushes: false },
  { name: 'lcow convert by default does not flush', argv: (out) => [LCOW, 'convert', SAMPLE, '-o', out, '--vhd'], flushes: false },
  { name: 'lcow convert --sync flushes', argv: (out) => [LCOW, 'convert', SAMPLE, '-o', out, '--vhd', '--sync'], flushes: true },
  { name: 'lcow convert --no-sync does not flush', argv: (out) => [LCOW, 'convert', SAMPLE, '-o', out, '--no-sync'], flushes: false },
  { name: 'lcow convert --verity by default does not flush', argv: (out) => [LCOW, 'convert', SAMPLE, '-o', out, '--verity', '--vhd'], flushes: false },
];

for (const c of cases) {
  test(c.name, (t) => {
    const why = straceWorks();
    if (why) return t.skip(why);
    const out = path.join(tmpDir('lcow-sync-'), 'layer.vhd');
    const r = flushesOf(c.argv(out));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(fs.statSync(out).size > 0, 'the image is written');
    if (c.flushes) assert.ok(r.flushes >= 1, `expected an fsync, saw ${r.flushes}`);
    else assert.equal(r.flushes, 0, 'expected no fsync');
  });
}

test('the driver ApplyDiff child (lcow docker-lcow-tar2ext4 DEST) always flushes before the rename', (t) => {
  const why = straceWorks();
  if (why) return t.skip(why);
  const out = path.join(tmpDir('lcow-sync-'), 'layer.vhd');
  const r = flushesOf([LCOW, 'docker-lcow-tar2ext4', out], fs.readFileSync(SAMPLE));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, String(fs.statSync(out).size));
  assert.ok(r.flushes >= 1, `expected an fsync, saw ${r.flushes}`);
});
