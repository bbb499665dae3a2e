// dm-verity: root digests against hcsshim's ConvertAndComputeRootDigest, veritysetup
// against our -verity images, lcow verify, and reproducible ids.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO, corpusDir, golden, tmpDir, hasTool, toolPath } from './helpers/corpus.js';

const TAR2EXT4 = path.join(REPO, 'dist/host/cli/tar2ext4.js');
const LCOW = path.join(REPO, 'dist/host/cli/lcow.js');
const SAMPLE = path.join(REPO, 'fixtures/sample-layer.tar');
const corpus = await corpusDir();

function run(cli, args) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
}

for (const c of golden().cases) {
  test(`root digest ${c.case}`, () => {
    const before = readdirSync(tmpdir()).filter((f) => f.includes('lcow-root-digest')).length;
    const r = run(TAR2EXT4, ['-digest', '-i', path.join(corpus, c.case)]);
    if (c.root_digest) {
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), c.root_digest);
    } else {
      assert.equal(r.status, 1);
      assert.equal(r.stderr.trim(), c.root_digest_error);
    }
    const after = readdirSync(tmpdir()).filter((f) => f.includes('lcow-root-digest')).length;
    assert.equal(after, before, 'a temporary file was left behind');
  });
}

test('lcow root-digest reads stdin and agrees with tar2ext4 -digest', () => {
  const c = golden().cases.find((x) => x.case === 'basic.tar');
  const r = spawnSync(process.execPath, [LCOW, 'root-digest', '-'], { input: readFileSync(path.join(corpus, c.case)), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), c.root_digest);
});

test('-verity image with a 128 GiB layout has the root digest hcsshim computes', () => {
  const dir = tmpDir();
  const c = golden().cases.find((x) => x.case === 'links.tar');
  const out = path.join(dir, 'v.img');
  assert.equal(run(TAR2EXT4, ['-i', path.join(corpus, c.case), '-o', out, '-overlay', '-verity', '-maxsize', String(128 * 1024 ** 3)]).status, 0);
  const v = run(LCOW, ['verify', out, '--root-digest', c.root_digest]);
  assert.equal(v.status, 0, v.stdout);
});

const veritysetup = hasTool('veritysetup') ? false : 'veritysetup is not installed (Debian cryptsetup-bin)';

for (const name of ['basic.tar', 'xattrs.tar', 'bigfile.tar']) {
  test(`veritysetup verify accepts our -overlay -verity -vhd image of ${name}`, { skip: veritysetup }, () => {
    const dir = tmpDir();
    const out = path.join(dir, 'layer.vhd');
    assert.equal(run(TAR2EXT4, ['-i', path.join(corpus, name), '-o', out, '-overlay', '-verity', '-vhd']).status, 0);
    const info = JSON.parse(run(LCOW, ['inspect', out, '--json']).stdout);
    const root = info.verity.rootDigestHex;
    const r = spawnSync(toolPath('veritysetup'), ['verify', out, out, root, `--hash-offset=${info.ext4Bytes}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const bad = spawnSync(toolPath('veritysetup'), ['verify', out, out, '0'.repeat(64), `--hash-offset=${info.ext4Bytes}`], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0, 'veritysetup accepted a wrong root hash');
  });
}

test('lcow verify passes on a fresh image and fails after one flipped data byte', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'layer.vhd');
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', out, '--overlay', '--verity', '--vhd']).status, 0);
  const good = run(LCOW, ['verify', out]);
  assert.equal(good.status, 0, good.stdout);
  assert.match(good.stdout, /^ok\nroot digest: [0-9a-f]{64}/);
  const bytes = readFileSync(out);
  bytes[3 * 4096 + 7] ^= 0xff;
  writeFileSync(out, bytes);
  const bad = run(LCOW, ['verify', out]);
  assert.equal(bad.status, 1);
  assert.match(bad.stdout, /hash tree level 0 block 0 does not match the data/);
});

test('lcow verify refuses an image without dm-verity', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'plain.img');
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', out]).status, 0);
  const r = run(LCOW, ['verify', out]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /no dm-verity superblock/);
});

test('--uuid-from-content makes two runs byte-identical; random ids differ', () => {
  const dir = tmpDir();
  const files = ['a', 'b', 'c', 'd'].map((n) => path.join(dir, `${n}.vhd`));
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', files[0], '-overlay', '-verity', '-vhd', '-uuid-from-content']).status, 0);
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', files[1], '--overlay', '--verity', '--vhd', '--uuid-from-content']).status, 0);
  assert.ok(readFileSync(files[0]).equals(readFileSync(files[1])));
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', files[2], '-overlay', '-vhd', '-uuid-from-content']).status, 0);
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', files[3], '-overlay', '-vhd', '-uuid-from-content']).status, 0);
  assert.ok(readFileSync(files[2]).equals(readFileSync(files[3])));
  const r1 = path.join(dir, 'r1.vhd');
  const r2 = path.join(dir, 'r2.vhd');
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', r1, '-overlay', '-verity', '-vhd']).status, 0);
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', r2, '-overlay', '-verity', '-vhd']).status, 0);
  assert.ok(!readFileSync(r1).equals(readFileSync(r2)));
  assert.equal(statSync(r1).size, statSync(files[0]).size);
});
