// The fixed profile on the command lines: lcow convert/root-digest --profile and
// tar2ext4 -profile (Go flag syntax); an unknown profile is a one-line usage error, exit 2.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { computeRootDigest } from '../dist/index.js';
import { REPO, corpusDir, hasTool, tmpDir } from './helpers/corpus.js';
import { e2fsck } from './helpers/fixed.js';

const LCOW = path.join(REPO, 'dist/host/cli/lcow.js');
const TAR2EXT4 = path.join(REPO, 'dist/host/cli/tar2ext4.js');
const run = (cli, args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const noTools = hasTool('e2fsck') && hasTool('python3') ? false : 'e2fsck and python3 are needed';
const corpus = noTools ? null : await corpusDir();
const work = tmpDir('lcow-fixed-cli-');

test('lcow convert --profile fixed writes an image e2fsck -fn passes without messages; hcsshim\'s does not', { skip: noTools }, () => {
  const tar = path.join(corpus, 'times.tar');
  const fixed = path.join(work, 'fixed.img');
  const plain = path.join(work, 'plain.img');
  assert.equal(run(LCOW, ['convert', tar, '-o', fixed, '--profile', 'fixed', '--no-sync']).status, 0);
  assert.equal(run(LCOW, ['convert', tar, '-o', plain, '--profile=hcsshim', '--no-sync']).status, 0);
  assert.deepEqual(e2fsck(fixed), { status: 0, messages: [] });
  assert.equal(e2fsck(plain).status, 4);
});

test('tar2ext4 -profile fixed (and --profile=fixed) as Go flags', { skip: noTools }, () => {
  const tar = path.join(corpus, 'xattrs.tar');
  const a = path.join(work, 'a.img');
  const b = path.join(work, 'b.img');
  assert.equal(run(TAR2EXT4, ['-i', tar, '-o', a, '-profile', 'fixed', '-overlay']).status, 0);
  assert.equal(run(TAR2EXT4, ['--profile=fixed', '-i', tar, '-o', b, '-overlay']).status, 0);
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)));
  assert.deepEqual(e2fsck(a), { status: 0, messages: [] });
});

test('an unknown profile is a one-line usage error with exit 2, and nothing is written', () => {
  const out = path.join(work, 'never.img');
  const l = run(LCOW, ['convert', 'x.tar', '-o', out, '--profile', 'strict']);
  assert.equal(l.status, 2);
  assert.equal(l.stderr, 'lcow: USAGE: --profile must be one of hcsshim, fixed (got "strict") (see lcow convert --help)\n');
  const d = run(LCOW, ['root-digest', 'x.tar', '--profile', 'Fixed']);
  assert.equal(d.status, 2);
  assert.match(d.stderr, /^lcow: USAGE: --profile must be one of hcsshim, fixed \(got "Fixed"\)/);
  const t = run(TAR2EXT4, ['-i', 'x.tar', '-o', out, '-profile', 'strict']);
  assert.equal(t.status, 2);
  assert.equal(t.stderr.split('\n')[0], 'invalid value "strict" for flag -profile: must be one of hcsshim, fixed');
  assert.ok(!fs.existsSync(out));
});

test('lcow root-digest --profile fixed and tar2ext4 -digest -profile fixed give the library\'s fixed digest', { skip: noTools }, async () => {
  const tar = path.join(corpus, 'times.tar');
  const want = await computeRootDigest(tar, { profile: 'fixed' });
  assert.equal(run(LCOW, ['root-digest', tar, '--profile', 'fixed']).stdout, `${want}\n`);
  assert.equal(run(TAR2EXT4, ['-digest', '-profile', 'fixed', '-i', tar]).stdout, `${want}\n`);
  assert.notEqual(run(LCOW, ['root-digest', tar]).stdout, `${want}\n`, 'the default stays hcsshim\'s digest');
});
