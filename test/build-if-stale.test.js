// scripts/build-if-stale.mjs decides whether `npm run build` recompiles the Wasm (issue #10
// item 9): it must skip only when every output is newer than every input, and see any
// change under an input directory, deletions included.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, tmpDir } from './helpers/corpus.js';

const SCRIPT = path.join(REPO, 'scripts', 'build-if-stale.mjs');

/** A source tree (src/sub/a.ts, conf.json) and two outputs, all with explicit times. */
function fixture() {
  const dir = tmpDir('lcow-stale-');
  fs.mkdirSync(path.join(dir, 'src', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'src', 'sub', 'a.ts'), 'a');
  fs.writeFileSync(path.join(dir, 'conf.json'), '{}');
  for (const p of ['src', 'src/sub', 'src/sub/a.ts', 'conf.json']) setTime(dir, p, 1000);
  return dir;
}

function setTime(dir, relative, seconds) {
  fs.utimesSync(path.join(dir, relative), seconds, seconds);
}

function build(dir, outputs = ['out1', 'out2']) {
  const r = spawnSync(process.execPath, [SCRIPT, '--from', 'src', 'conf.json', '--to', ...outputs], { cwd: dir, encoding: 'utf8' });
  return { stale: r.status !== 0, why: r.stderr.trim() };
}

function writeOutputs(dir, seconds = 2000) {
  for (const out of ['out1', 'out2']) {
    fs.writeFileSync(path.join(dir, out), 'built');
    setTime(dir, out, seconds);
  }
}

test('item 9: the wasm build is skipped only when its outputs are newer than all its sources', () => {
  const dir = fixture();
  assert.deepEqual(build(dir), { stale: true, why: 'build: out1 is missing: rebuilding out1, out2' });
  writeOutputs(dir);
  assert.equal(build(dir).stale, false, 'outputs newer than every source');

  setTime(dir, 'src/sub/a.ts', 3000);
  assert.deepEqual(build(dir), { stale: true, why: 'build: src/sub/a.ts is newer than out1: rebuilding out1, out2' });
  setTime(dir, 'src/sub/a.ts', 1000);

  setTime(dir, 'conf.json', 2000);
  assert.equal(build(dir).stale, true, 'a source as new as an output counts as newer');
  setTime(dir, 'conf.json', 1000);

  setTime(dir, 'out2', 500);
  assert.match(build(dir).why, /is newer than out2/, 'the oldest output decides');
  setTime(dir, 'out2', 2000);
  assert.equal(build(dir).stale, false);
});

test('item 9: a file added with an old time, or deleted, under assembly/ still rebuilds', () => {
  const dir = fixture();
  writeOutputs(dir);
  fs.writeFileSync(path.join(dir, 'src', 'sub', 'old.ts'), 'copied with its old time');
  setTime(dir, 'src/sub/old.ts', 10);
  setTime(dir, 'src/sub', 3000); // what the kernel does on the add, at a later time than the build
  assert.deepEqual(build(dir), { stale: true, why: 'build: src/sub is newer than out1: rebuilding out1, out2' });

  writeOutputs(dir, 4000);
  assert.equal(build(dir).stale, false);
  fs.rmSync(path.join(dir, 'src', 'sub', 'old.ts'));
  setTime(dir, 'src/sub', 5000);
  assert.equal(build(dir).stale, true, 'a deletion changes the directory');
});

test('item 9: a missing source or bad arguments rebuild rather than skip', () => {
  const dir = fixture();
  writeOutputs(dir);
  fs.rmSync(path.join(dir, 'conf.json'));
  assert.match(build(dir).why, /^build-if-stale: ENOENT.*conf\.json.*: rebuilding$/);
  const r = spawnSync(process.execPath, [SCRIPT, 'out1'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unexpected argument "out1" before --from or --to: rebuilding/);
});
