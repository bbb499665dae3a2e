// Corrupt ext4 images: each fault must end a full read (open, walk, every file's data,
// xattrs and link target, as Diff does) with one LcowError of a stable code and a one-line
// message naming the inode or block, within a couple of seconds: no hang, no trap, no
// stack of errors. Images come from mke2fs -d (and a kernel mount for the deep extent tree).

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { hasTool, tmpDir, patch } from './helpers/corpus.js';
import { mkfs, mkfsUnavailable, mountUnavailable, patternBytes, run, withMount } from './helpers/ext4-fixtures.js';
import { Ext4Reader } from '../dist/host/ext4/reader.js';
import { openImageSource, bufferSource } from '../dist/host/ext4/source.js';
import { INODE } from '../dist/host/ext4/inode.js';
import { SB, SUPERBLOCK_OFFSET } from '../dist/host/ext4/superblock.js';

const work = tmpDir('lcow-ext4-corrupt-');
after(() => fs.rmSync(work, { recursive: true, force: true }));
const noMkfs = mkfsUnavailable() ?? (hasTool('setfattr') ? null : 'setfattr is not installed (Debian attr)');
const FAST = { timeout: 5000 };

/** A small tree: nested directories, a multi-block file, a long symlink, an xattr block. */
function tinyTree() {
  const root = path.join(work, 'tiny');
  if (fs.existsSync(root)) return root;
  fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
  fs.writeFileSync(path.join(root, 'a', 'b', 'c.txt'), 'c\n');
  fs.writeFileSync(path.join(root, 'a', 'file'), patternBytes(100_000, 1));
  fs.writeFileSync(path.join(root, 'small'), 'small\n');
  fs.symlinkSync('l'.repeat(200), path.join(root, 'longlink'));
  fs.writeFileSync(path.join(root, 'attrs'), 'x');
  run('setfattr', ['-n', 'user.big', '-v', '0x' + patternBytes(900, 2).toString('hex'), path.join(root, 'attrs')]);
  return root;
}

const bases = new Map();
/** A pristine image made once per argument set; each test corrupts a copy. */
function base(name, args) {
  if (!bases.has(name)) {
    const image = path.join(work, `${name}.img`);
    mkfs(image, 16, args, tinyTree());
    bases.set(name, image);
  }
  return bases.get(name);
}
const plain = () => base('plain', ['-t', 'ext4', '-b', '4096', '-O', '^metadata_csum']);
const csum = () => base('csum', ['-t', 'ext4', '-b', '4096']);
const ext2 = () => base('ext2', ['-t', 'ext2', '-b', '4096']);

let copies = 0;
function copyOf(image) {
  const out = path.join(work, `copy-${copies++}.img`);
  fs.copyFileSync(image, out);
  return out;
}


const u16 = (n) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };

/** Facts about an intact image, found with the reader itself. */
function inspect(image, use) {
  const reader = Ext4Reader.open(openImageSource(image));
  try {
    const at = (p) => reader.inode(reader.lookup(p));
    return use(reader, at);
  } finally {
    reader.close();
  }
}

/** The byte offset of the directory record named `name` in the first block of `dir`. */
function recordOffset(reader, dir, name) {
  const [run] = [...reader.blockMap(dir)];
  const block = reader.readBlock(run.physical);
  let at = 0;
  while (at < block.length) {
    const recLen = block.readUInt16LE(at + 4);
    if (block.toString('latin1', at + 8, at + 8 + block[at + 6]) === name) return run.physical * reader.blockSize + at;
    at += recLen;
  }
  throw new Error(`no record ${name}`);
}

/** Everything Diff reads: the walk, and each inode's data, xattrs and link target. */
function readEverything(image) {
  const reader = Ext4Reader.open(openImageSource(image));
  try {
    for (const { inode } of reader.walk()) {
      reader.xattrs(inode);
      if (inode.type === 'file') for (const chunk of reader.fileChunks(inode)) void chunk;
      if (inode.type === 'symlink') reader.readlink(inode);
    }
  } finally {
    reader.close();
  }
}

/**
 * Reads what Diff reads from an open reader. A file over 64 MiB (a mutated i_size: a
 * sparse file that large is legitimate, and reading it is legitimate work) is only mapped.
 */
function readAll(reader) {
  for (const { inode } of reader.walk()) {
    reader.xattrs(inode);
    if (inode.type === 'file' && inode.size > 2 ** 26) for (const run of reader.blockMap(inode)) void run;
    else if (inode.type === 'file') for (const chunk of reader.fileChunks(inode)) void chunk;
    if (inode.type === 'symlink') reader.readlink(inode);
    if (inode.type === 'chr' || inode.type === 'blk') reader.device(inode);
  }
  reader.forEachInode(() => {});
}

/** Byte ranges of the structures a read goes through: superblock, descriptors, inodes in use, directory, tree and xattr blocks. */
function hotRanges(reader) {
  const bs = reader.blockSize;
  const ranges = [[1024, 1024], [(bs === 1024 ? 2 : 1) * bs, bs]];
  reader.forEachInode((inode) => ranges.push([reader.inodeOffset(inode.number), reader.superblock.inodeSize]));
  for (const { inode } of reader.walk()) {
    if (inode.fileAcl) ranges.push([inode.fileAcl * bs, bs]);
    for (const run of reader.blockMap(inode)) {
      if (run.kind === 'tree' || inode.type === 'dir') ranges.push([run.physical * bs, run.length * bs]);
    }
  }
  return ranges;
}

function assertFails(image, code, pattern) {
  const started = Date.now();
  assert.throws(() => readEverything(image), (err) => {
    assert.equal(err.name, 'LcowError', `${err.stack}`);
    assert.equal(err.code, code, err.message);
    assert.doesNotMatch(err.message, /\n/, 'one line');
    assert.match(err.message, pattern);
    return true;
  });
  assert.ok(Date.now() - started < 3000, `failed within ${Date.now() - started} ms`);
}

describe('corrupt images fail in one line', { skip: noMkfs ?? false }, () => {
  test('the intact images read through', FAST, () => {
    for (const image of [plain(), csum(), ext2()]) readEverything(image);
  });

  test('bad superblock magic', FAST, () => {
    const image = copyOf(plain());
    patch(image, SUPERBLOCK_OFFSET + SB.magic, u16(0x1234));
    assertFails(image, 'IMAGE_NOT_EXT4', /bad superblock magic 0x1234/);
  });

  test('a file too small for a superblock', FAST, () => {
    const image = path.join(work, 'tiny.img');
    fs.writeFileSync(image, Buffer.alloc(1500));
    assertFails(image, 'IMAGE_NOT_EXT4', /too small/);
  });

  test('truncated image', FAST, () => {
    const image = copyOf(plain());
    fs.truncateSync(image, fs.statSync(image).size / 2);
    assertFails(image, 'EXT4_CORRUPT', /truncated: the superblock says 4096 blocks/);
  });

  test('layer.vhd: the footer is left out, and a truncated one is still caught', FAST, () => {
    const image = copyOf(plain());
    const size = fs.statSync(image).size;
    run('node', [path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'host', 'cli', 'tar2ext4.js'), '-only-vhd', '-i', image, '-o', `${image}.vhd`]);
    const source = openImageSource(`${image}.vhd`);
    assert.equal(source.size, size, 'the 512-byte footer is not part of the image');
    source.close();
    readEverything(`${image}.vhd`);
    fs.truncateSync(`${image}.vhd`, size - 4096);
    assertFails(`${image}.vhd`, 'EXT4_CORRUPT', /truncated/);
  });

  test('an incompat feature the reader cannot read', FAST, () => {
    const image = copyOf(plain());
    const incompat = inspect(image, (r) => r.superblock.featureIncompat);
    patch(image, SUPERBLOCK_OFFSET + SB.featureIncompat, u32(incompat | 0x1));
    assertFails(image, 'EXT4_UNSUPPORTED', /incompatible feature compression/);
  });

  test('superblock checksum', FAST, () => {
    const image = copyOf(csum());
    patch(image, SUPERBLOCK_OFFSET + 0x78, Buffer.from('renamed'));
    assertFails(image, 'EXT4_CORRUPT', /superblock checksum/);
  });

  test('inode checksum', FAST, () => {
    const image = copyOf(csum());
    const offset = inspect(image, (r) => r.inodeOffset(r.lookup('/small')));
    patch(image, offset + INODE.mtime, u32(12345));
    assertFails(image, 'EXT4_CORRUPT', /inode \d+ checksum/);
  });

  test('directory block checksum', FAST, () => {
    const image = copyOf(csum());
    const offset = inspect(image, (r, at) => recordOffset(r, at('/a'), 'file'));
    patch(image, offset + 8, Buffer.from('F'));
    assertFails(image, 'EXT4_CORRUPT', /directory inode \d+: block \d+ checksum/);
  });

  test('xattr block checksum', FAST, () => {
    const image = copyOf(csum());
    const block = inspect(image, (r, at) => at('/attrs').fileAcl);
    patch(image, block * 4096 + 4000, Buffer.from([0x55]));
    assertFails(image, 'EXT4_CORRUPT', /xattr block \d+: checksum/);
  });

  test('extent pointing past the end of the file system', FAST, () => {
    const image = copyOf(plain());
    const offset = inspect(image, (r) => r.inodeOffset(r.lookup('/a/file')));
    patch(image, offset + INODE.block + 12 + 8, u32(1_000_000));
    assertFails(image, 'EXT4_CORRUPT', /extent of inode \d+ at logical block 0: block 1000000\.\.\d+ is outside the file system/);
  });

  test('extent tree deeper than 5', FAST, () => {
    const image = copyOf(plain());
    const offset = inspect(image, (r) => r.inodeOffset(r.lookup('/a/file')));
    patch(image, offset + INODE.block + 6, u16(6));
    assertFails(image, 'EXT4_CORRUPT', /extent tree depth 6/);
  });

  test('bad extent header magic', FAST, () => {
    const image = copyOf(plain());
    const offset = inspect(image, (r) => r.inodeOffset(r.lookup('/a/file')));
    patch(image, offset + INODE.block, u16(0));
    assertFails(image, 'EXT4_CORRUPT', /bad extent header magic/);
  });

  test('zero-length extent', FAST, () => {
    const image = copyOf(plain());
    const offset = inspect(image, (r) => r.inodeOffset(r.lookup('/a/file')));
    patch(image, offset + INODE.block + 12 + 4, u16(0));
    assertFails(image, 'EXT4_CORRUPT', /zero-length extent/);
  });

  test('enormous file size', FAST, () => {
    const image = copyOf(plain());
    const offset = inspect(image, (r) => r.inodeOffset(r.lookup('/a/file')));
    patch(image, offset + INODE.sizeHigh, u32(0xffffffff));
    assertFails(image, 'EXT4_CORRUPT', /size \d+ is larger than its block map can address/);
  });

  test('xattr block number out of range', FAST, () => {
    const image = copyOf(plain());
    const offset = inspect(image, (r) => r.inodeOffset(r.lookup('/attrs')));
    patch(image, offset + INODE.fileAclLo, u32(99_999));
    assertFails(image, 'EXT4_CORRUPT', /xattr block of inode \d+: block 99999 is outside/);
  });

  test('xattr value running past its block', FAST, () => {
    const image = copyOf(plain());
    const block = inspect(image, (r, at) => at('/attrs').fileAcl);
    patch(image, block * 4096 + 32 + 8, u32(5000));
    assertFails(image, 'EXT4_CORRUPT', /xattr user\.big claims a 5000-byte value|runs past the end/);
  });

  test('directory record with rec_len 0', FAST, () => {
    const image = copyOf(plain());
    const offset = inspect(image, (r, at) => recordOffset(r, at('/a'), 'file'));
    patch(image, offset + 4, u16(0));
    assertFails(image, 'EXT4_CORRUPT', /record at byte \d+: rec_len 0 is below 12/);
  });

  test('directory record running past its block', FAST, () => {
    const image = copyOf(plain());
    const offset = inspect(image, (r, at) => recordOffset(r, at('/a'), 'file'));
    patch(image, offset + 4, u16(8192));
    assertFails(image, 'EXT4_CORRUPT', /rec_len 8192 runs past the end/);
  });

  test('directory entry naming an inode above the count', FAST, () => {
    const image = copyOf(plain());
    const offset = inspect(image, (r, at) => recordOffset(r, at('/a'), 'file'));
    patch(image, offset, u32(0x7fffffff));
    assertFails(image, 'EXT4_CORRUPT', /names inode 2147483647, above the \d+ inodes/);
  });

  test('inode numbers 0 and past the count', FAST, () => {
    inspect(plain(), (reader) => {
      for (const n of [0, reader.superblock.inodesCount + 1, -1, 1.5]) {
        assert.throws(() => reader.inode(n), { code: 'EXT4_CORRUPT', message: /inode .* out of range 1\.\.\d+/ });
      }
    });
  });

  test('directory cycle: a subdirectory entry pointing at the root', FAST, () => {
    const image = copyOf(plain());
    const offset = inspect(image, (r, at) => recordOffset(r, at('/a'), 'b'));
    patch(image, offset, u32(2));
    assertFails(image, 'EXT4_CORRUPT', /directory cycle: a\/b is directory inode 2/);
  });

  test('inode table of a group outside the file system', FAST, () => {
    const image = copyOf(plain());
    patch(image, 4096 + 0x08, u32(50_000));
    assertFails(image, 'EXT4_CORRUPT', /inode table of group 0: block 50000/);
  });

  test('ext2: an indirect block outside the file system', FAST, () => {
    const image = copyOf(ext2());
    const offset = inspect(image, (r) => r.inodeOffset(r.lookup('/a/file')));
    patch(image, offset + INODE.block + 12 * 4, u32(77_777));
    assertFails(image, 'EXT4_CORRUPT', /block 77777 is outside the file system/);
  });

  test('symlink claiming a longer target than a block', FAST, () => {
    const image = copyOf(plain());
    const offset = inspect(image, (r) => r.inodeOffset(r.lookup('/longlink')));
    patch(image, offset + INODE.sizeLo, u32(100_000));
    assertFails(image, 'EXT4_CORRUPT', /symlink target of 100000 bytes/);
  });

  test('400 random mutations of the structures a read uses: each image reads through or fails with one LcowError line', { timeout: 60_000 }, () => {
    let seed = 20261201;
    const random = () => {
      seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
      return seed / 2 ** 32;
    };
    const outcomes = {};
    for (const image of [plain(), ext2()]) {
      const pristine = fs.readFileSync(image);
      const ranges = inspect(image, (reader) => hotRanges(reader));
      for (let i = 0; i < 200; i++) {
        const mutated = Buffer.from(pristine);
        for (let flips = 1 + Math.floor(random() * 12); flips > 0; flips--) {
          const [start, length] = ranges[Math.floor(random() * ranges.length)];
          const at = start + Math.floor(random() * length);
          mutated[at] = random() < 0.5 ? Math.floor(random() * 256) : mutated[at] ^ (1 << Math.floor(random() * 8));
        }
        const started = Date.now();
        let outcome = 'read through';
        try {
          readAll(Ext4Reader.open(bufferSource(mutated)));
        } catch (err) {
          assert.equal(err.name, 'LcowError', `mutation ${i}: ${err.stack}`);
          assert.doesNotMatch(err.message, /\n/);
          outcome = err.code;
        }
        assert.ok(Date.now() - started < 2000, `mutation ${i} took ${Date.now() - started} ms`);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }
    }
    // Many bytes (times, slack) may change harmlessly; enough must hit checks to mean something.
    assert.ok(outcomes.EXT4_CORRUPT > 40, JSON.stringify(outcomes));
  });

  test('garbage everywhere past the superblock never hangs', FAST, () => {
    const image = fs.readFileSync(plain());
    const garbage = Buffer.concat([image.subarray(0, 4096), patternBytes(image.length - 4096, 99)]);
    assert.throws(() => {
      const reader = Ext4Reader.open(bufferSource(garbage));
      for (const { inode } of reader.walk()) for (const chunk of reader.fileChunks(inode)) void chunk;
    }, (err) => err.name === 'LcowError' && !/\n/.test(err.message));
  });
});

describe('corrupt extent trees written by the kernel', { skip: mountUnavailable(work) ?? false }, () => {
  let fragmented;
  /** A file punched into 1500 extents through a kernel mount: a depth-2 tree. */
  function deepTree() {
    if (fragmented) return fragmented;
    fragmented = path.join(work, 'deep.img');
    mkfs(fragmented, 32, ['-t', 'ext4', '-b', '4096', '-O', '^metadata_csum']);
    withMount(fragmented, (mnt) => {
      fs.writeFileSync(path.join(mnt, 'f'), patternBytes(3000 * 4096, 4));
      run('python3', ['-c', 'import ctypes,os,sys\nl=ctypes.CDLL(None)\nl.fallocate.argtypes=[ctypes.c_int,ctypes.c_int,ctypes.c_longlong,ctypes.c_longlong]\nfd=os.open(sys.argv[1],os.O_RDWR)\nfor i in range(1,3000,2): l.fallocate(fd,3,i*4096,4096)\nos.fsync(fd)', path.join(mnt, 'f')]);
    }, { rw: true });
    return fragmented;
  }

  /** [root index leaf block, first level-1 node's first index leaf offset] */
  function treeFacts(image) {
    return inspect(image, (r, at) => {
      const inode = at('/f');
      assert.equal(inode.iBlock.readUInt16LE(6), 2, 'depth 2');
      const level1 = inode.iBlock.readUInt32LE(12 + 4);
      return { level1, inodeOffset: r.inodeOffset(inode.number) };
    });
  }

  test('an index node pointing at itself', { timeout: 30_000 }, () => {
    const image = copyOf(deepTree());
    const { level1 } = treeFacts(image);
    patch(image, level1 * 4096 + 12 + 4, u32(level1));
    assertFails(image, 'EXT4_CORRUPT', new RegExp(`extent block ${level1} has depth 1 under a node of depth 1`));
  });

  test('two index entries sharing a subtree (overlap)', { timeout: 30_000 }, () => {
    const image = copyOf(deepTree());
    const { level1 } = treeFacts(image);
    const node = fs.readFileSync(image).subarray(level1 * 4096, level1 * 4096 + 48);
    // The second index entry points at the first one's leaf.
    patch(image, level1 * 4096 + 24 + 4, node.subarray(16, 22));
    assertFails(image, 'EXT4_CORRUPT', /overlaps the one before|repeats or goes back/);
  });
});
