// htree directories: our name hashes against debugfs's dx_hash (every algorithm, signed
// and unsigned, default and random seeds), and lookups in kernel-made htree directories
// that go through the index: every name found, reading a few blocks, not the directory.

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from './helpers/corpus.js';
import { mkfs, mkfsUnavailable, mountUnavailable, patternBytes, run, withMount } from './helpers/ext4-fixtures.js';
import { dxHash } from '../dist/host/ext4/dx-hash.js';
import { EXT4_INDEX_FL } from '../dist/host/ext4/inode.js';
import { Ext4Reader } from '../dist/host/ext4/reader.js';
import { openImageSource } from '../dist/host/ext4/source.js';

const work = tmpDir('lcow-ext4-htree-');
after(() => fs.rmSync(work, { recursive: true, force: true }));

const NAMES = ['a', 'abc', '.', 'lost+found', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(33), 'n'.repeat(255), 'héllo wörld ñ', 'file_number_1234_with_padding_to_fill_blocks'];
const HIGH_BYTES = Buffer.from([0x80, 0xff, 0xc3, 0xa9, 0x7f, 0x01]);

function uuidOf(seed) {
  const h = seed.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

describe('htree name hashes', { skip: mkfsUnavailable() ?? false }, () => {
  test('equal debugfs dx_hash for legacy, half_md4 and tea, signed and unsigned', { timeout: 60_000 }, () => {
    const image = path.join(work, 'hash.img');
    mkfs(image, 4, ['-t', 'ext4']);
    const seeds = [Buffer.alloc(16), patternBytes(16, 5), patternBytes(16, 6)];
    const names = [...NAMES.map((n) => Buffer.from(n)), HIGH_BYTES, Buffer.concat([HIGH_BYTES, Buffer.alloc(40, 0xe9)])];
    // One debugfs run for all: "dx_hash -h V -s SEED NAME" lines on stdin.
    const requests = [];
    for (const seed of seeds) for (let version = 0; version <= 5; version++) for (const name of names) requests.push({ seed, version, name });
    const script = path.join(work, 'hash-requests');
    // debugfs splits its command lines on spaces, so names with spaces are quoted.
    fs.writeFileSync(script, Buffer.concat(requests.map(({ seed, version, name }) => Buffer.concat([
      Buffer.from(`dx_hash -h ${version}${seed.every((b) => b === 0) ? '' : ` -s ${uuidOf(seed)}`} "`), name, Buffer.from('"\n'),
    ]))));
    const out = run('debugfs', ['-f', script, image], { encoding: 'latin1' });
    const hashes = [...out.matchAll(/is 0x([0-9a-f]+) \(minor/g)].map((m) => parseInt(m[1], 16));
    assert.equal(hashes.length, requests.length);
    requests.forEach(({ seed, version, name }, i) => {
      assert.equal(dxHash(name, version, seed), hashes[i], `version ${version}, name ${name.toString('latin1')}, seed ${seed.toString('hex')}`);
    });
  });
});

describe('htree lookups', { skip: mountUnavailable(work) ?? false }, () => {
  // [name, mke2fs arguments, names in the directory, default hash (tune2fs -E hash_alg)]
  for (const [name, args, count, hashAlg] of [
    ['4K blocks, metadata_csum', ['-t', 'ext4', '-b', '4096'], 5000],
    ['1K blocks: two index levels', ['-t', 'ext4', '-b', '1024'], 20000],
    ['legacy hash', ['-t', 'ext4', '-b', '4096'], 3000, 'legacy'],
    ['tea hash, no metadata_csum', ['-t', 'ext4', '-b', '2048', '-O', '^metadata_csum'], 3000, 'tea'],
  ]) {
    test(`${name}: every name through the index`, { timeout: 120_000 }, () => {
      const image = path.join(work, 'dir.img');
      mkfs(image, 128, [...args, '-N', String(count + 100)]);
      if (hashAlg) run('tune2fs', ['-E', `hash_alg=${hashAlg}`, image]);
      withMount(image, (mnt) => {
        fs.mkdirSync(path.join(mnt, 'd'));
        for (let i = 0; i < count; i++) fs.writeFileSync(path.join(mnt, 'd', `name_${i}_${'p'.repeat(i % 40)}`), '');
      }, { rw: true });
      const source = openImageSource(image);
      let bytesRead = 0;
      const readInto = source.readInto;
      source.readInto = (target, offset) => {
        bytesRead += target.length;
        return readInto(target, offset);
      };
      const reader = Ext4Reader.open(source);
      try {
        const dir = reader.inode(reader.lookup('/d'));
        assert.ok(dir.flags & EXT4_INDEX_FL);
        const [first] = [...reader.blockMap(dir)].filter((r) => r.kind === 'data');
        const root = reader.readBlock(first.physical);
        assert.equal(root.readUInt8(28), { legacy: 0, tea: 2 }[hashAlg] ?? 1, 'dx_root hash version');
        if (count >= 20000) assert.equal(root.readUInt8(30), 1, 'one level of dx_node blocks');
        const expected = new Map([...reader.entries(dir)].filter((e) => !e.dot).map((e) => [e.name, e.inode]));
        assert.equal(expected.size, count);
        bytesRead = 0;
        for (const [entryName, inode] of expected) assert.equal(reader.lookup(`/d/${entryName}`), inode, entryName);
        const perLookup = bytesRead / count;
        assert.ok(perLookup < dir.size / 4, `${perLookup} bytes read per lookup in a ${dir.size}-byte directory`);
        assert.equal(reader.lookup('/d/not_there'), undefined);
      } finally {
        reader.close();
      }
      fs.rmSync(image);
    });
  }
});
