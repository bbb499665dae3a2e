// VHDX log replay (MS-VHDX §2.3.3) with logs crafted here (valid CRC-32C): our reader
// replays into memory and leaves the file alone; writers replay into the file and clear
// LogGuid; qemu recognises the same logs (it refuses to open them read-only and replays
// them with `qemu-img check -r all`) and ends up with the bytes our reader showed.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { createVhdx } from '../dist/host/vhdx/writer.js';
import { inspectVhdx, openVhdxSource } from '../dist/host/vhdx/reader.js';
import { releaseZeroBlocks } from '../dist/host/vhdx/layout.js';
import { encodeLogEntry } from '../dist/host/vhdx/log-entry.js';
import { HEADER_OFFSETS, HEADER_SIZE, decodeHeader, encodeHeader } from '../dist/host/vhdx/header.js';
import { PAYLOAD_BLOCK_FULLY_PRESENT, PAYLOAD_BLOCK_NOT_PRESENT, encodeBatEntry } from '../dist/host/vhdx/bat.js';
import { guidFromString } from '../dist/host/vhdx/guid.js';
import { tmpDir } from './helpers/corpus.js';
import { GiB, MiB, QEMU_IMG, assertQemuCheckClean, patchFile, pattern, qemuImg, readAt } from './helpers/vhdx.js';

const work = tmpDir('lcow-vhdx-log-');
const noQemu = QEMU_IMG ? false : 'qemu-img not installed (Debian qemu-utils)';
const SIZE = 4 * GiB;
const LOG_OFFSET = MiB;
const BAT_OFFSET = 3 * MiB;
const BASE = 4 * MiB; // 4096 BAT entries fit one MiB: payload from 4 MiB on
const LOG_GUID = guidFromString('5A1B2C3D-4E5F-4071-8293-A4B5C6D7E8F9');

/** A 4 GiB disk with data in blocks 5, 9 and 600 (BAT sectors 0 and 1). */
async function baseDisk(name) {
  const file = path.join(work, name);
  fs.rmSync(file, { force: true });
  await createVhdx(file, { virtualSize: SIZE }, [5, 9, 600].map((block) => ({ offset: block * MiB, data: pattern(MiB, block) })));
  return file;
}

/** Sets LogGuid in both headers (sequence numbers + 1 and + 2, as a writer would). */
function setLogGuid(file, logGuid) {
  const [first, second] = HEADER_OFFSETS.map((offset) => decodeHeader(readAt(file, offset, HEADER_SIZE)));
  let sequenceNumber = first.sequenceNumber > second.sequenceNumber ? first.sequenceNumber : second.sequenceNumber;
  for (const offset of HEADER_OFFSETS) {
    sequenceNumber += 1n;
    patchFile(file, offset, encodeHeader({ ...first, sequenceNumber, logGuid }));
  }
}

/** BAT sector 0 of baseDisk with block 5 gone and block 7 pointing at block 5's data. */
function movedBatSector(file) {
  const sector = readAt(file, BAT_OFFSET, 4096);
  encodeBatEntry(sector, 5 * 8, PAYLOAD_BLOCK_NOT_PRESENT, 0);
  encodeBatEntry(sector, 7 * 8, PAYLOAD_BLOCK_FULLY_PRESENT, BASE + 5 * MiB);
  return sector;
}

function entry(file, options) {
  const { size } = fs.statSync(file);
  return encodeLogEntry({ logGuid: LOG_GUID, flushedFileOffset: Math.floor(size / MiB) * MiB, lastFileOffset: size, ...options });
}

/** The single-entry log: BAT sector 0 rewritten (data descriptor), BAT sector 1 zeroed (zero descriptor). */
function writeMovedLog(file) {
  const log = entry(file, {
    sequenceNumber: 10n,
    tail: 0,
    updates: [
      { kind: 'data', fileOffset: BAT_OFFSET, data: movedBatSector(file) },
      { kind: 'zero', fileOffset: BAT_OFFSET + 4096, length: 4096 },
    ],
  });
  patchFile(file, LOG_OFFSET, log);
  setLogGuid(file, LOG_GUID);
}

function sha256(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function blocks(file, list) {
  const source = openVhdxSource(file);
  try {
    return list.map((block) => source.read(block * MiB, MiB));
  } finally {
    source.close();
  }
}

const ZERO = Buffer.alloc(MiB);

test('a pending log is replayed in memory by the reader; the file is not written', async () => {
  const file = await baseDisk('moved.vhdx');
  writeMovedLog(file);
  const before = sha256(file);
  const [b5, b7, b9, b600] = blocks(file, [5, 7, 9, 600]);
  assert.deepEqual(b5, ZERO, 'block 5 is no longer present');
  assert.deepEqual(b7, pattern(MiB, 5), 'block 7 now maps block 5\'s data');
  assert.deepEqual(b9, pattern(MiB, 9), 'block 9 untouched');
  assert.deepEqual(b600, ZERO, 'BAT sector 1 was zeroed');
  const info = inspectVhdx(file);
  assert.deepEqual(info.log, { state: 'replayed-in-memory', entries: 1, updates: 2 });
  assert.equal(info.allocatedBlocks, 2);
  assert.equal(info.linear, false, 'block 7 is not at its slot');
  assert.equal(sha256(file), before, 'read-only: nothing written');
});

test('qemu sees the crafted log: refuses it read-only, replays it with check -r all, same bytes as our reader', { skip: noQemu }, async () => {
  const file = await baseDisk('qemu-moved.vhdx');
  writeMovedLog(file);
  const info = qemuImg('info', '-f', 'vhdx', file);
  assert.notEqual(info.status, 0);
  assert.match(info.stderr, /log that needs to be replayed/);
  const ours = blocks(file, [0, 5, 7, 9, 600]);
  const repaired = qemuImg('check', '-r', 'all', '-f', 'vhdx', file);
  assert.equal(repaired.status, 0, repaired.stdout + repaired.stderr);
  assertQemuCheckClean(assert, file);
  const raw = path.join(work, 'qemu-moved.raw');
  try {
    const convert = qemuImg('convert', '-f', 'vhdx', '-O', 'raw', file, raw);
    assert.equal(convert.status, 0, convert.stderr);
    [0, 5, 7, 9, 600].forEach((block, i) => assert.ok(readAt(raw, block * MiB, MiB).equals(ours[i]), `block ${block}`));
  } finally {
    fs.rmSync(raw, { force: true });
  }
  assert.equal(inspectVhdx(file).log.state, 'empty', 'qemu cleared LogGuid');
});

test('a writer replays the log into the file first and clears LogGuid (releaseZeroBlocks)', { skip: noQemu }, async () => {
  const file = await baseDisk('written.vhdx');
  writeMovedLog(file);
  const expected = blocks(file, [5, 7, 9, 600]);
  releaseZeroBlocks(file);
  const info = inspectVhdx(file);
  assert.equal(info.log.state, 'empty');
  assert.equal(info.headers[info.currentHeader - 1].logGuid, '00000000-0000-0000-0000-000000000000');
  assertQemuCheckClean(assert, file);
  assert.deepEqual(blocks(file, [5, 7, 9, 600]), expected);
});

test('the active sequence: two chained entries are replayed, an older stale entry is not', async () => {
  const file = await baseDisk('chain.vhdx');
  const sector0 = readAt(file, BAT_OFFSET, 4096);
  encodeBatEntry(sector0, 5 * 8, PAYLOAD_BLOCK_NOT_PRESENT, 0);
  const first = entry(file, { sequenceNumber: 20n, tail: 0, updates: [{ kind: 'data', fileOffset: BAT_OFFSET, data: sector0 }] });
  const second = entry(file, { sequenceNumber: 21n, tail: 0, updates: [{ kind: 'zero', fileOffset: BAT_OFFSET + 4096, length: 4096 }] });
  // Stale: a complete sequence of its own, but older (5 < 21); it would wipe BAT sector 0.
  const stale = entry(file, { sequenceNumber: 5n, tail: 512 * 1024, updates: [{ kind: 'zero', fileOffset: BAT_OFFSET, length: 4096 }] });
  patchFile(file, LOG_OFFSET, first);
  patchFile(file, LOG_OFFSET + first.length, second);
  patchFile(file, LOG_OFFSET + 512 * 1024, stale);
  setLogGuid(file, LOG_GUID);
  const [b5, b9, b600] = blocks(file, [5, 9, 600]);
  assert.deepEqual(b5, ZERO);
  assert.deepEqual(b9, pattern(MiB, 9));
  assert.deepEqual(b600, ZERO);
  assert.deepEqual(inspectVhdx(file).log, { state: 'replayed-in-memory', entries: 2, updates: 2 });
});

function refusal(file, code, pattern) {
  assert.throws(
    () => openVhdxSource(file),
    (error) => error.code === code && pattern.test(error.message) && !error.message.includes('\n'),
  );
}

test('a log entry with a bad checksum leaves no valid sequence: refused', async () => {
  const file = await baseDisk('badcrc.vhdx');
  writeMovedLog(file);
  patchFile(file, LOG_OFFSET + 4096 + 100, Buffer.from([0x55])); // inside the data sector
  refusal(file, 'VHDX_CORRUPT', /no valid, complete sequence/);
});

test('LogGuid set over an empty log: refused', async () => {
  const file = await baseDisk('emptylog.vhdx');
  setLogGuid(file, LOG_GUID);
  refusal(file, 'VHDX_CORRUPT', /no valid, complete sequence/);
});

test('entries of another LogGuid are not valid', async () => {
  const file = await baseDisk('otherguid.vhdx');
  writeMovedLog(file);
  setLogGuid(file, guidFromString('11111111-2222-4333-8444-555555555555'));
  refusal(file, 'VHDX_CORRUPT', /no valid, complete sequence/);
});

test('a head entry whose FlushedFileOffset is past the end of the file: truncated, refused', async () => {
  const file = await baseDisk('truncated-log.vhdx');
  const log = entry(file, { sequenceNumber: 3n, tail: 0, flushedFileOffset: 64 * GiB, updates: [{ kind: 'zero', fileOffset: BAT_OFFSET + 4096, length: 4096 }] });
  patchFile(file, LOG_OFFSET, log);
  setLogGuid(file, LOG_GUID);
  refusal(file, 'VHDX_CORRUPT', /truncated/);
});

test('a log update aimed at the header section is refused', async () => {
  const file = await baseDisk('header-update.vhdx');
  const log = entry(file, { sequenceNumber: 3n, tail: 0, updates: [{ kind: 'zero', fileOffset: 64 * 1024, length: 4096 }] });
  patchFile(file, LOG_OFFSET, log);
  setLogGuid(file, LOG_GUID);
  refusal(file, 'VHDX_CORRUPT', /header section/);
});
