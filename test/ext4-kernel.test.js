// The ext4 reader against ext4 as e2fsprogs and the Linux kernel write it: every variant
// of block size and feature set below is read through Ext4Reader and through a read-only
// kernel loop mount, and the two views (names, inode numbers, types, modes, owners, link
// counts, sizes, all four times to the nanosecond, device numbers, contents, symlink
// targets, xattrs) must be equal. Skipped, with the reason, where mke2fs, loop mounts or
// getfattr are missing.

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from './helpers/corpus.js';
import {
  compareViews,
  kernelView,
  loopDevicesOf,
  makeTree,
  mkfs,
  mkfsUnavailable,
  mountUnavailable,
  populateThroughKernel,
  readerView,
  run,
  withMount,
} from './helpers/ext4-fixtures.js';
import { Ext4Reader } from '../dist/host/ext4/reader.js';
import { openImageSource } from '../dist/host/ext4/source.js';
import { EXT4_INDEX_FL, EXT4_INLINE_DATA_FL, EXT4_EXTENTS_FL } from '../dist/host/ext4/inode.js';

const work = tmpDir('lcow-ext4-kernel-');
after(() => fs.rmSync(work, { recursive: true, force: true }));
const skip = mountUnavailable(work);
const TIMEOUT = 180_000;

let treeDir;
/** The source tree, written once (the huge file is a 4 GiB hole: cheap). */
function tree() {
  if (!treeDir) {
    treeDir = path.join(work, 'tree');
    makeTree(treeDir, { huge: true });
  }
  return treeDir;
}

let images = 0;
const imagePath = () => path.join(work, `image-${images++}.img`);

function withReader(image, use) {
  const reader = Ext4Reader.open(openImageSource(image));
  try {
    return use(reader);
  } finally {
    reader.close();
  }
}

/** Reader view == kernel view, and nothing left attached. */
function assertSameAsKernel(image) {
  const ours = readerView(image);
  const kernel = withMount(image, (mnt) => kernelView(mnt));
  assert.ok(kernel.size > 20, `the kernel sees ${kernel.size} entries`);
  assert.deepEqual(compareViews(ours, kernel), []);
  assert.equal(loopDevicesOf(image), '', 'no loop device left attached');
  return ours;
}

const HUGE = true;
// [name, mke2fs arguments, whether the image holds the 4 GiB sparse file, size in MiB (64)]
const MKFS_VARIANTS = [
  ['ext4 4K (64bit, flex_bg, metadata_csum, huge_file)', ['-t', 'ext4', '-b', '4096'], HUGE],
  ['ext4 1K', ['-t', 'ext4', '-b', '1024']],
  ['ext4 2K without metadata_csum and 64bit', ['-t', 'ext4', '-b', '2048', '-O', '^metadata_csum,^64bit']],
  ['ext4 4K inline_data', ['-t', 'ext4', '-b', '4096', '-O', 'inline_data']],
  ['ext4 1K inline_data, meta_bg (256 MiB: 32 groups in two meta groups)', ['-t', 'ext4', '-b', '1024', '-O', 'inline_data,meta_bg,^resize_inode'], false, 256],
  ['ext4 4K without extents (indirect maps)', ['-t', 'ext4', '-b', '4096', '-O', '^extent,^64bit']],
  ['ext2 4K (indirect maps up to triple)', ['-t', 'ext2', '-b', '4096'], HUGE],
  ['ext2 1K, 128-byte inodes (no extra times, no crtime)', ['-t', 'ext2', '-b', '1024', '-I', '128']],
  ['ext3 1K', ['-t', 'ext3', '-b', '1024']],
  ['ext4 4K meta_bg (17 GiB sparse: 136 groups in two meta groups)', ['-t', 'ext4', '-b', '4096', '-O', 'meta_bg,^resize_inode,^64bit', '-N', '8192'], false, 17 * 1024],
  ['ext4 4K sparse_super2', ['-t', 'ext4', '-b', '4096', '-O', 'sparse_super2']],
  ['ext4 1K bigalloc (16K clusters)', ['-t', 'ext4', '-b', '1024', '-O', 'bigalloc', '-C', '16384']],
];

describe('mke2fs -d images read like the kernel reads them', { skip: skip ?? false }, () => {
  for (const [name, args, huge, sizeMiB = 64] of MKFS_VARIANTS) {
    test(name, { timeout: TIMEOUT }, () => {
      const source = huge ? tree() : withoutHuge();
      const image = imagePath();
      mkfs(image, sizeMiB, args, source);
      if (args.some((a) => a.includes('meta_bg'))) {
        const { groups, perBlock } = withReader(image, (r) => ({ groups: r.superblock.groupCount, perBlock: r.blockSize / r.superblock.descSize }));
        assert.ok(groups > perBlock, `${groups} groups fill more than one meta group of ${perBlock}`);
      }
      const ours = assertSameAsKernel(image);
      if (huge) assert.equal(ours.get('huge').size, 2 ** 32 + 3 * 4096 + 123);
      assert.equal(ours.get('wide').type, 'dir');
      fs.rmSync(image);
    });
  }

  test('64 KiB blocks (the kernel here cannot mount them): same tree as with 4 KiB, contents as debugfs dumps them', { timeout: TIMEOUT }, () => {
    const small = imagePath();
    const fakeTime = 1_700_000_000;
    mkfs(small, 64, ['-t', 'ext4', '-b', '4096'], withoutHuge(), fakeTime);
    const kernel = withMount(small, (mnt) => kernelView(mnt));
    const image = imagePath();
    mkfs(image, 256, ['-t', 'ext4', '-b', '65536'], withoutHuge(), fakeTime);
    const ours = readerView(image);
    // Inode numbers depend on the geometry, and atimes on when mke2fs read the source
    // (the second mke2fs run reads it later); nothing else may differ.
    const problems = compareViews(ours, kernel).filter((p) => !/: (ino|atime) is /.test(p));
    assert.deepEqual(problems, []);
    const dumped = path.join(work, 'dumped');
    run('debugfs', ['-R', `dump /size_100000 ${dumped}`, image]);
    withReader(image, (reader) => {
      assert.equal(reader.blockSize, 65536);
      assert.ok(Buffer.concat([...reader.fileChunks(reader.inode(reader.lookup('/size_100000')))]).equals(fs.readFileSync(dumped)));
    });
  });
});

let smallTreeDir;
/** The tree without the 4 GiB file (hashing it twice per variant would dominate the run). */
function withoutHuge() {
  if (!smallTreeDir) {
    smallTreeDir = path.join(work, 'small-tree');
    makeTree(smallTreeDir, { huge: false });
  }
  return smallTreeDir;
}

// [name, mke2fs arguments, populate options]
const KERNEL_VARIANTS = [
  ['ext4 4K', ['-t', 'ext4', '-b', '4096'], {}],
  ['ext4 1K', ['-t', 'ext4', '-b', '1024'], {}],
  ['ext4 4K inline_data', ['-t', 'ext4', '-b', '4096', '-O', 'inline_data'], {}],
  ['ext4 4K ea_inode', ['-t', 'ext4', '-b', '4096', '-O', 'ea_inode'], { eaInode: true }],
  ['ext4 2K without metadata_csum', ['-t', 'ext4', '-b', '2048', '-O', '^metadata_csum'], {}],
];

describe('images written by the kernel', { skip: skip ?? false }, () => {
  for (const [name, args, options] of KERNEL_VARIANTS) {
    test(name, { timeout: TIMEOUT }, () => {
      const image = imagePath();
      mkfs(image, 96, args);
      withMount(image, (mnt) => populateThroughKernel(mnt, options), { rw: true });
      const ours = assertSameAsKernel(image);
      if (name === 'ext4 4K') {
        // As after a crash of the utility VM: the journal is not replayed, the disk is read as it is.
        run('debugfs', ['-w', '-R', 'feature needs_recovery', image]);
        assert.ok(withReader(image, (reader) => reader.superblock.featureIncompat & 0x4), 'needs_recovery is set');
        assert.deepEqual(compareViews(readerView(image), ours), []);
      }
      withReader(image, (reader) => {
        const at = (p) => reader.inode(reader.lookup(p));
        assert.ok(at('/htree').flags & EXT4_INDEX_FL, '1500 names make an htree directory');
        assert.equal(at('/fragmented').iBlock.readUInt16LE(6), 2, '1500 extents make a depth-2 extent tree');
        const treeBlocks = [...reader.blockMap(at('/fragmented'))].filter((r) => r.kind === 'tree').length;
        assert.ok(treeBlocks > 5, `${treeBlocks} extent tree blocks`);
        assert.ok([...reader.blockMap(at('/unwritten'))].every((r) => r.kind === 'unwritten'), 'fallocate leaves unwritten extents');
        assert.deepEqual(new Set([...reader.blockMap(at('/mixed'))].map((r) => r.kind)), new Set(['unwritten', 'data']));
        if (args.includes('inline_data')) {
          for (const p of ['/small/f10', '/small/f100', '/small', '/small/subdir']) assert.ok(at(p).flags & EXT4_INLINE_DATA_FL, `${p} is inline`);
        } else {
          assert.ok(at('/small/f10').flags & EXT4_EXTENTS_FL);
        }
        if (options.eaInode) {
          const [value] = reader.xattrs(at('/eainode')).filter((x) => x.name === 'user.huge_value');
          assert.ok(value.valueInode > 0, 'the value lives in an ea_inode');
          assert.equal(value.value.length, 10000);
        }
        let inUse = 0;
        reader.forEachInode(() => inUse++);
        const sb = reader.superblock;
        assert.equal(inUse, sb.inodesCount - sb.freeInodesCount, 'deleted inodes are not in use');
      });
      fs.rmSync(image);
    });
  }
});
