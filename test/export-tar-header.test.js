// The export's tar header encoder and time decoding: headers read back by Python's tarfile
// and GNU tar, Go's formats (checksum, PAX record lengths, ustar prefix split, PAX times),
// and hcsshim's time encoding inverted exactly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { encodeHeader, endOfArchive, formatPaxTime, paddingFor, paxRecord, splitUstarPath, TYPEFLAG, USTAR } from '../dist/driver/export/tar-header.js';
import { hcsshimEncode, hcsshimOpaqueDirTimeOf, hcsshimRestat, hcsshimTimeOf, kernelTimeOf } from '../dist/driver/export/inode-times.js';
import { hasTool, tmpDir } from './helpers/corpus.js';
import { gnuTarList, pythonTarMembers } from './helpers/export-tar.js';

const work = tmpDir('lcow-export-header-');
const b = (s) => Buffer.from(s, 'utf8');
const T0 = { seconds: 1700000000, nanoseconds: 0 };

function tarOf(entries) {
  const parts = [];
  for (const { header, data } of entries) {
    parts.push(encodeHeader(header));
    if (data) parts.push(data, paddingFor(data.length));
  }
  parts.push(endOfArchive());
  return Buffer.concat(parts);
}

test('a plain entry is one ustar block with Go\'s field formats', () => {
  const block = encodeHeader({ name: b('etc/hostname'), typeflag: TYPEFLAG.file, mode: 0o100644, uid: 0, gid: 0, size: 6, mtime: T0 });
  assert.equal(block.length, 512);
  assert.equal(block.toString('latin1', USTAR.mode.offset, USTAR.mode.offset + 8), '0100644\0');
  assert.equal(block.toString('latin1', USTAR.size.offset, USTAR.size.offset + 12), '00000000006\0');
  assert.equal(block.toString('latin1', USTAR.magic.offset, USTAR.version.offset + 2), 'ustar\u000000');
  // Checksum "%06o\0 " over the block with the field as spaces.
  const copy = Buffer.from(block);
  copy.fill(0x20, 148, 156);
  const sum = copy.reduce((a, x) => a + x, 0);
  assert.equal(block.toString('latin1', 148, 156), `${sum.toString(8).padStart(6, '0')}\0 `);
});

test('PAX record lengths count their own digits across a digit boundary', () => {
  for (let n = 80; n < 110; n++) {
    const record = paxRecord(b('k'), Buffer.alloc(n, 0x61));
    const declared = Number(record.toString('latin1').split(' ')[0]);
    assert.equal(declared, record.length, `value of ${n} bytes`);
  }
});

test('ustar prefix split follows Go\'s splitUSTARPath', () => {
  const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/file`;
  assert.deepEqual(splitUstarPath(b(long)), { prefix: b(`${'d'.repeat(60)}/${'e'.repeat(60)}`), name: b('file') });
  assert.equal(splitUstarPath(b('short')), null);
  assert.equal(splitUstarPath(b(`${'x'.repeat(101)}`)), null, 'no slash');
  assert.equal(splitUstarPath(b(`ü/${'x'.repeat(120)}`)), null, 'not ASCII');
});

test('PAX times are Go\'s formatPAXTime', () => {
  assert.equal(formatPaxTime({ seconds: 5, nanoseconds: 0 }), '5');
  assert.equal(formatPaxTime({ seconds: 1700000000, nanoseconds: 123456789 }), '1700000000.123456789');
  assert.equal(formatPaxTime({ seconds: 1, nanoseconds: 500000000 }), '1.5');
  assert.equal(formatPaxTime({ seconds: -2, nanoseconds: 750000000 }), '-1.25');
  assert.equal(formatPaxTime({ seconds: -86400, nanoseconds: 0 }), '-86400');
});

test('Python tarfile and GNU tar read every header shape back', async (t) => {
  if (!hasTool('python3')) return t.skip('python3 is needed');
  const binaryName = Buffer.concat([b('bin/'), Buffer.from([0xff, 0xfe, 0x41])]);
  const xattrValue = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x3d]);
  const entries = [
    { header: { name: b('dir/'), typeflag: TYPEFLAG.dir, mode: 0o40755, uid: 0, gid: 0, size: 0, mtime: T0 } },
    { header: { name: b('dir/file'), typeflag: TYPEFLAG.file, mode: 0o104755, uid: 1000, gid: 1000, size: 5, mtime: T0 }, data: b('hello') },
    { header: { name: b(`${'p'.repeat(80)}/${'q'.repeat(80)}`), typeflag: TYPEFLAG.file, mode: 0o100600, uid: 0, gid: 0, size: 0, mtime: T0 } },
    { header: { name: b(`${'r'.repeat(200)}/${'s'.repeat(200)}`), typeflag: TYPEFLAG.file, mode: 0o100600, uid: 0, gid: 0, size: 0, mtime: T0 } },
    { header: { name: b('dir/ünï'), typeflag: TYPEFLAG.file, mode: 0o100644, uid: 4294967295, gid: 3000000, size: 0, mtime: { seconds: -1000, nanoseconds: 0 } } },
    { header: { name: binaryName, typeflag: TYPEFLAG.file, mode: 0o100644, uid: 0, gid: 0, size: 0, mtime: { seconds: 15032385535, nanoseconds: 0 } } },
    { header: { name: b('dir/link'), typeflag: TYPEFLAG.symlink, mode: 0o120777, uid: 0, gid: 0, size: 0, mtime: T0, linkname: b('L'.repeat(300)) } },
    { header: { name: b('dir/hard'), typeflag: TYPEFLAG.hardlink, mode: 0o100755, uid: 0, gid: 0, size: 0, mtime: T0, linkname: b('dir/file') } },
    { header: { name: b('dir/dev'), typeflag: TYPEFLAG.char, mode: 0o20600, uid: 0, gid: 0, size: 0, mtime: T0, devmajor: 4095, devminor: 1048575 } },
    { header: { name: b('dir/fifo'), typeflag: TYPEFLAG.fifo, mode: 0o10644, uid: 0, gid: 0, size: 0, mtime: T0 } },
    {
      header: {
        name: b('dir/times'), typeflag: TYPEFLAG.file, mode: 0o100644, uid: 0, gid: 0, size: 0,
        mtime: { seconds: 1700000000, nanoseconds: 100000000 }, atime: { seconds: -101, nanoseconds: 0 }, ctime: { seconds: 4294967396, nanoseconds: 750000000 },
        xattrs: [{ name: b('user.bin'), value: xattrValue }, { name: b('security.capability'), value: Buffer.alloc(20, 1) }, { name: b('user.empty'), value: Buffer.alloc(0) }],
      },
    },
  ];
  const file = path.join(work, 'shapes.tar');
  fs.writeFileSync(file, tarOf(entries));
  const listing = gnuTarList(file);
  assert.equal(listing.status, 0, listing.stderr);
  assert.equal(listing.lines.length, entries.length);
  const members = pythonTarMembers(file);
  assert.deepEqual(members.map((m) => m.name.toString('latin1').replace(/\/$/, '')), entries.map((e) => e.header.name.toString('latin1').replace(/\/$/, '')));
  const byName = new Map(members.map((m) => [m.name.toString('latin1'), m]));
  assert.equal(byName.get('dir/file').sha256, '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  assert.equal(byName.get('dir/file').mode & 0o7777, 0o4755);
  assert.equal(byName.get(b('dir/ünï').toString('latin1')).uid, 4294967295);
  assert.equal(byName.get(b('dir/ünï').toString('latin1')).gid, 3000000);
  assert.equal(byName.get(b('dir/ünï').toString('latin1')).pax.mtime.toString(), '-1000');
  assert.equal(byName.get(binaryName.toString('latin1')).pax.mtime.toString(), '15032385535');
  assert.equal(byName.get('dir/link').linkname.toString(), 'L'.repeat(300));
  assert.equal(byName.get('dir/hard').type, '1');
  assert.equal(byName.get('dir/dev').devmajor, 4095);
  assert.equal(byName.get('dir/dev').devminor, 1048575);
  const times = byName.get('dir/times').pax;
  assert.equal(times.mtime.toString(), '1700000000.1');
  assert.equal(times.atime.toString(), '-101');
  assert.equal(times.ctime.toString(), '4294967396.75');
  assert.deepEqual(times['SCHILY.xattr.user.bin'], xattrValue);
  assert.deepEqual(times['SCHILY.xattr.user.empty'], Buffer.alloc(0));
  assert.deepEqual(times['SCHILY.xattr.security.capability'], Buffer.alloc(20, 1));
});

test('a PAX header over 1 MiB is refused, as Go refuses it', () => {
  const header = { name: b('f'), typeflag: TYPEFLAG.file, mode: 0o100644, uid: 0, gid: 0, size: 0, mtime: T0, xattrs: [{ name: b('user.x'), value: Buffer.alloc(1 << 20) }] };
  assert.throws(() => encodeHeader(header), /PAX header of f would be/);
});

// ------------------------------------------------------------------ times ----

/** Deterministic pseudo-random numbers (xorshift). */
function randoms(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

test('every time hcsshim stores decodes to a time that stores the same bits', () => {
  const next = randoms(7);
  const ranges = [[-(2 ** 33), -(2 ** 31)], [-(2 ** 31), 0], [0, 2 ** 31], [2 ** 31, 2 ** 32], [2 ** 32, 0x37fffffff], [0x37fffffff, 2 ** 36]];
  for (let i = 0; i < 20000; i++) {
    const [lo, hi] = ranges[i % ranges.length];
    const t = { seconds: Math.floor(lo + next() * (hi - lo)), nanoseconds: i % 3 === 0 ? 0 : Math.floor(next() * 1e9) };
    const stored = hcsshimEncode(t);
    assert.deepEqual(hcsshimEncode(hcsshimTimeOf(stored)), stored, JSON.stringify(t));
    // An opaque directory's time goes through the marker's re-encoding once more.
    const afterMarker = hcsshimRestat(stored);
    assert.deepEqual(hcsshimRestat(hcsshimEncode(hcsshimOpaqueDirTimeOf(afterMarker))), afterMarker, `opaque ${JSON.stringify(t)}`);
  }
});

test('times in 1970-2038 are exact, nanoseconds included; absent is 0', () => {
  const t = { seconds: 1700000000, nanoseconds: 123456789 };
  assert.deepEqual(hcsshimTimeOf(hcsshimEncode(t)), t);
  assert.equal(hcsshimTimeOf({ lo: 0, extra: 0 }), undefined);
  assert.deepEqual(hcsshimTimeOf(hcsshimEncode({ seconds: -86400, nanoseconds: 5 })), { seconds: -86400, nanoseconds: 0 }, 'hcsshim loses pre-1970 nanoseconds');
});

test('the kernel\'s encoding: epoch bits extend the signed seconds', () => {
  assert.deepEqual(kernelTimeOf({ lo: 0x80000000, extra: 1 }), { seconds: 2 ** 31, nanoseconds: 0 });
  assert.deepEqual(kernelTimeOf({ lo: 0xffffffff, extra: 4 * 5 }), { seconds: -1, nanoseconds: 5 });
});
