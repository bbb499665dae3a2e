// block-xattrs-over-12: hcsshim sorts block xattrs with sort.Slice and a comparator
// that is not a strict ordering, so past 12 entries only Go's exact pdqsort gives its
// order. This checks the engine's order against Go's own sort.Slice (go1.19, as the
// golden oracle) on random xattr sets. Skipped where `go` is not installed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import tar from 'tar-stream';
import fc from 'fast-check';
import { REPO, tmpDir, hasTool } from './helpers/corpus.js';
import { Ext4Reader } from '../dist/host/ext4/reader.js';
import { openImageSource } from '../dist/host/ext4/source.js';
import { parseXattrBlock } from '../dist/host/ext4/xattr.js';

const TAR2EXT4 = path.join(REPO, 'dist/host/cli/tar2ext4.js');
const GOSORT = path.join(REPO, 'test/tools/gosort/main.go');
const PREFIXES = [['user.', 1], ['trusted.', 4], ['security.', 6], ['', 0]];

function compress(name) {
  for (const [prefix, index] of [['system.posix_acl_access', 2], ['system.posix_acl_default', 3], ['system.richacl', 8], ['system.', 7], ['user.', 1], ['trusted.', 4], ['security.', 6]]) {
    if (name.startsWith(prefix)) return { index, name: name.slice(prefix.length) };
  }
  return { index: 0, name };
}

const round4 = (n) => (n + 3) & ~3;

/** The block list in hcsshim's placement order: names sorted, greedy inode area first. */
function blockList(xattrs) {
  let inodeLeft = 96;
  let blockLeft = 4060;
  const block = [];
  for (const [full, value] of [...xattrs].sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])))) {
    const c = compress(full);
    const cost = 16 + round4(Buffer.byteLength(c.name)) + round4(value.length);
    if (inodeLeft >= cost) inodeLeft -= cost;
    else if (blockLeft >= cost) { blockLeft -= cost; block.push(c); }
    else throw new Error('does not fit');
  }
  return block;
}

async function tarWith(xattrs) {
  const pack = tar.pack();
  const pax = Object.fromEntries(xattrs.map(([name, value]) => [`SCHILY.xattr.${name}`, value]));
  pack.entry({ name: 'f', size: 0, mode: 0o644, mtime: new Date(1700000000000), pax }, Buffer.alloc(0));
  pack.finalize();
  const chunks = [];
  for await (const c of pack) chunks.push(c);
  return Buffer.concat(chunks);
}

const nameArb = fc.tuple(
  fc.constantFrom(...PREFIXES.map((p) => p[0])),
  fc.stringMatching(/^[a-z0-9._]{1,12}$/),
).map(([prefix, rest]) => prefix + rest);

test('block xattr order matches Go sort.Slice for 13..120 entries', { skip: !hasTool('go') && 'go is not installed (Debian golang-go)' }, async () => {
  const dir = tmpDir();
  const built = spawnSync('go', ['build', '-o', path.join(dir, 'gosort'), GOSORT], { encoding: 'utf8', env: { ...process.env, GOCACHE: path.join(dir, 'gocache'), GO111MODULE: 'off' } });
  assert.equal(built.status, 0, built.stderr);
  const samples = fc.sample(fc.uniqueArray(nameArb, { minLength: 14, maxLength: 120, selector: (n) => n }), { numRuns: 40, seed: 4242 });
  let checked = 0;
  for (const names of samples) {
    const xattrs = names.map((n, i) => [n, 'v'.repeat(i % 5)]);
    const expectedBlock = blockList(xattrs);
    if (expectedBlock.length <= 12) continue;
    const tarFile = path.join(dir, 'x.tar');
    writeFileSync(tarFile, await tarWith(xattrs));
    const img = path.join(dir, 'x.img');
    const r = spawnSync(process.execPath, [TAR2EXT4, '-i', tarFile, '-o', img], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const image = Ext4Reader.open(openImageSource(img));
    const inode = image.inode(image.lookup('f'));
    const ours = parseXattrBlock(image.readBlock(inode.fileAcl)).map((x) => `${x.index}:${x.nameBytes.subarray(0).toString()}`);
    image.close();
    const go = spawnSync(path.join(dir, 'gosort'), { input: `${JSON.stringify(expectedBlock)}\n`, encoding: 'utf8' });
    const order = JSON.parse(go.stdout);
    const theirs = order.map((i) => `${expectedBlock[i].index}:${expectedBlock[i].name}`);
    const oursShort = ours.map((s) => { const [idx, full] = [Number(s.split(':')[0]), s.slice(s.indexOf(':') + 1)]; return `${idx}:${compress(full).name}`; });
    assert.deepEqual([...oursShort].sort(), [...theirs].sort(), 'sets differ');
    assert.deepEqual(oursShort, theirs, `order differs for ${expectedBlock.length} block entries`);
    checked++;
  }
  assert.ok(checked >= 20, `only ${checked} samples had more than 12 block entries`);
});
