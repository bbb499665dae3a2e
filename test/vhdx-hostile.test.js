// Malformed VHDX files, one shape per test: each must be refused with one LcowError
// (a stable code, a one-line message naming the structure and why), never a hang, a
// trap or a huge allocation. Valid-but-damaged files fall back as MS-VHDX says (the other
// header, the other region table copy).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { createVhdx } from '../dist/host/vhdx/writer.js';
import { inspectVhdx, openVhdxSource } from '../dist/host/vhdx/reader.js';
import { HEADER_OFFSETS, HEADER_SIZE, decodeHeader, encodeHeader } from '../dist/host/vhdx/header.js';
import { REGION_TABLE_OFFSETS, REGION_TABLE_SIZE, decodeRegionTable, encodeRegionTable } from '../dist/host/vhdx/region-table.js';
import { METADATA_TABLE_SIZE, LOGICAL_SECTOR_SIZE_GUID, FILE_PARAMETERS_GUID, VIRTUAL_DISK_SIZE_GUID, decodeMetadataTable, encodeMetadataTable } from '../dist/host/vhdx/metadata.js';
import { PAYLOAD_BLOCK_FULLY_PRESENT, PAYLOAD_BLOCK_PARTIALLY_PRESENT, encodeBatEntry } from '../dist/host/vhdx/bat.js';
import { guidEquals, guidFromString } from '../dist/host/vhdx/guid.js';
import { tmpDir } from './helpers/corpus.js';
import { MiB, patchFile, pattern, readAt } from './helpers/vhdx.js';

const work = tmpDir('lcow-vhdx-hostile-');
const SIZE = 64 * MiB;
const METADATA_OFFSET = 2 * MiB;
const BAT_OFFSET = 3 * MiB;
const BASE = 4 * MiB;

let counter = 0;
/** A fresh 64 MiB disk with blocks 0, 1 and 5 present (file size BASE + 6 MiB). */
async function disk() {
  const file = path.join(work, `d${counter++}.vhdx`);
  await createVhdx(file, { virtualSize: SIZE }, [0, 1, 5].map((block) => ({ offset: block * MiB, data: pattern(MiB, block + 1) })));
  return file;
}

function refused(file, code, pattern) {
  const started = Date.now();
  assert.throws(
    () => openVhdxSource(file),
    (error) => {
      assert.equal(error.code, code, error.message);
      assert.match(error.message, pattern);
      assert.ok(!error.message.includes('\n'), 'one line');
      assert.ok(error.message.startsWith(file), 'names the file');
      return true;
    },
  );
  assert.ok(Date.now() - started < 5000, 'refused promptly');
}

function rewriteHeader(file, index, change) {
  const header = decodeHeader(readAt(file, HEADER_OFFSETS[index], HEADER_SIZE));
  patchFile(file, HEADER_OFFSETS[index], encodeHeader({ ...header, ...change }));
}

function rewriteRegions(file, change, copies = [0, 1]) {
  const entries = decodeRegionTable(readAt(file, REGION_TABLE_OFFSETS[0], REGION_TABLE_SIZE));
  const table = encodeRegionTable(change(entries));
  for (const copy of copies) patchFile(file, REGION_TABLE_OFFSETS[copy], table);
}

function rewriteMetadataTable(file, change) {
  const entries = decodeMetadataTable(readAt(file, METADATA_OFFSET, METADATA_TABLE_SIZE));
  patchFile(file, METADATA_OFFSET, encodeMetadataTable(change(entries)));
}

function patchItem(file, guid, at, bytes) {
  const entries = decodeMetadataTable(readAt(file, METADATA_OFFSET, METADATA_TABLE_SIZE));
  const entry = entries.find((e) => guidEquals(e.itemId, guid));
  patchFile(file, METADATA_OFFSET + entry.offset + at, bytes);
}

function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function u64(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function setBat(file, index, state, fileOffset) {
  const entry = Buffer.alloc(8);
  encodeBatEntry(entry, 0, state, fileOffset);
  patchFile(file, BAT_OFFSET + index * 8, entry);
}

const UNKNOWN_GUID = guidFromString('01234567-89AB-4CDE-8F01-23456789ABCD');

test('an empty file, random bytes and a wrong signature are not VHDX files', async () => {
  const empty = path.join(work, 'empty.vhdx');
  fs.writeFileSync(empty, '');
  refused(empty, 'VHDX_CORRUPT', /not a VHDX file/);
  const random = path.join(work, 'random.vhdx');
  fs.writeFileSync(random, pattern(2 * MiB, 7));
  refused(random, 'VHDX_CORRUPT', /not a VHDX file/);
  const file = await disk();
  patchFile(file, 0, Buffer.from('vhdxfilX'));
  refused(file, 'VHDX_CORRUPT', /not a VHDX file/);
});

test('a missing file is an I/O failure naming the file', () => {
  refused(path.join(work, 'no-such.vhdx'), 'VHDX_IO_FAILED', /ENOENT/);
});

test('truncated files: inside the header section, inside the metadata region, inside a present block', async () => {
  const a = await disk();
  fs.truncateSync(a, 512 * 1024);
  refused(a, 'VHDX_CORRUPT', /truncated/);
  const b = await disk();
  fs.truncateSync(b, METADATA_OFFSET + MiB / 2);
  refused(b, 'VHDX_CORRUPT', /region table: the BAT ends at 4194304, past the end of the file \(2621440 bytes; truncated\?\)/);
  const c = await disk();
  fs.truncateSync(c, BASE + 5 * MiB + 4096);
  refused(c, 'VHDX_CORRUPT', /block 5 at .* past the end of the file/);
});

test('one bad header: the other is used (either way round); both bad: refused', async () => {
  const first = await disk();
  patchFile(first, HEADER_OFFSETS[0] + 100, Buffer.from([1]));
  let info = inspectVhdx(first);
  assert.equal(info.currentHeader, 2);
  assert.deepEqual([info.headers[0].valid, info.headers[0].problem], [false, 'bad CRC-32C']);
  const second = await disk();
  patchFile(second, HEADER_OFFSETS[1] + 8, Buffer.from([9])); // the current one (sequence 2)
  info = inspectVhdx(second);
  assert.equal(info.currentHeader, 1);
  assert.ok(openVhdxSource(second).read(0, MiB).equals(pattern(MiB, 1)));
  patchFile(second, HEADER_OFFSETS[0], Buffer.from('heaX'));
  refused(second, 'VHDX_CORRUPT', /no valid header \(header 1: bad signature; header 2: bad CRC-32C\)/);
});

test('two valid headers that differ with one sequence number: no current header', async () => {
  const file = await disk();
  rewriteHeader(file, 0, { sequenceNumber: 2n, fileWriteGuid: UNKNOWN_GUID });
  refused(file, 'VHDX_CORRUPT', /same sequence number/);
});

test('header version 2 and log version 1 with a pending log are unsupported; a misaligned log is corrupt', async () => {
  const a = await disk();
  rewriteHeader(a, 1, { version: 2 });
  refused(a, 'VHDX_UNSUPPORTED', /version 2/);
  const b = await disk();
  rewriteHeader(b, 1, { logVersion: 1, logGuid: UNKNOWN_GUID });
  refused(b, 'VHDX_UNSUPPORTED', /log version 1/);
  const c = await disk();
  rewriteHeader(c, 1, { logOffset: MiB + 4096 });
  refused(c, 'VHDX_CORRUPT', /log offset/);
});

test('region table: a bad first copy falls back to the second; both bad, overlaps, missing or unknown required regions refused', async () => {
  const fallback = await disk();
  patchFile(fallback, REGION_TABLE_OFFSETS[0] + 40, Buffer.from([0xff]));
  assert.ok(openVhdxSource(fallback).read(5 * MiB, MiB).equals(pattern(MiB, 6)));
  patchFile(fallback, REGION_TABLE_OFFSETS[1] + 40, Buffer.from([0xff]));
  refused(fallback, 'VHDX_CORRUPT', /region table: no valid copy/);

  const overlap = await disk();
  rewriteRegions(overlap, (entries) => entries.map((e) => (e.fileOffset === BAT_OFFSET ? { ...e, fileOffset: METADATA_OFFSET } : e)));
  refused(overlap, 'VHDX_CORRUPT', /overlaps/);
  const intoLog = await disk();
  rewriteRegions(intoLog, (entries) => entries.map((e) => (e.fileOffset === METADATA_OFFSET ? { ...e, fileOffset: MiB } : e)));
  refused(intoLog, 'VHDX_CORRUPT', /overlaps the log/);
  const noBat = await disk();
  rewriteRegions(noBat, (entries) => entries.filter((e) => e.fileOffset !== BAT_OFFSET));
  refused(noBat, 'VHDX_CORRUPT', /no BAT region/);
  const unknown = await disk();
  rewriteRegions(unknown, (entries) => [...entries, { guid: UNKNOWN_GUID, fileOffset: 64 * MiB, length: MiB, required: true }]);
  refused(unknown, 'VHDX_UNSUPPORTED', /required region 01234567-89AB-4CDE-8F01-23456789ABCD is unknown/);
  const misaligned = await disk();
  rewriteRegions(misaligned, (entries) => entries.map((e) => (e.fileOffset === BAT_OFFSET ? { ...e, length: 4096 } : e)));
  refused(misaligned, 'VHDX_CORRUPT', /length 4096/);
  const tooMany = await disk();
  const table = readAt(tooMany, REGION_TABLE_OFFSETS[0], REGION_TABLE_SIZE);
  table.writeUInt32LE(5000, 8);
  patchFile(tooMany, REGION_TABLE_OFFSETS[0], table);
  patchFile(tooMany, REGION_TABLE_OFFSETS[1], table);
  refused(tooMany, 'VHDX_CORRUPT', /region table: no valid copy/);
});

test('metadata: a missing required item, an unknown required item, overlapping items, a bad signature', async () => {
  const missing = await disk();
  rewriteMetadataTable(missing, (entries) => entries.filter((e) => !guidEquals(e.itemId, LOGICAL_SECTOR_SIZE_GUID)));
  refused(missing, 'VHDX_CORRUPT', /the required logical sector size item is missing/);
  const unknown = await disk();
  rewriteMetadataTable(unknown, (entries) => [...entries, { itemId: UNKNOWN_GUID, offset: 128 * 1024, length: 8, isUser: false, isVirtualDisk: true, isRequired: true }]);
  refused(unknown, 'VHDX_UNSUPPORTED', /required item 01234567-89AB-4CDE-8F01-23456789ABCD is unknown/);
  const optional = await disk();
  rewriteMetadataTable(optional, (entries) => [...entries, { itemId: UNKNOWN_GUID, offset: 128 * 1024, length: 8, isUser: true, isVirtualDisk: false, isRequired: false }]);
  assert.equal(inspectVhdx(optional).allocatedBlocks, 3, 'an unknown optional item is kept and ignored');
  const overlap = await disk();
  rewriteMetadataTable(overlap, (entries) => entries.map((e) => (guidEquals(e.itemId, VIRTUAL_DISK_SIZE_GUID) ? { ...e, offset: e.offset - 4 } : e)));
  refused(overlap, 'VHDX_CORRUPT', /overlap/);
  const inTable = await disk();
  rewriteMetadataTable(inTable, (entries) => entries.map((e) => (guidEquals(e.itemId, VIRTUAL_DISK_SIZE_GUID) ? { ...e, offset: 4096 } : e)));
  refused(inTable, 'VHDX_CORRUPT', /inside the 64 KiB table/);
  const wrongLength = await disk();
  rewriteMetadataTable(wrongLength, (entries) => entries.map((e) => (guidEquals(e.itemId, VIRTUAL_DISK_SIZE_GUID) ? { ...e, length: 4 } : e)));
  refused(wrongLength, 'VHDX_CORRUPT', /virtual disk size item is 4 bytes, not 8/);
  const signature = await disk();
  patchFile(signature, METADATA_OFFSET, Buffer.from('metadatX'));
  refused(signature, 'VHDX_CORRUPT', /metadata: table: bad signature/);
});

test('file parameters: block sizes that are not a power of two or outside 1-256 MiB, and differencing disks', async () => {
  for (const blockSize of [3 * MiB, MiB / 2, 512 * MiB, 0]) {
    const file = await disk();
    patchItem(file, FILE_PARAMETERS_GUID, 0, u32(blockSize));
    refused(file, 'VHDX_CORRUPT', new RegExp(`block size ${blockSize} is not a power of two from 1 MiB to 256 MiB`));
  }
  const parent = await disk();
  patchItem(parent, FILE_PARAMETERS_GUID, 4, u32(2));
  refused(parent, 'VHDX_UNSUPPORTED', /differencing disk \(HasParent\)/);
});

test('virtual sizes: not a multiple of the logical sector, over 64 TiB, zero, or too large for the BAT', async () => {
  const odd = await disk();
  patchItem(odd, VIRTUAL_DISK_SIZE_GUID, 0, u64(SIZE + 100));
  refused(odd, 'VHDX_CORRUPT', /not a multiple of the 512-byte logical sector/);
  const huge = await disk();
  patchItem(huge, VIRTUAL_DISK_SIZE_GUID, 0, u64(2n ** 62n));
  refused(huge, 'VHDX_CORRUPT', /not from 1 byte to 64 TiB/);
  const zero = await disk();
  patchItem(zero, VIRTUAL_DISK_SIZE_GUID, 0, u64(0));
  refused(zero, 'VHDX_CORRUPT', /virtual size 0/);
  const big = await disk();
  patchItem(big, VIRTUAL_DISK_SIZE_GUID, 0, u64(1024 * 1024 * MiB));
  refused(big, 'VHDX_CORRUPT', /cannot hold the 1048831 entries/);
  const sector = await disk();
  patchItem(sector, LOGICAL_SECTOR_SIZE_GUID, 0, u32(1024));
  refused(sector, 'VHDX_CORRUPT', /logical sector size 1024/);
});

test('BAT: entries past the end of the file, overlapping each other or a region, and states a dynamic disk may not hold', async () => {
  const past = await disk();
  setBat(past, 3, PAYLOAD_BLOCK_FULLY_PRESENT, 100 * MiB);
  refused(past, 'VHDX_CORRUPT', /block 3 at 104857600 ends at .* past the end of the file/);
  const overlapping = await disk();
  setBat(overlapping, 1, PAYLOAD_BLOCK_FULLY_PRESENT, BASE + 5 * MiB);
  refused(overlapping, 'VHDX_CORRUPT', /two blocks overlap at file offset 9437184/);
  const intoMetadata = await disk();
  setBat(intoMetadata, 1, PAYLOAD_BLOCK_FULLY_PRESENT, METADATA_OFFSET);
  refused(intoMetadata, 'VHDX_CORRUPT', /block 1 at 2097152 overlaps the metadata region/);
  const partial = await disk();
  setBat(partial, 2, PAYLOAD_BLOCK_PARTIALLY_PRESENT, BASE + 2 * MiB);
  refused(partial, 'VHDX_CORRUPT', /PARTIALLY_PRESENT/);
  const reserved = await disk();
  setBat(reserved, 2, 4, 0);
  refused(reserved, 'VHDX_CORRUPT', /reserved state 4/);
});

test('createVhdx refuses bad options and out-of-range writes and leaves nothing behind', async () => {
  const dir = fs.mkdtempSync(path.join(work, 'create-'));
  const target = path.join(dir, 'x.vhdx');
  const cases = [
    [{ virtualSize: 1000 }, [], /not a multiple of the 512-byte logical sector/],
    [{ virtualSize: SIZE, blockSize: 3 * MiB }, [], /block size/],
    [{ virtualSize: SIZE, logicalSectorSize: 1024 }, [], /logical sector size 1024/],
    [{ virtualSize: SIZE, physicalSectorSize: 2048 }, [], /physical sector size 2048/],
    [{ virtualSize: SIZE, page83Id: new Uint8Array(8) }, [], /page83Id is 8 bytes/],
    [{ virtualSize: SIZE }, [{ offset: SIZE - 10, data: new Uint8Array(11) }], /does not fit/],
    [{ virtualSize: SIZE }, [{ offset: -1, data: new Uint8Array(1) }], /does not fit/],
  ];
  for (const [options, writes, reason] of cases) {
    await assert.rejects(createVhdx(target, options, writes), (e) => e.code === 'VHDX_INVALID_ARGUMENT' && reason.test(e.message) && !e.message.includes('\n'));
  }
  async function* failing() {
    yield { offset: 0, data: pattern(4096, 1) };
    throw new Error('the source broke');
  }
  await assert.rejects(createVhdx(target, { virtualSize: SIZE }, failing()), /the source broke/);
  assert.deepEqual(fs.readdirSync(dir), [], 'no temporary or partial file');
});
