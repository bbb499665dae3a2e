// Corrupt layer disks make diff, cat (DiffGetter) and changes fail with one line, quickly:
// a layer.vhd with a bad magic, cut short, with an extent tree that points at itself, with a
// directory that contains its own parent; a sandbox.vhdx with a bad signature or cut short.
// Each operation runs in a child process with a deadline, so a hang fails the test instead
// of stalling it.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { Ext4Reader } from '../dist/host/ext4/reader.js';
import { openImageSource } from '../dist/host/ext4/source.js';
import { corpusDir, hasTool, tmpDir, patch } from './helpers/corpus.js';
import { applyDiff } from './helpers/export-tar.js';

const work = tmpDir('lcow-export-hostile-');
const DEADLINE_MS = 20_000;
const QUICK_MS = 10_000;
let layer;

// The operation in a child: open the disk as the driver does, run one exporter, report.
const CHILD = String.raw`
const [, disk, op, arg] = process.argv;
const { Ext4Reader } = await import(${JSON.stringify(new URL('../dist/host/ext4/reader.js', import.meta.url).href)});
const { openImageSource } = await import(${JSON.stringify(new URL('../dist/host/ext4/source.js', import.meta.url).href)});
const { openVhdxSource } = await import(${JSON.stringify(new URL('../dist/host/vhdx/reader.js', import.meta.url).href)});
const x = await import(${JSON.stringify(new URL('../dist/driver/export/layer-tar.js', import.meta.url).href)});
const drain = async (s) => { for await (const _ of s); };
try {
  const vhdx = disk.endsWith('.vhdx');
  const reader = Ext4Reader.open(vhdx ? openVhdxSource(disk) : openImageSource(disk));
  const view = vhdx ? x.sandboxView(reader) : { reader, root: '/' };
  if (op === 'diff') await drain(x.layerTar(view));
  else if (op === 'cat') await drain(x.layerFile(view, arg));
  else if (op === 'changes') x.layerChanges(view, []);
  else x.changesSize(view, []);
  console.log(JSON.stringify({ ok: true }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, code: err.code, message: err.message, name: err.name }));
}
`;

function run(disk, op, arg = '') {
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, disk, op, arg], { encoding: 'utf8', timeout: DEADLINE_MS });
  const elapsed = Date.now() - started;
  assert.notEqual(r.signal, 'SIGTERM', `${op} on ${path.basename(disk)} did not finish within ${DEADLINE_MS} ms`);
  assert.equal(r.status, 0, r.stderr);
  return { ...JSON.parse(r.stdout.trim().split('\n').pop()), elapsed };
}

function assertFailsInOneLine(disk, op, arg, codes) {
  const r = run(disk, op, arg);
  assert.equal(r.ok, false, `${op} ${arg} on ${path.basename(disk)} succeeded`);
  assert.equal(r.name, 'LcowError', `${op}: ${r.name}: ${r.message}`);
  assert.ok(codes.includes(r.code), `${op}: code ${r.code} (${r.message})`);
  assert.ok(!r.message.includes('\n'), `${op}: message has more than one line: ${r.message}`);
  assert.ok(r.elapsed < QUICK_MS, `${op}: took ${r.elapsed} ms`);
  return r;
}


function copy(name) {
  const to = path.join(work, name);
  fs.copyFileSync(layer, to);
  return to;
}

/** Where things are in the intact layer: an inode record, a file's first data block, a directory entry. */
function locate(fn) {
  const reader = Ext4Reader.open(openImageSource(layer));
  try {
    return fn(reader);
  } finally {
    reader.close();
  }
}

before(async () => {
  layer = path.join(work, 'layer.vhd');
  await applyDiff(path.join(await corpusDir(), 'basic.tar'), layer);
});

test('the intact layer exports, cats and lists changes', () => {
  for (const op of ['diff', 'changes', 'size']) assert.equal(run(layer, op).ok, true, op);
  assert.equal(run(layer, 'cat', 'files/size_4097').ok, true);
});

test('bad superblock magic', () => {
  const disk = copy('bad-magic.vhd');
  patch(disk, 1024 + 0x38, Buffer.from([0, 0]));
  for (const op of ['diff', 'changes', 'size']) assertFailsInOneLine(disk, op, '', ['IMAGE_NOT_EXT4']);
  assertFailsInOneLine(disk, 'cat', 'files/size_1', ['IMAGE_NOT_EXT4']);
});

test('layer.vhd cut short', () => {
  const disk = copy('truncated.vhd');
  fs.truncateSync(disk, Math.floor(fs.statSync(disk).size / 2));
  for (const op of ['diff', 'changes']) assertFailsInOneLine(disk, op, '', ['EXT4_CORRUPT', 'IMAGE_NOT_EXT4']);
  assertFailsInOneLine(disk, 'cat', 'files/size_1', ['EXT4_CORRUPT', 'IMAGE_NOT_EXT4']);
});

test('an extent tree whose index node points at itself', () => {
  const disk = copy('extent-loop.vhd');
  const { inodeAt, block, blockSize } = locate((r) => {
    const n = r.lookup('files/size_4097');
    const inode = r.inode(n);
    const run = [...r.blockMap(inode)].find((x) => x.kind === 'data');
    return { inodeAt: r.inodeOffset(n), block: run.physical, blockSize: r.blockSize };
  });
  // An index node (depth 1, one entry) naming its own block, and the inode's root naming that node.
  const node = Buffer.alloc(24);
  node.writeUInt16LE(0xf30a, 0);
  node.writeUInt16LE(1, 2);
  node.writeUInt16LE(340, 4);
  node.writeUInt16LE(1, 6);
  node.writeUInt32LE(0, 12);
  node.writeUInt32LE(block, 16);
  patch(disk, block * blockSize, node);
  const root = Buffer.from(node);
  root.writeUInt16LE(4, 4);
  root.writeUInt16LE(2, 6);
  patch(disk, inodeAt + 0x28, root);
  assertFailsInOneLine(disk, 'diff', '', ['EXT4_CORRUPT']);
  assertFailsInOneLine(disk, 'cat', 'files/size_4097', ['EXT4_CORRUPT']);
});

test('a directory that contains its own parent', () => {
  const disk = copy('dir-cycle.vhd');
  const { entryAt, parent } = locate((r) => {
    const parentNumber = r.lookup('deep');
    const dir = r.inode(r.lookup('deep/d01'));
    const run = [...r.blockMap(dir)].find((x) => x.kind === 'data');
    const blockBytes = r.readBlock(run.physical);
    const at = blockBytes.indexOf(Buffer.from('d02'));
    // The record starts 8 bytes before its name: inode (4), rec_len (2), name_len, file type.
    return { entryAt: run.physical * r.blockSize + at - 8, parent: parentNumber };
  });
  const number = Buffer.alloc(4);
  number.writeUInt32LE(parent);
  patch(disk, entryAt, number);
  assertFailsInOneLine(disk, 'diff', '', ['EXT4_CORRUPT']);
  assertFailsInOneLine(disk, 'changes', '', ['EXT4_CORRUPT']);
  assertFailsInOneLine(disk, 'size', '', ['EXT4_CORRUPT']);
});

test('cat of what is not a regular file of the layer', () => {
  for (const [name, why] of [['files', /not a regular file/], ['files/nope', /no such file/], ['files/size_1/below', /not a directory/]]) {
    const r = assertFailsInOneLine(layer, 'cat', name, ['LAYER_FILE_NOT_FOUND']);
    assert.match(r.message, why);
  }
});

test('a corrupt sandbox.vhdx', { skip: hasTool('qemu-img') ? false : 'needs qemu-img' }, () => {
  const raw = path.join(work, 'sandbox.img');
  const size = fs.statSync(layer).size - 512;
  fs.copyFileSync(layer, raw);
  fs.truncateSync(raw, size);
  const good = path.join(work, 'good.vhdx');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', raw, good]);
  assert.equal(run(good, 'diff').ok, true, 'the intact VHDX exports');

  const badSignature = path.join(work, 'bad-signature.vhdx');
  fs.copyFileSync(good, badSignature);
  patch(badSignature, 0, Buffer.from('XXXXXXXX'));
  const cut = path.join(work, 'cut.vhdx');
  fs.copyFileSync(good, cut);
  fs.truncateSync(cut, Math.floor(fs.statSync(good).size * 0.45));
  for (const disk of [badSignature, cut]) {
    for (const op of ['diff', 'changes']) {
      const r = run(disk, op);
      assert.equal(r.ok, false, `${op} on ${path.basename(disk)} succeeded`);
      assert.equal(r.name, 'LcowError', r.message);
      assert.ok(!r.message.includes('\n') && r.elapsed < QUICK_MS, `${r.elapsed} ms: ${r.message}`);
    }
  }
});
