// Profile fixed (issue 16): one test per hcsshim defect it corrects, named after the
// correction, read back with our ext4 reader and checked with e2fsck; then the option
// itself (validation, root digests, determinism, the layout kept).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { convertTar, computeRootDigest, Ext4Reader, openImageSource, LcowError } from '../dist/index.js';
import { corpusDir, golden, hasTool, tmpDir } from './helpers/corpus.js';
import { fixedTars, e2fsck } from './helpers/fixed.js';

const noE2fsck = hasTool('e2fsck') ? false : 'e2fsck not installed (apt-get install e2fsprogs)';
const noPython = hasTool('python3') ? false : 'python3 is needed to write the test tars';
const tars = noPython ? null : fixedTars();
const corpus = noPython ? null : await corpusDir();
const work = tmpDir('lcow-fixed-');
let serial = 0;

/** Converts `tar` into a fresh image and returns its path. */
async function convert(tar, options = {}) {
  const out = path.join(work, `${serial++}.img`);
  await convertTar(tar, out, { sync: false, ...options });
  return out;
}

/** Opens an image, runs fn(reader), closes it. */
function read(image, fn) {
  const reader = Ext4Reader.open(openImageSource(image));
  try {
    return fn(reader);
  } finally {
    reader.close();
  }
}

function inodeAt(reader, name) {
  const n = reader.lookup(name);
  assert.ok(n !== undefined, `${name} is not in the image`);
  return reader.inode(n);
}

function assertClean(image) {
  const { status, messages } = e2fsck(image);
  assert.deepEqual({ status, messages }, { status: 0, messages: [] }, `e2fsck -fn ${image}`);
}

const NS = 10n ** 9n;
/** An inode time as nanoseconds since the epoch (BigInt: the range passes 2^53 ns). */
const nanos = (t) => BigInt(t.seconds) * NS + BigInt(t.nanoseconds);
/** "secs.frac" as nanoseconds, the way the tar states it. */
function paxNanos(text) {
  const negative = text.startsWith('-');
  const [secs, frac = ''] = (negative ? text.slice(1) : text).split('.');
  const ns = BigInt(secs) * NS + BigInt((frac + '000000000').slice(0, 9));
  return negative ? -ns : ns;
}

async function refusal(tar, options = {}) {
  const out = path.join(work, `${serial++}.img`);
  const err = await convertTar(tar, out, { sync: false, ...options }).then(() => null, (e) => e);
  assert.ok(err instanceof LcowError, `${path.basename(tar)} was converted, expected a refusal`);
  assert.ok(!fs.existsSync(out), 'a refused conversion left its output behind');
  return err;
}

test('fixed: inode bitmap padding bits are set', { skip: noPython || noE2fsck }, async () => {
  const tar = path.join(corpus, 'links.tar');
  for (const profile of ['hcsshim', 'fixed']) {
    const image = await convert(tar, { profile });
    read(image, (r) => {
      const ipg = r.superblock.inodesPerGroup;
      assert.ok(ipg < 32768, 'the test needs a group with padding');
      const bitmap = r.readBlock(r.groupDescriptor(0).inodeBitmap);
      let set = 0;
      for (let bit = ipg; bit < 32768; bit++) if (bitmap[bit >> 3] & (1 << (bit & 7))) set++;
      assert.equal(set, profile === 'fixed' ? 32768 - ipg : 0, `${profile}: padding bits set`);
      // The padding is not counted as used inodes.
      assert.equal(r.groupDescriptor(0).freeInodesCount, r.superblock.freeInodesCount);
    });
    const { status, messages } = e2fsck(image);
    if (profile === 'fixed') assertClean(image);
    else assert.ok(status === 4 && messages.includes('Padding at end of inode bitmap is not set. Fix? no'), messages.join('\n'));
  }
});

test('fixed: times are stored as the kernel reads them over the whole range ext4 holds (pre-1970, 2038-2446, nanoseconds, atime/ctime/crtime), clamped only outside it', { skip: noPython || noE2fsck }, async () => {
  const image = await convert(path.join(tars, 'features.tar'), { profile: 'fixed' });
  const MIN = -(2n ** 31n) * NS;
  const MAX = (2n ** 31n - 1n + 3n * 2n ** 32n) * NS;
  const cases = {
    'epoch': { mtime: '0' },
    'pre1970_ns': { mtime: '-1.25', atime: '-86400.000000001', ctime: '-2147483646.5' },
    'y1901_min': { mtime: '-2147483648' },
    'y2038_after': { mtime: '2147483648.999999999' },
    'y2106_after': { mtime: '4294967396.123456789', atime: '8589934592.5', ctime: '12884901888.25' },
    'y2446_last': { mtime: '15032385534.999999999' },
    'ns_digits': { mtime: '1700000000.123456789' }, // the tenth digit is cut, as Go and POSIX do
    'dir_ns': { mtime: '1600000000.987654321', atime: '-1000.5' },
    'sym_old': { mtime: '-1000.25' },
  };
  read(image, (r) => {
    for (const [name, want] of Object.entries(cases)) {
      const inode = inodeAt(r, `t/${name}`);
      const mtime = paxNanos(want.mtime);
      assert.equal(nanos(inode.mtime), mtime, `${name} mtime`);
      assert.equal(nanos(inode.crtime), mtime, `${name} crtime is the mtime`);
      assert.equal(nanos(inode.atime), want.atime ? paxNanos(want.atime) : mtime, `${name} atime (the mtime when the tar has none)`);
      assert.equal(nanos(inode.ctime), want.ctime ? paxNanos(want.ctime) : mtime, `${name} ctime (the mtime when the tar has none)`);
    }
    // Outside the range: clamped as the kernel's timestamp_truncate does (no nanoseconds at the ends).
    assert.equal(nanos(inodeAt(r, 't/below_min').mtime), MIN, '1800 clamps to 1901-12-13T20:45:52Z');
    assert.equal(nanos(inodeAt(r, 't/above_max').mtime), MAX, '2500 clamps to 2446-05-10T22:38:55Z');
    assert.equal(nanos(inodeAt(r, 't/y2446_max').mtime), MAX, 'the last second loses its nanoseconds, as in the kernel');
    // hcsshim's reader would misread these; check the raw fields hold the kernel's epoch bits.
    const t = inodeAt(r, 't/y2106_after').mtime;
    assert.equal(t.extra & 3, 1, '2106 is epoch 1');
    assert.equal(inodeAt(r, 't/pre1970_ns').mtime.extra & 3, 0, 'pre-1970 is epoch 0 with a negative i_mtime');
  });
  assertClean(image);
  // The corpus's own times tar: hcsshim's image gets e2fsck's pre-1970 warning, ours none.
  assertClean(await convert(path.join(corpus, 'times.tar'), { profile: 'fixed' }));
});

test('fixed: xattr block entries are in the order the kernel lookup requires, so every xattr is readable', { skip: noPython || noE2fsck }, async () => {
  const tar = path.join(tars, 'features.tar');
  for (const profile of ['hcsshim', 'fixed']) {
    const image = await convert(tar, { profile });
    read(image, (r) => {
      const inode = inodeAt(r, 'x/many_block');
      assert.ok(inode.fileAcl !== 0, 'the test needs an xattr block');
      const block = r.readBlock(inode.fileAcl);
      // The block's entries in disk order: (index, name bytes) from offset 32.
      const entries = [];
      for (let at = 32; block.readUInt32LE(at) !== 0; at += (16 + block[at] + 3) & ~3) {
        entries.push({ index: block[at + 1], name: block.subarray(at + 16, at + 16 + block[at]) });
      }
      assert.ok(entries.length > 12, `${entries.length} block entries: more than insertion-sort size`);
      const inOrder = entries.every((e, i) => i === 0 || compareKernel(entries[i - 1], e) < 0);
      if (profile === 'fixed') assert.ok(inOrder, `fixed: block entries out of kernel order: ${entries.map((e) => `${e.index}:${e.name}`).join(' ')}`);
      else assert.ok(!inOrder, 'hcsshim: this tar is meant to show its unsorted order');
      // All 24 xattrs are there, whichever area holds them.
      const names = r.xattrs(inode).map((x) => x.name);
      assert.equal(names.length, 24);
    });
    if (profile === 'fixed') assertClean(image);
  }
});

function compareKernel(a, b) {
  if (a.index !== b.index) return a.index - b.index;
  if (a.name.length !== b.name.length) return a.name.length - b.name.length;
  return Buffer.compare(a.name, b.name);
}

/** The ext4 on-disk ACL: version 1, short entries for the unnamed tags, long ones with ids. */
function ext4Acl(entries) {
  const parts = [Buffer.from([1, 0, 0, 0])];
  for (const [tag, perm, id] of entries) {
    const named = tag === 2 || tag === 8;
    const b = Buffer.alloc(named ? 8 : 4);
    b.writeUInt16LE(tag, 0);
    b.writeUInt16LE(perm, 2);
    if (named) b.writeUInt32LE(id, 4);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

test('fixed: POSIX ACLs from tar (system.posix_acl_* values and SCHILY.acl.* text) are stored in ext4\'s on-disk ACL format', { skip: noPython || noE2fsck }, async () => {
  const raw = (r, name, which) => r.xattrs(inodeAt(r, name), { raw: true }).find((x) => x.name === `system.posix_acl_${which}`);
  const text = await convert(path.join(tars, 'features.tar'), { profile: 'fixed' });
  read(text, (r) => {
    // GNU tar --acls text, named numeric ids
    const named = raw(r, 'acl/text_named', 'access');
    assert.equal(named.index, 2);
    assert.deepEqual(named.value, ext4Acl([[1, 6], [2, 6, 4242], [4, 4], [8, 4, 4343], [0x10, 6], [0x20, 0]]));
    // a default ACL on a directory; the directory's access ACL only repeats its mode, so no xattr
    assert.deepEqual(raw(r, 'acl', 'default').value, ext4Acl([[1, 7], [2, 7, 4242], [4, 5], [0x10, 7], [0x20, 5]]));
    assert.equal(raw(r, 'acl', 'access'), undefined);
    // an access ACL sets the permission bits, as the kernel does when it is set
    assert.equal(inodeAt(r, 'acl/mode_differs').mode & 0o7777, 0o654);
  });
  assertClean(text);
  const binary = await convert(path.join(tars, 'binary_acl.tar'), { profile: 'fixed' });
  read(binary, (r) => {
    assert.deepEqual(raw(r, 'acl/binary', 'access').value, ext4Acl([[1, 6], [2, 4, 4242], [4, 4], [0x10, 6], [0x20, 4]]));
    assert.deepEqual(raw(r, 'acl/sub', 'default').value, ext4Acl([[1, 7], [4, 5], [8, 5, 4343], [0x10, 5], [0x20, 0]]));
    assert.equal(raw(r, 'acl/minimal', 'access'), undefined, 'an ACL the mode holds is not stored');
    assert.equal(inodeAt(r, 'acl/minimal').mode & 0o777, 0o640);
    assert.deepEqual(raw(r, 'acl/both', 'access').value, ext4Acl([[1, 6], [2, 6, 77], [4, 6], [0x10, 6], [0x20, 0]]), 'the binary value wins over the text');
  });
  assertClean(binary);
  // hcsshim keeps the user-space format (version 2) for the same tar.
  read(await convert(path.join(tars, 'binary_acl.tar')), (r) => assert.equal(raw(r, 'acl/binary', 'access').value.readUInt32LE(0), 2));
  // star's form: commas, a name with the numeric id after the perms
  read(await convert(path.join(tars, 'star_acl.tar'), { profile: 'fixed' }), (r) => {
    assert.deepEqual(raw(r, 'f', 'access').value, ext4Acl([[1, 6], [2, 4, 4242], [4, 4], [8, 5, 50], [0x10, 5], [0x20, 0]]));
  });
});

test('fixed: ACLs that cannot be stored exactly are refused with a clear error', { skip: noPython }, async () => {
  const named = await refusal(path.join(tars, 'named_acl.tar'), { profile: 'fixed' });
  assert.equal(named.code, 'EXT4_INVALID_ACL');
  assert.match(named.message, /^f: invalid POSIX ACL in SCHILY\.acl\.access: entry "user:alice:r--": names the user alice, and names cannot be resolved/);
  const version = await refusal(path.join(tars, 'bad_acl.tar'), { profile: 'fixed' });
  assert.equal(version.code, 'EXT4_INVALID_ACL');
  assert.equal(version.message, 'f: invalid POSIX ACL in SCHILY.xattr.system.posix_acl_access: version 1, not 2');
});

test('fixed: PAX global headers apply to the entries that follow and are never a file', { skip: noPython || noE2fsck }, async () => {
  const image = await convert(path.join(tars, 'global.tar'), { profile: 'fixed' });
  read(image, (r) => {
    const names = [...r.entries(r.inode(2))].map((e) => e.name.toString()).filter((n) => n !== '.' && n !== '..').sort();
    assert.deepEqual(names, ['a', 'b', 'c', 'd', 'lost+found']);
    const xattr = (name) => r.xattrs(inodeAt(r, name)).find((x) => x.name === 'user.global')?.value.toString();
    const at = (name) => inodeAt(r, name);
    const mtime = paxNanos('1600000000.5');
    assert.deepEqual([xattr('a'), at('a').uid, nanos(at('a').mtime)], ['g1', 1234, mtime], 'a: the global records');
    assert.deepEqual([xattr('b'), at('b').uid, nanos(at('b').mtime)], ['own', 99, mtime], 'b: its own records override');
    assert.deepEqual([xattr('c'), at('c').uid, nanos(at('c').mtime)], [undefined, 7, mtime], 'c: empty records delete the globals');
    assert.deepEqual([xattr('d'), at('d').uid, nanos(at('d').mtime)], ['g2', 5, mtime], 'd: the second global header replaces and deletes');
  });
  assertClean(image);
  // The corpus's git-archive-style global header gives no file either.
  read(await convert(path.join(corpus, 'paxglobal.tar'), { profile: 'fixed' }), (r) => {
    const names = [...r.entries(r.inode(2))].map((e) => e.name.toString()).filter((n) => n !== '.' && n !== '..').sort();
    assert.deepEqual(names, ['g', 'lost+found']);
  });
});

test('fixed: aufs metadata entries (.wh..wh.plnk, .wh..wh.aufs, .wh..wh.orph and their contents) are skipped with --overlay', { skip: noPython || noE2fsck }, async () => {
  const tar = path.join(tars, 'aufs.tar');
  const top = (r) => [...r.entries(r.inode(2))].map((e) => e.name.toString()).filter((n) => n !== '.' && n !== '..').sort();
  const image = await convert(tar, { profile: 'fixed', overlay: true });
  read(image, (r) => {
    assert.deepEqual(top(r), ['keep', 'lost+found']);
    assert.equal(inodeAt(r, 'keep/gone').type, 'chr', 'whiteouts are still converted');
  });
  assertClean(image);
  // Without --overlay nothing is a whiteout or aufs metadata: the entries are files.
  read(await convert(tar, { profile: 'fixed' }), (r) => assert.deepEqual(top(r), ['.wh..wh.aufs', '.wh..wh.orph', '.wh..wh.plnk', 'keep', 'lost+found']));
  // hcsshim turns them into whiteouts and directories.
  read(await convert(tar, { overlay: true }), (r) => assert.ok(top(r).length > 2));
});

test('fixed: uid/gid of 2^32 or more are refused with a clear error, never truncated', { skip: noPython }, async () => {
  const big = await refusal(path.join(tars, 'big_uid.tar'), { profile: 'fixed' });
  assert.equal(big.code, 'EXT4_OWNER_OUT_OF_RANGE');
  assert.equal(big.message, 'big: uid 4294967296 is out of range: Linux owners are 0 to 4294967294 (ext4 holds 32 bits, and 4294967295 is (uid_t)-1, no owner)');
  assert.equal(big.path, 'big');
  const max = await refusal(path.join(tars, 'max_uid.tar'), { profile: 'fixed' });
  assert.match(max.message, /^max: uid 4294967295 is out of range/);
  const negative = await refusal(path.join(tars, 'neg_gid.tar'), { profile: 'fixed' });
  assert.match(negative.message, /^neg: gid -1 is out of range/);
  const basic = await refusal(path.join(corpus, 'basic.tar'), { profile: 'fixed' });
  assert.match(basic.message, /^owners\/u4294967295_g4294967294: uid 4294967295 is out of range/);
  // hcsshim truncates 2^32 to root.
  read(await convert(path.join(tars, 'big_uid.tar')), (r) => assert.equal(inodeAt(r, 'big').uid, 0));
});

test('fixed: empty symlink targets are refused', { skip: noPython }, async () => {
  const err = await refusal(path.join(tars, 'empty_symlink.tar'), { profile: 'fixed' });
  assert.equal(err.code, 'EXT4_EMPTY_SYMLINK');
  assert.equal(err.message, 'empty: symlink with an empty target (ext4 and Linux need at least one byte)');
  read(await convert(path.join(tars, 'empty_symlink.tar')), (r) => assert.equal(inodeAt(r, 'empty').size, 0));
});

test('fixed: xattrs Linux cannot hold on the entry\'s type are left out and counted; the rest are kept', { skip: noPython }, async () => {
  const out = path.join(work, `${serial++}.img`);
  const result = await convertTar(path.join(tars, 'features.tar'), out, { profile: 'fixed', sync: false });
  // system.foo and foo.bar (no kernel handler), "user." (no name), user.* on a symlink and a fifo
  assert.equal(result.skippedXattrs, 5);
  read(out, (r) => {
    const names = (name) => r.xattrs(inodeAt(r, name)).map((x) => x.name).sort();
    assert.deepEqual(names('x/kinds'), ['security.s', 'trusted.t', 'user.ok']);
    assert.deepEqual(names('x/symlink'), ['trusted.t']);
    assert.deepEqual(names('x/fifo'), ['security.s']);
    assert.deepEqual(names('x/dev'), ['trusted.d']);
  });
  const plain = await convertTar(path.join(tars, 'features.tar'), path.join(work, `${serial++}.img`), { sync: false });
  assert.equal(plain.skippedXattrs, 0, 'hcsshim stores them all');
});

test('fixed: e2fsck -fn is clean on every corpus image, and the tars hcsshim refuses are refused alike', { skip: noPython || noE2fsck }, async () => {
  const flags = { '-overlay': 'overlay', '-inline': 'inlineData' };
  let checked = 0;
  for (const result of golden().results) {
    if (result.options.includes('-vhd')) continue; // the footer does not change the ext4 bytes
    const options = { profile: 'fixed' };
    for (const o of result.options) if (flags[o]) options[flags[o]] = true;
    const tar = path.join(corpus, result.case);
    if (!result.ok) {
      const err = await refusal(tar, options);
      assert.ok(result.error.includes(err.message) || err.message.includes(result.error.split(': ').pop()), `${result.case} ${result.options}: ${err.message} vs hcsshim's ${result.error}`);
      continue;
    }
    if (result.case === 'basic.tar') continue; // its owners of 2^32 - 1 and more are refused (test above)
    const image = await convert(tar, options);
    const { status, messages } = e2fsck(image);
    assert.deepEqual({ status, messages }, { status: 0, messages: [] }, `${result.case} ${result.options.join(' ')}`);
    fs.rmSync(image);
    checked++;
  }
  assert.ok(checked >= 40, `${checked} images checked`);
});

test('fixed: re-declared directories add to their xattrs, re-declared files replace theirs', { skip: noPython || noE2fsck }, async () => {
  const image = await convert(path.join(corpus, 'override.tar'), { profile: 'fixed' });
  read(image, (r) => {
    assert.deepEqual(r.xattrs(inodeAt(r, 'dir3')).map((x) => x.name).sort(), ['user.first', 'user.second']);
  });
  assertClean(image);
});

test('profile option: unknown values and keys are refused naming the key and value', async () => {
  const out = path.join(work, 'never.img');
  await assert.rejects(convertTar('x.tar', out, { profile: 'strict' }), (e) => e.code === 'INVALID_OPTION' && e.message === 'option profile must be "hcsshim" or "fixed", not "strict"');
  await assert.rejects(convertTar('x.tar', out, { profile: 1 }), (e) => e.code === 'INVALID_OPTION' && /^option profile must be/.test(e.message));
  await assert.rejects(computeRootDigest('x.tar', { profile: 'Fixed' }), (e) => e.code === 'INVALID_OPTION' && /option profile .* not "Fixed"/.test(e.message));
  await assert.rejects(computeRootDigest('x.tar', { overlay: true }), (e) => e.code === 'INVALID_OPTION' && /^unknown option "overlay"/.test(e.message));
  assert.ok(!fs.existsSync(out));
});

test('profile option: computeRootDigest takes { profile }, and the default is hcsshim\'s digest', { skip: noPython }, async () => {
  const tar = path.join(corpus, 'xattrs.tar');
  const hcsshim = golden().cases.find((c) => c.case === 'xattrs.tar').root_digest ?? null;
  const byDefault = await computeRootDigest(tar);
  assert.equal(await computeRootDigest(tar, { profile: 'hcsshim' }), byDefault);
  if (hcsshim) assert.equal(byDefault, hcsshim);
  const fixed = await computeRootDigest(tar, { profile: 'fixed' });
  assert.match(fixed, /^[0-9a-f]{64}$/);
  assert.notEqual(fixed, byDefault);
  assert.equal(await computeRootDigest(tar, { profile: 'fixed' }), fixed, 'deterministic');
});

test('fixed keeps the layout and the determinism: same sizes as hcsshim, same bytes twice', { skip: noPython }, async () => {
  for (const name of ['dotslash.tar', 'links.tar', 'xattrs.tar', 'wide.tar', 'whiteouts.tar']) {
    const tar = path.join(corpus, name);
    const a = await convert(tar, { profile: 'fixed', overlay: true });
    const b = await convert(tar, { profile: 'fixed', overlay: true });
    const h = await convert(tar, { overlay: true });
    assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), `${name}: two conversions differ`);
    assert.equal(fs.statSync(a).size, fs.statSync(h).size, `${name}: fixed and hcsshim images differ in size`);
    // Same data placement: every regular file's first block is where hcsshim put it.
    read(a, (ra) => read(h, (rh) => {
      for (const e of ra.walk()) {
        if (e.inode.type !== 'file' || e.inode.size === 0) continue;
        const other = rh.inode(rh.lookup(e.pathBytes));
        assert.deepEqual(e.inode.iBlock.subarray(12, 24), other.iBlock.subarray(12, 24), `${name}: ${e.path} moved`);
      }
    }));
    for (const f of [a, b, h]) fs.rmSync(f);
  }
});

test('fixed: extent trees past 339 extents (files over 42.4 GiB) have the right leaves and entries', { skip: noE2fsck || (hasTool('tar') ? false : 'GNU tar is needed for a sparse tar') }, async () => {
  // A sparse file of 341 x 128 MiB with data at both ends, as a PAX sparse tar of 20 KiB.
  const dir = tmpDir('lcow-fixed-sparse-');
  const file = path.join(dir, 'big');
  const blocks = 341 * 32768;
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, 'head', 0);
  fs.writeSync(fd, 'tail', blocks * 4096 - 4);
  fs.closeSync(fd);
  const tar = path.join(dir, 'sparse.tar');
  const made = spawnSync('tar', ['--sparse', '--format=posix', '-cf', tar, '-C', dir, 'big'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  fs.rmSync(file);
  for (const profile of ['hcsshim', 'fixed']) {
    const image = await convert(tar, { profile, maxDiskSize: 64 * 2 ** 30 });
    read(image, (r) => {
      const inode = inodeAt(r, 'big');
      assert.equal(inode.size, blocks * 4096);
      const leaves = inode.iBlock.readUInt16LE(2);
      assert.equal(inode.iBlock.readUInt16LE(6), 1, 'a depth-1 tree');
      assert.equal(leaves, 2);
      const counts = [0, 1].map((i) => r.readBlock(inode.iBlock.readUInt32LE(12 + 12 * i + 4)).readUInt16LE(2));
      assert.deepEqual(counts, profile === 'fixed' ? [340, 1] : [340, 339], `${profile}: entries per leaf (hcsshim's bug: 341 - 1 x 2 leaves in the second)`);
    });
    const { status, messages } = e2fsck(image);
    if (profile === 'fixed') assert.deepEqual({ status, messages }, { status: 0, messages: [] });
    else assert.notEqual(status, 0, 'hcsshim\'s tree is corrupt past 339 extents');
    fs.rmSync(image);
  }
});
