// The empty sandbox ext4 (issue 11 item 5) against the real mke2fs: byte-equal over the
// allocated ranges of both files for the same size, UUID, hash seed and time, equal
// dumpe2fs output, e2fsck -fn clean; the stream's shape; refusals of bad options.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { emptyExt4Writes, writeEmptyExt4Raw } from '../dist/host/empty-ext4.js';
import { LcowError } from '../dist/host/errors.js';
import { hasTool, tmpDir } from './helpers/corpus.js';
import { FIXED, uuidBytes, whyNoMke2fs, scratchDir, makeReference, compareAllocated, toolOutput } from './empty-ext4/reference.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

const fixedOptions = (sizeBytes) => ({ sizeBytes, uuid: uuidBytes(FIXED.uuid), hashSeed: uuidBytes(FIXED.hashSeed), time: FIXED.time });

// The driver's sizes (lcow.sandboxsize N = N GiB) and sizes that hit the edge cases of
// mke2fs's arithmetic. `large` references want tmpfs (see scratchDir).
const SIZES = [
  { name: '20 GiB (the default sandbox)', bytes: 20 * GiB },
  { name: '21 GiB', bytes: 21 * GiB },
  { name: '1 TiB (8192 groups, 128 descriptor blocks)', bytes: TiB, large: true },
  { name: '512 MiB (smallest "default" type)', bytes: 512 * MiB },
  { name: '1 GiB + 4 KiB (one-block last group dropped)', bytes: GiB + 4 * KiB },
  { name: '17 GiB (136 groups: short last flex group)', bytes: 17 * GiB },
  { name: '2 GiB + 128 MiB (17 groups: a last flex group of one)', bytes: 2 * GiB + 128 * MiB },
  { name: '20 GiB + 567 blocks (last group just too small: dropped)', bytes: 20 * GiB + 567 * 4096 },
  { name: '20 GiB + 568 blocks (last group just big enough)', bytes: 20 * GiB + 568 * 4096 },
  { name: '20 GiB + 1000 bytes (not a whole block)', bytes: 20 * GiB + 1000 },
  { name: '5 TiB ("big" type: 32 KiB per inode)', bytes: 5 * TiB, large: true },
];

const noMke2fs = whyNoMke2fs();
const scratch = noMke2fs ? null : scratchDir();

function oursAndReference(sizeBytes, extra = {}) {
  const reference = path.join(scratch.dir, 'reference.img');
  const ours = path.join(scratch.dir, 'ours.img');
  makeReference(reference, sizeBytes, extra.rootOwner ? { rootOwner: extra.rootOwner } : {});
  return { reference, ours };
}

function cleanUp(...files) {
  for (const f of files) fs.rmSync(f, { force: true });
}

for (const size of SIZES) {
  test(`empty ext4 of ${size.name} equals mke2fs's`, async (t) => {
    if (noMke2fs) return t.skip(noMke2fs);
    if (size.large && !scratch.tmpfs) return t.skip('no tmpfs for the reference: mke2fs would allocate its zeroed inode tables on disk');
    const { reference, ours } = oursAndReference(size.bytes);
    t.after(() => cleanUp(reference, ours));
    const started = performance.now();
    await writeEmptyExt4Raw(ours, fixedOptions(size.bytes));
    const ms = performance.now() - started;
    const c = compareAllocated(ours, reference);
    t.diagnostic(`${size.bytes} bytes: compared ${c.compared} allocated bytes (${c.rangesA} data ranges ours, ${c.rangesB} mke2fs), ${c.differences} differ; written in ${ms.toFixed(0)} ms`);
    assert.equal(c.sizeA, size.bytes);
    assert.equal(c.sizeA, c.sizeB);
    assert.equal(c.differences, 0, `first difference at byte ${c.first} (block ${Math.floor(c.first / 4096)})`);
    const dumpOurs = toolOutput('dumpe2fs', [], ours);
    const dumpReference = toolOutput('dumpe2fs', [], reference);
    assert.equal(dumpOurs.status, 0);
    assert.equal(dumpOurs.text, dumpReference.text);
  });
}

test("root owner: equals mke2fs -E root_owner=1000:70000", async (t) => {
  if (noMke2fs) return t.skip(noMke2fs);
  const { reference, ours } = oursAndReference(21 * GiB, { rootOwner: '1000:70000' });
  t.after(() => cleanUp(reference, ours));
  await writeEmptyExt4Raw(ours, { ...fixedOptions(21 * GiB), rootUid: 1000, rootGid: 70000 });
  const c = compareAllocated(ours, reference);
  assert.equal(c.differences, 0, `first difference at byte ${c.first}`);
  const stat = toolOutput('debugfs', ['-R', 'stat <2>'], ours);
  assert.match(stat.text, /User:\s+1000\s+Group:\s+70000/);
});

test('e2fsck -fn passes on the 20 GiB and 1 TiB file systems, and debugfs sees root and lost+found', async (t) => {
  if (!hasTool('e2fsck') || !hasTool('debugfs')) return t.skip('e2fsck/debugfs not installed (Debian e2fsprogs)');
  const dir = tmpDir('lcow-empty-ext4-fsck-');
  for (const sizeBytes of [20 * GiB, TiB]) {
    const file = path.join(dir, 'sandbox.img');
    await writeEmptyExt4Raw(file, fixedOptions(sizeBytes));
    try {
      const fsck = toolOutput('e2fsck', ['-fn'], file);
      assert.equal(fsck.status, 0, fsck.text);
      const root = toolOutput('debugfs', ['-R', 'ls -l /'], file).text;
      assert.match(root, /lost\+found/);
      const lostAndFound = toolOutput('debugfs', ['-R', 'stat <11>'], file).text;
      assert.match(lostAndFound, /Size: 16384/);
      assert.match(lostAndFound, /Mode:\s+0700/);
      const rootStat = toolOutput('debugfs', ['-R', 'stat <2>'], file).text;
      assert.match(rootStat, /Mode:\s+0755/);
      assert.match(rootStat, /crtime: 0x6553f100/);
    } finally {
      cleanUp(file);
    }
  }
});

test('the stream: ascending, disjoint, inside the disk, no all-zero piece, a few MiB for 1 TiB', () => {
  for (const sizeBytes of [512 * MiB, 20 * GiB, 20 * GiB + 1000, TiB, 15 * TiB]) {
    let end = 0;
    let bytes = 0;
    let count = 0;
    for (const { offset, data } of emptyExt4Writes(fixedOptions(sizeBytes))) {
      assert.ok(offset >= end, `piece at ${offset} overlaps or precedes the one ending at ${end}`);
      assert.ok(data.some((b) => b !== 0), `all-zero piece at ${offset}`);
      end = offset + data.length;
      bytes += data.length;
      count++;
    }
    assert.ok(end <= sizeBytes);
    assert.ok(count > 0);
    if (sizeBytes === TiB) assert.ok(bytes < 4 * MiB, `1 TiB emits ${bytes} bytes`);
  }
});

test('pieces are the caller\'s: collecting them all gives the same bytes as streaming', () => {
  const collected = [...emptyExt4Writes(fixedOptions(21 * GiB))];
  let i = 0;
  for (const piece of emptyExt4Writes(fixedOptions(21 * GiB))) {
    assert.equal(piece.offset, collected[i].offset);
    assert.deepEqual(piece.data, collected[i].data);
    i++;
  }
  assert.equal(i, collected.length);
});

test('time: 20 GiB and 1 TiB are emitted in under two seconds', (t) => {
  for (const sizeBytes of [20 * GiB, TiB]) {
    const started = performance.now();
    let bytes = 0;
    for (const piece of emptyExt4Writes(fixedOptions(sizeBytes))) bytes += piece.data.length;
    const ms = performance.now() - started;
    t.diagnostic(`${sizeBytes / GiB} GiB: ${bytes} bytes of pieces in ${ms.toFixed(1)} ms`);
    assert.ok(ms < 2000, `${ms} ms`);
  }
});

test('defaults: a random version-4 UUID and hash seed, the current time, root owned by 0:0', () => {
  const superblockOf = (pieces) => pieces.find((p) => p.offset === 1024).data;
  const before = Math.floor(Date.now() / 1000);
  const a = superblockOf([...emptyExt4Writes({ sizeBytes: 20 * GiB })]);
  const b = superblockOf([...emptyExt4Writes({ sizeBytes: 20 * GiB })]);
  const after = Math.floor(Date.now() / 1000);
  const uuid = a.subarray(0x68, 0x78);
  assert.notDeepEqual(uuid, b.subarray(0x68, 0x78));
  assert.notDeepEqual(a.subarray(0xec, 0xfc), b.subarray(0xec, 0xfc));
  assert.equal(uuid[6] >> 4, 4);
  assert.equal(uuid[8] >> 6, 2);
  const mkfsTime = Buffer.from(a).readUInt32LE(0x108);
  assert.ok(mkfsTime >= before && mkfsTime <= after);
});

test('bad options are refused at once with one clear error, and no file is left', async () => {
  const refused = (options, code, pattern) => {
    assert.throws(() => emptyExt4Writes(options), (err) => err instanceof LcowError && err.code === code && pattern.test(err.message));
  };
  refused({ sizeBytes: 16 * MiB }, 'EXT4_EMPTY_SIZE_UNSUPPORTED', /size 16777216 is not supported: .*512 MiB/);
  refused({ sizeBytes: 16 * TiB }, 'EXT4_EMPTY_SIZE_UNSUPPORTED', /16 TiB/);
  refused({ sizeBytes: 20.5 * GiB + 0.5 }, 'EXT4_EMPTY_SIZE_UNSUPPORTED', /whole number/);
  refused({ sizeBytes: Number.NaN }, 'EXT4_EMPTY_SIZE_UNSUPPORTED', /NaN/);
  refused({ sizeBytes: 20 * GiB, uuid: new Uint8Array(15) }, 'USAGE', /uuid must be 16 bytes/);
  refused({ sizeBytes: 20 * GiB, hashSeed: 'x'.repeat(16) }, 'USAGE', /hashSeed must be 16 bytes/);
  refused({ sizeBytes: 20 * GiB, time: -1 }, 'USAGE', /time must be an integer/);
  refused({ sizeBytes: 20 * GiB, time: 2 ** 32 }, 'USAGE', /time must be an integer/);
  refused({ sizeBytes: 20 * GiB, rootUid: 1.5 }, 'USAGE', /rootUid/);
  const file = path.join(tmpDir('lcow-empty-ext4-bad-'), 'sandbox.img');
  await assert.rejects(writeEmptyExt4Raw(file, { sizeBytes: 100 }), { code: 'EXT4_EMPTY_SIZE_UNSUPPORTED' });
  assert.equal(fs.existsSync(file), false);
  await assert.rejects(writeEmptyExt4Raw(path.join(file, 'no', 'such', 'dir'), { sizeBytes: 20 * GiB }), { code: 'OUTPUT_WRITE_FAILED' });
});
