// VHDX writer, reader and linear layout against qemu-img (Debian qemu-utils): files we
// write must pass `qemu-img check` and convert to the bytes we wrote; files qemu writes
// must read back through our reader as qemu's raw conversion has them; the loop-device
// layout must survive a real read-write ext4 mount.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { crc32c } from '../dist/host/crc32c.js';
import { createVhdx } from '../dist/host/vhdx/writer.js';
import { inspectVhdx, openVhdxSource } from '../dist/host/vhdx/reader.js';
import { allocateAllBlocks, linearPayloadBase, releaseZeroBlocks } from '../dist/host/vhdx/layout.js';
import { dataRanges } from '../dist/host/vhdx/holes.js';
import { hasTool, tmpDir, toolPath } from './helpers/corpus.js';
import { GiB, MiB, QEMU_IMG, assertQemuCheckClean, pattern, qemuImg, qemuInfo, qemuToRaw, readAt, scatteredWrites, sizes } from './helpers/vhdx.js';

const work = tmpDir('lcow-vhdx-');
const noQemu = QEMU_IMG ? false : 'qemu-img not installed (Debian qemu-utils)';

function readAll(file) {
  const source = openVhdxSource(file);
  try {
    return source.read(0, source.size);
  } finally {
    source.close();
  }
}

test('crc32c: the standard check value, zeros, and continuation', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  const data = pattern(10007, 9);
  assert.equal(crc32c(data.subarray(3000), crc32c(data.subarray(0, 3000))), crc32c(data));
});

for (const [name, size] of [['20 GiB', 20 * GiB], ['21 GiB', 21 * GiB], ['1 TiB', 1024 * GiB]]) {
  test(`createVhdx ${name}, scattered writes: qemu-img check, info and convert agree, our reader too`, { skip: noQemu }, async () => {
    const file = path.join(work, `disk-${size}.vhdx`);
    const writes = scatteredWrites(size);
    await createVhdx(file, { virtualSize: size }, writes);
    assertQemuCheckClean(assert, file);
    const info = qemuInfo(file);
    assert.equal(info['virtual-size'], size);
    assert.equal(info.format, 'vhdx');
    assert.equal(info['cluster-size'], MiB);
    // Only the touched blocks take space: a few blocks of data plus the metadata.
    assert.ok(sizes(file).allocated < 16 * MiB, `allocated ${sizes(file).allocated} bytes`);
    const touched = new Set(writes.flatMap(({ offset, data }) => [Math.floor(offset / MiB), Math.floor((offset + data.length - 1) / MiB)]));
    const ours = inspectVhdx(file);
    assert.equal(ours.allocatedBlocks, touched.size);
    assert.equal(ours.linear, true);
    const raw = path.join(work, `disk-${size}.raw`);
    try {
      qemuToRaw(assert, file, raw);
      const source = openVhdxSource(file);
      try {
        assert.equal(source.size, size);
        for (const { offset, data } of writes) {
          assert.deepEqual(readAt(raw, offset, data.length), data, `qemu's raw at ${offset}`);
          assert.deepEqual(source.read(offset, data.length), data, `our reader at ${offset}`);
          assert.deepEqual(source.read(offset - 512 * (offset > 0), 512), readAt(raw, offset - 512 * (offset > 0), 512));
        }
        assert.deepEqual(source.read(5 * GiB, 4096), Buffer.alloc(4096), 'an unallocated block reads as zeros');
      } finally {
        source.close();
      }
    } finally {
      fs.rmSync(raw, { force: true });
      fs.rmSync(file, { force: true });
    }
  });
}

const SMALL = 64 * MiB;

/** A 64 MiB raw image with data in some blocks, zeros in others, and a partial block. */
function smallRaw(file) {
  const bytes = Buffer.alloc(SMALL);
  pattern(3 * MiB + 4321, 11).copy(bytes, 0);
  pattern(2 * MiB, 12).copy(bytes, 40 * MiB - 4096);
  pattern(512, 13).copy(bytes, SMALL - 512);
  fs.writeFileSync(file, bytes);
  return bytes;
}

for (const options of [{}, { blockSize: 32 * MiB }, { blockSize: 256 * MiB, physicalSectorSize: 512 }, { logicalSectorSize: 4096 }, { blockSize: 8 * MiB, logicalSectorSize: 4096 }]) {
  test(`createVhdx 64 MiB ${JSON.stringify(options)}: qemu's full raw conversion equals the input`, { skip: noQemu }, async (t) => {
    const rawIn = path.join(work, 'small-in.raw');
    const bytes = smallRaw(rawIn);
    const file = path.join(work, 'small.vhdx');
    const writes = [];
    for (let at = 0; at < SMALL; at += MiB) writes.push({ offset: at, data: bytes.subarray(at, at + MiB) });
    await createVhdx(file, { virtualSize: SMALL, ...options }, writes);
    assert.ok(readAll(file).equals(bytes), 'our reader reads back what we wrote');
    if (options.logicalSectorSize === 4096) {
      // qemu's vhdx driver opens only 512-byte logical sectors (ENOTSUP otherwise).
      assert.match(qemuImg('check', '-f', 'vhdx', file).stderr, /Operation not supported/);
      t.diagnostic('qemu-img cannot open 4096-byte logical sectors: checked with our reader only');
    } else {
      assertQemuCheckClean(assert, file);
      const info = qemuInfo(file);
      assert.equal(info['cluster-size'], options.blockSize ?? MiB);
      const rawOut = path.join(work, 'small-out.raw');
      qemuToRaw(assert, file, rawOut);
      assert.ok(fs.readFileSync(rawOut).equals(bytes), 'qemu reads back what we wrote');
    }
    const ours = inspectVhdx(file);
    assert.equal(ours.logicalSectorSize, options.logicalSectorSize ?? 512);
    assert.equal(ours.physicalSectorSize, options.physicalSectorSize ?? 4096);
  });
}

for (const qemuOptions of ['block_size=1M', 'block_size=8M', 'block_size=32M', 'subformat=fixed', 'subformat=fixed,block_size=16M', 'block_size=1M,log_size=4M']) {
  test(`our reader reads qemu-img convert -O vhdx -o ${qemuOptions}`, { skip: noQemu }, () => {
    const rawIn = path.join(work, 'q-in.raw');
    const bytes = smallRaw(rawIn);
    const file = path.join(work, 'q.vhdx');
    fs.rmSync(file, { force: true });
    const r = qemuImg('convert', '-f', 'raw', '-O', 'vhdx', '-o', qemuOptions, rawIn, file);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readAll(file).equals(bytes));
    const info = inspectVhdx(file);
    assert.equal(info.virtualSize, SMALL);
    assert.equal(info.leaveBlocksAllocated, qemuOptions.includes('fixed'));
    assert.equal(info.log.state, 'empty');
  });
}

test('our reader reads an empty qemu-img create -f vhdx disk as zeros', { skip: noQemu }, () => {
  const file = path.join(work, 'created.vhdx');
  fs.rmSync(file, { force: true });
  assert.equal(qemuImg('create', '-f', 'vhdx', '-o', 'block_size=4M', file, '100M').status, 0);
  const source = openVhdxSource(file);
  try {
    assert.equal(source.size, 100 * MiB);
    assert.deepEqual(source.read(99 * MiB, MiB), Buffer.alloc(MiB));
  } finally {
    source.close();
  }
  assert.equal(inspectVhdx(file).allocatedBlocks, 0);
});

test('allocateAllBlocks then releaseZeroBlocks: qemu-img check clean, content unchanged, file back to its blocks', { skip: noQemu }, async () => {
  const rawIn = path.join(work, 'alloc-in.raw');
  const bytes = smallRaw(rawIn);
  const file = path.join(work, 'alloc.vhdx');
  const writes = [{ offset: 0, data: bytes.subarray(0, 4 * MiB) }, { offset: 40 * MiB - 4096, data: bytes.subarray(40 * MiB - 4096, 42 * MiB) }];
  // Leave the last block out: the file then ends before base + n * blockSize (blocks past EOF absent).
  await createVhdx(file, { virtualSize: SMALL }, writes);
  const expected = Buffer.from(bytes);
  expected.fill(0, SMALL - 512);
  assertQemuCheckClean(assert, file);
  const base = linearPayloadBase(file);
  assert.equal(base, 4 * MiB);
  const before = inspectVhdx(file);
  assert.ok(before.fileSize < base + SMALL, 'the file ends before the last slot');

  allocateAllBlocks(file);
  assertQemuCheckClean(assert, file);
  const all = inspectVhdx(file);
  assert.equal(all.allocatedBlocks, 64);
  assert.equal(all.fileSize, base + SMALL);
  assert.equal(all.linearBase, base);
  assert.equal(all.log.state, 'empty');
  assert.notEqual(all.headers[all.currentHeader - 1].dataWriteGuid, before.headers[before.currentHeader - 1].dataWriteGuid);
  assert.ok(BigInt(all.headers[all.currentHeader - 1].sequenceNumber) > BigInt(before.headers[before.currentHeader - 1].sequenceNumber));
  assert.ok(sizes(file).allocated < 16 * MiB, 'the new blocks are holes');
  const raw = path.join(work, 'alloc.raw');
  qemuToRaw(assert, file, raw);
  assert.ok(fs.readFileSync(raw).equals(expected));
  // The virtual disk is now the file's bytes from base on: what a loop device will see.
  assert.ok(readAt(file, base, SMALL).equals(expected));

  const released = releaseZeroBlocks(file);
  assert.equal(released, 64 - 7);
  assertQemuCheckClean(assert, file);
  const after = inspectVhdx(file);
  assert.equal(after.allocatedBlocks, 7);
  assert.equal(after.fileSize, base + 42 * MiB, 'truncated after the last present block');
  assert.equal(after.headers[after.currentHeader - 1].dataWriteGuid, all.headers[all.currentHeader - 1].dataWriteGuid, 'the data did not change');
  qemuToRaw(assert, file, raw);
  assert.ok(fs.readFileSync(raw).equals(expected));
  assert.equal(releaseZeroBlocks(file), 0, 'nothing more to release');
});

test('allocateAllBlocks on a qemu fixed disk changes nothing; a non-linear qemu disk is refused', { skip: noQemu }, (t) => {
  const rawIn = path.join(work, 'nl-in.raw');
  smallRaw(rawIn);
  const fixed = path.join(work, 'fixed.vhdx');
  fs.rmSync(fixed, { force: true });
  assert.equal(qemuImg('convert', '-f', 'raw', '-O', 'vhdx', '-o', 'subformat=fixed', rawIn, fixed).status, 0);
  const before = fs.readFileSync(fixed);
  if (linearPayloadBase(fixed) !== undefined) {
    allocateAllBlocks(fixed);
    assert.ok(fs.readFileSync(fixed).equals(before), 'already all present: untouched');
  }
  assert.equal(releaseZeroBlocks(fixed), 0, 'LeaveBlocksAllocated: nothing released');
  // qemu allocates blocks in the order it writes them: write block 5 before block 2.
  const qemuIo = toolPath('qemu-io');
  if (!qemuIo) return t.skip('qemu-io not installed: the non-linear half needs it to write into an image');
  const dynamic = path.join(work, 'nonlinear.vhdx');
  fs.rmSync(dynamic, { force: true });
  assert.equal(qemuImg('create', '-f', 'vhdx', '-o', 'block_size=1M', dynamic, '64M').status, 0);
  for (const [at, fill] of [[5, 7], [2, 8]]) {
    const io = spawnSync(qemuIo, ['-f', 'vhdx', '-c', `write -P ${fill} ${at}M 1M`, dynamic], { encoding: 'utf8' });
    assert.equal(io.status, 0, io.stderr);
  }
  assertQemuCheckClean(assert, dynamic);
  const info = inspectVhdx(dynamic);
  assert.equal(info.allocatedBlocks, 2);
  assert.equal(info.zeroStateBlocks, 62, 'qemu creates blocks in the ZERO state');
  const source = openVhdxSource(dynamic);
  try {
    assert.deepEqual(source.read(5 * MiB, MiB), Buffer.alloc(MiB, 7));
    assert.deepEqual(source.read(2 * MiB, MiB), Buffer.alloc(MiB, 8));
  } finally {
    source.close();
  }
  assert.equal(linearPayloadBase(dynamic), undefined);
  assert.throws(() => allocateAllBlocks(dynamic), (e) => e.code === 'VHDX_NOT_LINEAR' && !e.message.includes('\n'));
});

function loopWhyNot() {
  if (process.platform !== 'linux') return `loop devices need Linux (this is ${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'loop devices need root';
  for (const tool of ['losetup', 'mount', 'umount', 'mke2fs', 'e2fsck', 'debugfs']) if (!hasTool(tool)) return `${tool} not installed`;
  if (!fs.existsSync('/dev/loop-control')) return 'no /dev/loop-control';
  return noQemu;
}

function run(tool, args) {
  const r = spawnSync(toolPath(tool), args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

test('loop-mount round trip: ext4 into our VHDX, allocateAllBlocks, losetup --offset, write files, detach, releaseZeroBlocks', { skip: loopWhyNot() }, async (t) => {
  const size = 20 * GiB;
  const rawIn = path.join(work, 'fs.raw');
  fs.rmSync(rawIn, { force: true });
  fs.closeSync(fs.openSync(rawIn, 'w'));
  fs.truncateSync(rawIn, 1 * GiB);
  const mk = run('mke2fs', ['-q', '-F', '-t', 'ext4', '-O', '^has_journal', rawIn]);
  assert.equal(mk.status, 0, mk.stderr);
  const file = path.join(work, 'sandbox.vhdx');
  const fd = fs.openSync(rawIn, 'r');
  try {
    function* writes() {
      for (const [from, to] of dataRanges(fd, 0, GiB)) {
        for (let at = from; at < to; at += MiB) {
          const data = Buffer.alloc(Math.min(MiB, to - at));
          fs.readSync(fd, data, 0, data.length, at);
          yield { offset: at, data };
        }
      }
    }
    await createVhdx(file, { virtualSize: size }, writes());
  } finally {
    fs.closeSync(fd);
  }
  assertQemuCheckClean(assert, file);
  const base = linearPayloadBase(file);
  assert.ok(base !== undefined);
  allocateAllBlocks(file);
  assertQemuCheckClean(assert, file);

  const mnt = path.join(work, 'mnt');
  fs.mkdirSync(mnt, { recursive: true });
  const attach = run('losetup', ['--offset', String(base), '--sizelimit', String(size), '-f', '--show', file]);
  if (attach.status !== 0) return t.skip(`losetup refused: ${attach.stderr.trim()}`);
  const device = attach.stdout.trim();
  let mounted = false;
  let detached = false;
  const release = () => {
    if (mounted) {
      if (run('umount', [mnt]).status !== 0) run('umount', ['-l', mnt]);
      mounted = false;
    }
    if (!detached) {
      run('losetup', ['-d', device]);
      detached = true;
    }
  };
  t.after(release);
  try {
    const m = run('mount', ['-t', 'ext4', device, mnt]);
    assert.equal(m.status, 0, m.stderr);
    mounted = true;
    fs.mkdirSync(path.join(mnt, 'upper'));
    fs.writeFileSync(path.join(mnt, 'upper', 'hello.txt'), 'hello from a loop-mounted VHDX\n');
    fs.writeFileSync(path.join(mnt, 'big.bin'), pattern(3 * MiB + 5, 21));
  } finally {
    release();
  }
  const released = releaseZeroBlocks(file);
  assert.ok(released > 20 * 1024 - 2048, `released ${released} blocks`);
  assertQemuCheckClean(assert, file);
  assert.ok(sizes(file).allocated < 200 * MiB, `sandbox takes ${sizes(file).allocated} bytes`);
  t.diagnostic(`20 GiB sandbox after the round trip: ${inspectVhdx(file).allocatedBlocks} blocks present, ${sizes(file).allocated} bytes on disk`);

  const rawOut = path.join(work, 'fs-out.raw');
  try {
    qemuToRaw(assert, file, rawOut);
    const fsck = run('e2fsck', ['-fn', rawOut]);
    assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
    const cat = run('debugfs', ['-R', 'cat /upper/hello.txt', rawOut]);
    assert.equal(cat.stdout, 'hello from a loop-mounted VHDX\n');
    const dump = path.join(work, 'big.out');
    run('debugfs', ['-R', `dump /big.bin ${dump}`, rawOut]);
    assert.ok(fs.readFileSync(dump).equals(pattern(3 * MiB + 5, 21)));
    // Our reader sees the same file system bytes as qemu.
    const source = openVhdxSource(file);
    try {
      for (const at of [0, 1024, 4096 * 1000, 512 * MiB]) assert.deepEqual(source.read(at, 65536), readAt(rawOut, at, 65536));
    } finally {
      source.close();
    }
  } finally {
    fs.rmSync(rawOut, { force: true });
  }
});
