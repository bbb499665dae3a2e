// Issue 16 acceptance: profile-fixed images of every visible golden tar, of purpose-made
// tars and of a Debian minbase tree pass `e2fsck -fn` with no messages, and through a
// read-only kernel loop mount hold exactly what the tar holds, by Python's tarfile
// (fixed_tree.py) and by GNU tar's own extraction (stat, getfattr -d -m -, getfacl);
// veritysetup verify accepts their --verity images. Every loop device and mount is
// released in finally blocks (helpers/fixed.js withReadOnlyMount).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { convertTar } from '../dist/index.js';
import { corpusDir, golden, hasTool, tmpDir, toolPath } from './helpers/corpus.js';
import { fixedTars, e2fsck, mountUnavailable, withReadOnlyMount, compareTreeWithTar, listingByFile } from './helpers/fixed.js';
import { minbaseTar } from './helpers/minbase.js';

const missing = ['e2fsck', 'python3', 'tar'].find((t) => !hasTool(t));
const skipAll = (missing ? `${missing} not installed` : mountUnavailable()) || false;
const work = tmpDir('lcow-fixed-mount-');
const tars = skipAll ? null : fixedTars();
const corpus = skipAll ? null : await corpusDir();
let serial = 0;

async function convert(tar, options) {
  const out = path.join(work, `${serial++}.img`);
  const result = await convertTar(tar, out, { profile: 'fixed', sync: false, ...options });
  return { out, result };
}

/** e2fsck clean, then the mounted tree against Python's view of the tar; fn(mountDir) for more. */
async function acceptance(tar, options, fn) {
  const { out } = await convert(tar, options);
  try {
    const { status, messages } = e2fsck(out);
    assert.deepEqual({ status, messages }, { status: 0, messages: [] }, `e2fsck -fn on the image of ${path.basename(tar)}`);
    await withReadOnlyMount(out, async (dir) => {
      const cmp = compareTreeWithTar(tar, dir, { overlay: Boolean(options.overlay) });
      assert.ok(cmp.ok, `${path.basename(tar)} ${JSON.stringify(options)}: the mounted tree differs from the tar:\n${cmp.output}`);
      if (fn) await fn(dir);
    });
  } finally {
    fs.rmSync(out, { force: true });
  }
}

/** The corpus's basic.tar without its owners of 2^32 - 1 and more, which fixed refuses. */
function basicWithinRange() {
  const out = path.join(work, 'basic-in-range.tar');
  const script = `import tarfile, sys
src = tarfile.open(sys.argv[1]); dst = tarfile.open(sys.argv[2], 'w', format=tarfile.PAX_FORMAT)
for m in src:
    if m.uid < 2**32 - 1 and m.gid < 2**32 - 1:
        dst.addfile(m, src.extractfile(m) if m.isfile() else None)
dst.close()`;
  const r = spawnSync(toolPath('python3'), ['-c', script, path.join(corpus, 'basic.tar'), out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return out;
}

const accepted = skipAll ? [] : [...new Set(golden().results.filter((r) => r.ok && r.options.every((o) => o === '-overlay')).map((r) => `${r.case}|${r.options.join(' ')}`))];
for (const key of accepted) {
  const [name, flags] = key.split('|');
  const overlay = flags === '-overlay';
  test(`fixed acceptance: ${name}${overlay ? ' --overlay' : ''}: e2fsck clean, the mounted tree is the tar's`, { skip: skipAll }, async () => {
    const tar = name === 'basic.tar' ? basicWithinRange() : path.join(corpus, name);
    await acceptance(tar, { overlay });
  });
}

for (const [name, options] of [['features.tar', {}], ['binary_acl.tar', {}], ['aufs.tar', { overlay: true }], ['aufs.tar', {}]]) {
  test(`fixed acceptance: ${name}${options.overlay ? ' --overlay' : ''}: e2fsck clean, the mounted tree is the tar's`, { skip: skipAll }, async () => {
    await acceptance(path.join(tars, name), options);
  });
}

/** GNU tar's extraction of `tar` into a fresh directory, with xattrs and ACLs. */
function gnuExtract(tar) {
  const dir = fs.mkdtempSync(path.join(work, 'gnu-'));
  const r = spawnSync('tar', ['--xattrs', '--xattrs-include=*', '--acls', '--numeric-owner', '-p', '-xf', tar, '-C', dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
  // Warnings are expected (xattrs Linux refuses, implausible times); the extraction must finish.
  assert.ok(r.status === 0 || r.status === 2, `GNU tar -x exited ${r.status}: ${r.stderr}`);
  return dir;
}

/** stat(1) of every entry but the root and lost+found: name, type+mode, owner, mtime with ns (and size for non-directories). */
function statListing(dir) {
  const find = spawnSync('find', ['.', '-mindepth', '1', '-path', './lost+found', '-prune', '-o', '-print0'], { cwd: dir, maxBuffer: 256 << 20 });
  const names = find.stdout.toString('latin1').split('\0').filter(Boolean);
  const lines = [];
  for (let i = 0; i < names.length; i += 500) {
    const r = spawnSync('stat', ['--printf', '%n|%f|%u|%g|%y|%F|%s\\n', ...names.slice(i, i + 500).map((n) => Buffer.from(n, 'latin1').toString())], { cwd: dir, encoding: 'utf8', maxBuffer: 256 << 20 });
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const f = line.split('|');
      lines.push(f[5] === 'directory' ? f.slice(0, 6).join('|') : f.join('|'));
    }
  }
  return lines.sort();
}

function withoutRootAndLostFound(map) {
  map.delete('.');
  map.delete('');
  map.delete('lost+found');
  return Object.fromEntries([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Our mounted image and GNU tar's extraction agree on stat, getfattr -d -m - and getfacl. */
function assertSameAsGnuTar(mounted, extracted) {
  assert.deepEqual(statListing(mounted), statListing(extracted), 'stat: mode, owner, mtime (ns), size');
  const attrs = (d) => withoutRootAndLostFound(listingByFile(d, 'getfattr', ['-R', '-P', '-d', '-m', '-', '-h', '.']));
  assert.deepEqual(attrs(mounted), attrs(extracted), 'getfattr -d -m -');
  const acls = (d) => withoutRootAndLostFound(listingByFile(d, 'getfacl', ['-R', '-P', '-n', '-p', '.']));
  assert.deepEqual(acls(mounted), acls(extracted), 'getfacl');
}

const noAclTools = !hasTool('getfattr') || !hasTool('getfacl') ? 'getfattr/getfacl not installed (apt-get install -y attr acl)' : false;

test('fixed acceptance: features.tar through the kernel equals GNU tar\'s own extraction (stat, getfattr -d -m -, getfacl)', { skip: skipAll || noAclTools }, async () => {
  const tar = path.join(tars, 'features.tar');
  const extracted = gnuExtract(tar);
  try {
    const { out } = await convert(tar, {});
    await withReadOnlyMount(out, async (dir) => assertSameAsGnuTar(dir, extracted));
  } finally {
    fs.rmSync(extracted, { recursive: true, force: true });
  }
});

const minbase = skipAll ? { skip: skipAll } : minbaseTar();

test('fixed acceptance: a debootstrap minbase tree: e2fsck clean, the mounted tree is the tar\'s and equals GNU tar\'s extraction', { skip: minbase.skip ?? noAclTools, timeout: 30 * 60 * 1000 }, async () => {
  const extracted = gnuExtract(minbase.tar);
  try {
    await acceptance(minbase.tar, { overlay: true }, (dir) => assertSameAsGnuTar(dir, extracted));
  } finally {
    fs.rmSync(extracted, { recursive: true, force: true });
  }
});

const noVerity = hasTool('veritysetup') ? false : 'veritysetup is not installed (Debian cryptsetup-bin)';

for (const [name, tarOf] of [['features.tar', () => path.join(tars, 'features.tar')], ['the minbase tree', () => minbase.tar], ['xattrs.tar', () => path.join(corpus, 'xattrs.tar')]]) {
  test(`fixed acceptance: veritysetup verify accepts the --overlay --verity --vhd image of ${name}`, { skip: skipAll || noVerity || (name === 'the minbase tree' && minbase.skip) }, async () => {
    const { out, result } = await convert(tarOf(), { overlay: true, verity: true, vhd: true });
    try {
      const verify = (digest) => spawnSync(toolPath('veritysetup'), ['verify', out, out, digest, `--hash-offset=${result.ext4Bytes}`], { encoding: 'utf8' });
      const good = verify(result.rootDigest);
      assert.equal(good.status, 0, good.stderr + good.stdout);
      assert.notEqual(verify('0'.repeat(64)).status, 0, 'veritysetup accepted a wrong root hash');
    } finally {
      fs.rmSync(out, { force: true });
    }
  });
}
