// The image reader, `inspect` and the image diff, checked against hcsshim's own output:
// the golden images in fixtures/golden (gzip of raw tar2ext4 files) and golden.json.

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { EXT4_EXTENTS_FL, EXT4_INLINE_DATA_FL } from '../dist/host/ext4/inode.js';
import { EXT4_MAGIC } from '../dist/host/ext4/superblock.js';
import { Ext4Reader } from '../dist/host/ext4/reader.js';
import { bufferSource, openImageSource } from '../dist/host/ext4/source.js';
import { formatSummary, inspectImage, vhdChecksum } from '../dist/host/inspect.js';
import { diffImages, formatDiff } from '../dist/host/image-diff.js';
import { GOLDEN_IMAGES, golden as goldenJson, patch } from './helpers/corpus.js';

const GOLDEN_DIR = GOLDEN_IMAGES;
const golden = goldenJson();
const goldenByImage = new Map(golden.results.filter((r) => r.image).map((r) => [r.image, r]));

const work = mkdtempSync(join(tmpdir(), 'lcow-ext4-reader-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Unzips a golden image once into the temp dir and returns its path. */
function image(name) {
  const path = join(work, `${name}.img`);
  if (!existsSync(path)) writeFileSync(path, gunzipSync(readFileSync(join(GOLDEN_DIR, `${name}.img.gz`))));
  return path;
}

let copies = 0;
function copyOf(name) {
  const path = join(work, `copy-${copies++}-${name}.img`);
  copyFileSync(image(name), path);
  return path;
}


function readAt(path, offset, length) {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, offset);
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** Copies image `name` and inverts the byte at `offset`. */
function flipped(name, offset) {
  const path = copyOf(name);
  const byte = readAt(path, offset, 1);
  patch(path, offset, Buffer.from([byte[0] ^ 0xff]));
  return path;
}

const BLOCK_SIZE = 4096;

/** Opens an image, runs `use`, and always closes it. */
function withExt4Image(path, use) {
  const img = Ext4Reader.open(openImageSource(path));
  try {
    return use(img);
  } finally {
    img.close();
  }
}

const lookupInode = (img, path) => img.inode(img.lookup(path));
const listDirectory = (img, inode) => [...img.entries(inode)];
const physicalBlocks = (img, inode) => {
  const out = [];
  for (const run of img.blockMap(inode)) if (run.kind !== 'tree') for (let i = 0; i < run.length; i++) out.push(run.physical + i);
  return out;
};
const treeBlocks = (img, inode) => [...img.blockMap(inode)].filter((r) => r.kind === 'tree').map((r) => r.physical);

const goldenNames = readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.img.gz')).map((f) => f.slice(0, -'.img.gz'.length));

describe('ext4 reader', () => {
  test('basic_none: superblock and group descriptor', () => {
    withExt4Image(image('basic_none'), (img) => {
      const sb = img.superblock;
      assert.equal(sb.magic, EXT4_MAGIC);
      assert.equal(sb.blockSize, 4096);
      assert.equal(sb.blocksPerGroup, 32768);
      assert.equal(sb.inodeSize, 256);
      assert.equal(sb.firstIno, 11);
      assert.equal(sb.lpfIno, 11);
      assert.equal(sb.featureCompat, 0x208);
      assert.equal(sb.featureIncompat, 0x242);
      assert.equal(sb.featureRoCompat, 0x104a);
      assert.equal(sb.groupCount, 1);
      assert.equal([...img.groupDescriptors()].length, 1);
      assert.equal(sb.inodesCount, sb.groupCount * sb.inodesPerGroup);
      assert.equal(img.ext4Bytes, goldenByImage.get('basic_none.img.gz').ext4_bytes);
      const gd = img.groupDescriptor(0);
      assert.equal(gd.blockBitmap + 1, gd.inodeBitmap, 'bitmaps are interleaved (§5.2)');
      assert.equal(gd.inodeBitmap + 1, sb.blocksCount, 'the bitmaps end the image');
      assert.equal(gd.freeInodesCount, sb.freeInodesCount);
      assert.equal(gd.freeBlocksCount, sb.freeBlocksCount);
    });
  });

  test('basic_none: root directory lists ., .. and lost+found at inode 11', () => {
    withExt4Image(image('basic_none'), (img) => {
      const root = img.inode(2);
      assert.equal(root.type, 'dir');
      const entries = listDirectory(img, root);
      assert.deepEqual(entries.slice(0, 3).map((e) => [e.name, e.inode, e.fileType]), [
        ['.', 2, 2],
        ['..', 2, 2],
        ['lost+found', 11, 2],
      ]);
      assert.ok(entries.every((e) => e.inode !== 0), 'placeholder entries are skipped');
      const lostFound = img.inode(11);
      assert.equal(lostFound.mode, 0o40700);
      assert.equal(lostFound.linksCount, 2);
      assert.equal(lostFound.size, 4096);
      assert.equal(lostFound.blocks, 1, 'i_blocks counts 4096-byte blocks');
    });
  });

  test('every golden image: inodes in use match the free counts, and everything parses', () => {
    for (const name of goldenNames) {
      withExt4Image(image(name), (img) => {
        let inUse = 0;
        let dirs = 0;
        img.forEachInode((inode) => {
          inUse++;
          if (inode.type === 'dir') {
            dirs++;
            assert.ok(listDirectory(img, inode).length >= 2, `${name}: inode ${inode.number} has . and ..`);
          } else if (inode.type === 'file' || inode.type === 'symlink') {
            assert.equal(img.readFile(inode).length, inode.size, `${name}: inode ${inode.number}`);
          }
          img.xattrs(inode);
        });
        const sb = img.superblock;
        assert.equal(inUse, sb.inodesCount - sb.freeInodesCount, name);
        assert.equal(dirs, img.groupDescriptor(0).usedDirsCount, name);
      });
    }
  });

  test('devices_none: char and block device numbers', () => {
    const expected = {
      null: ['chr', 1, 3], zero: ['chr', 1, 5], tty: ['chr', 5, 0], sda: ['blk', 8, 0], sda1: ['blk', 8, 1],
      bigminor: ['chr', 4, 300], bigmajor: ['blk', 259, 65539], huge: ['chr', 4095, 1048575], zero0: ['chr', 0, 0],
    };
    withExt4Image(image('devices_none'), (img) => {
      const dev = lookupInode(img, '/dev');
      const entries = new Map(listDirectory(img, dev).map((e) => [e.name, e]));
      for (const [name, [type, major, minor]] of Object.entries(expected)) {
        const inode = img.inode(entries.get(name).inode);
        assert.equal(inode.type, type, name);
        assert.equal(entries.get(name).fileType, type === 'chr' ? 3 : 4, name);
        assert.deepEqual(img.device(inode), { major, minor }, name);
        assert.equal(inode.iBlock.readUInt32LE(0), 0, `${name}: word 0 is zero`);
      }
      const tty = lookupInode(img, '/dev/tty');
      assert.equal(tty.gid, 5);
      assert.equal(tty.mode & 0o7777, 0o666);
      assert.equal(tty.mtime.seconds, 1700000000);
      assert.equal(lookupInode(img, '/dev/fifo').type, 'fifo');
      assert.equal(lookupInode(img, '/dev/fifo_suid').mode, 0o14777);
    });
  });

  test('xattrs_none: name prefixes, in-inode and block placement, values and hash', () => {
    withExt4Image(image('xattrs_none'), (img) => {
      const xattrs = (path) => img.xattrs(lookupInode(img, path));
      const [small] = xattrs('/x/small');
      assert.deepEqual([small.name, small.index, small.location, small.value.toString()], ['user.a', 1, 'inode', '1']);
      assert.equal(small.hash, 0x00610031, 'the spec §10.6 example');
      assert.equal(xattrs('/x/empty_value')[0].value.length, 0);
      assert.equal(xattrs('/x/cap')[0].name, 'security.capability');
      assert.deepEqual(xattrs('/x/trusted').map((x) => x.name), ['trusted.foo', 'trusted.overlay.origin']);
      const [acl] = xattrs('/x/acl');
      assert.deepEqual([acl.name, acl.index], ['system.posix_acl_access', 2]);
      const [other] = xattrs('/x/other_ns');
      assert.deepEqual([other.name, other.index], ['foo.bar', 0]);
      assert.equal(xattrs('/x/nonascii_name')[0].name, 'user.ñämé');

      const large = lookupInode(img, '/x/large');
      assert.notEqual(large.fileAcl, 0);
      assert.equal(large.blocks, 2, 'one data block and the xattr block');
      const [big] = img.xattrs(large);
      assert.deepEqual([big.name, big.location, big.value.length], ['user.large', 'block', 3000]);
      assert.ok(big.value.equals(Buffer.alloc(3000, 'L')));
      const binary = xattrs('/x/binary')[0].value;
      assert.ok(binary.equals(Buffer.from(Array.from({ length: 256 }, (_, i) => i))));
      const many = xattrs('/x/many');
      assert.equal(many.length, 30);
      assert.ok(many.some((x) => x.location === 'inode') && many.some((x) => x.location === 'block'));
    });
  });

  test('links_none: fast symlinks in i_block, longer targets in blocks, hard links share an inode', () => {
    withExt4Image(image('links_none'), (img) => {
      const readlink = (i, inode) => i.readlink(inode).toString('utf8');
      const len59 = lookupInode(img, '/sym/len_59');
      assert.ok(img.isFastSymlink(len59));
      assert.equal(readlink(img, len59), 't'.repeat(58) + 'x');
      assert.equal(readlink(img, lookupInode(img, '/sym/abs')), '/etc/passwd');
      assert.equal(readlink(img, lookupInode(img, '/sym/utf8')), 'ziel_ü_😀');
      const len60 = lookupInode(img, '/sym/len_60');
      assert.ok(!img.isFastSymlink(len60));
      assert.ok(len60.flags & EXT4_EXTENTS_FL);
      assert.equal(readlink(img, len60).length, 60);
      assert.equal(readlink(img, lookupInode(img, '/sym/len_4095')).length, 4095);
      const a = lookupInode(img, '/hard/a');
      assert.equal(img.lookup('/other/c'), a.number);
      assert.equal(img.lookup('/implicit/dir/x'), a.number);
      assert.equal(a.linksCount, 6, 'a, b, e, c, d and implicit/dir/x');
    });
  });

  test('inline data reads back the same bytes as the extent-mapped image', () => {
    const plain = Ext4Reader.open(openImageSource(image('basic_overlay')));
    const inline = Ext4Reader.open(openImageSource(image('basic_overlay_inline')));
    try {
      assert.ok(inline.superblock.featureIncompat & 0x8000);
      let inlineFiles = 0;
      inline.forEachInode((inode) => {
        if (inode.type !== 'file') return;
        if (inode.flags & EXT4_INLINE_DATA_FL) {
          inlineFiles++;
          assert.ok(inode.size <= 136);
          assert.equal(inode.blocks, 0);
        }
        // Inode numbers follow tar order, so they match between the two option sets.
        assert.ok(inline.readFile(inode).equals(plain.readFile(plain.inode(inode.number))), `inode ${inode.number}`);
      });
      assert.ok(inlineFiles > 0);
    } finally {
      plain.close();
      inline.close();
    }
  });

  test('a depth-1 extent tree (leaf block appended to a copy) maps the same data', () => {
    const { path, inode, leafBlock } = withDepthOneTree();
    withExt4Image(path, (img) => {
      const moved = img.inode(inode);
      assert.deepEqual(treeBlocks(img, moved), [leafBlock]);
      const original = withExt4Image(image('basic_none'), (o) => o.readFile(o.inode(inode)));
      assert.ok(img.readFile(moved).equals(original));
    });
  });

  test('openImageSource leaves out the VHD footer of every golden -vhd image, and nothing else', () => {
    for (const name of goldenNames) {
      const g = goldenByImage.get(`${name}.img.gz`);
      const source = openImageSource(image(name));
      try {
        assert.equal(source.size, g.raw_file_bytes - (g.vhd_footer ? 512 : 0), name);
      } finally {
        source.close();
        source.close();
      }
    }
  });

  test('bufferSource reads the same image from memory', () => {
    const img = Ext4Reader.open(bufferSource(readFileSync(image('empty_none'))));
    assert.deepEqual(listDirectory(img, img.inode(2)).map((e) => e.name), ['.', '..', 'lost+found']);
    img.close();
  });
});

/**
 * Copies basic_none, appends two blocks (bumping s_blocks_count), and moves the first
 * extent-mapped file's extents into a leaf at the first new block, so the copy has a
 * depth-1 tree (no golden image is large enough to need one) and a trailing zero block.
 */
function withDepthOneTree() {
  const path = copyOf('basic_none');
  const { inode, inodeOffset, iBlock, leafBlock } = withExt4Image(path, (img) => {
    let found;
    img.forEachInode((i) => {
      if (!found && i.type === 'file' && i.flags & EXT4_EXTENTS_FL) found = i;
    });
    return { inode: found.number, inodeOffset: img.inodeOffset(found.number), iBlock: found.iBlock, leafBlock: img.superblock.blocksCount };
  });
  const entries = iBlock.readUInt16LE(2);
  const leaf = Buffer.alloc(BLOCK_SIZE);
  leaf.writeUInt16LE(0xf30a, 0);
  leaf.writeUInt16LE(entries, 2);
  leaf.writeUInt16LE(340, 4);
  iBlock.copy(leaf, 12, 12, 12 + entries * 12);
  const root = Buffer.alloc(60);
  root.writeUInt16LE(0xf30a, 0);
  root.writeUInt16LE(1, 2);
  root.writeUInt16LE(4, 4);
  root.writeUInt16LE(1, 6);
  root.writeUInt32LE(0, 12);
  root.writeUInt32LE(leafBlock, 16);
  patch(path, inodeOffset + 0x28, root);
  patch(path, leafBlock * BLOCK_SIZE, leaf);
  truncateSync(path, (leafBlock + 2) * BLOCK_SIZE);
  const count = Buffer.alloc(4);
  count.writeUInt32LE(leafBlock + 2);
  patch(path, 1024 + 4, count);
  return { path, inode, leafBlock };
}

describe('inspect', () => {
  test('every golden image: sizes, footer and verity match golden.json', () => {
    for (const name of goldenNames) {
      const g = goldenByImage.get(`${name}.img.gz`);
      const s = inspectImage(image(name));
      assert.equal(s.fileSize, g.raw_file_bytes, name);
      assert.equal(s.ext4Bytes, g.ext4_bytes, name);
      assert.ok(s.ext4, name);
      assert.equal(s.ext4.groupCount, 1, name);
      if (g.vhd_footer) {
        const f = s.vhdFooter;
        assert.ok(f, `${name} has a footer`);
        assert.equal(f.checksumValid, g.vhd_footer.checksum_ok, name);
        assert.equal(f.originalSize, g.vhd_footer.original_size, name);
        assert.equal(f.currentSize, s.fileSize - 512, name);
        assert.equal(f.features, 2);
        assert.equal(f.fileFormatVersion, 0x10000);
        assert.equal(f.diskType, 2);
        assert.match(f.uniqueIdHex, /^[0-9a-f]{32}$/);
      } else {
        assert.equal(s.vhdFooter, null, name);
      }
      if (g.verity) {
        const v = s.verity;
        assert.ok(v, `${name} has a verity superblock`);
        assert.equal(v.rootDigestHex, g.verity.root_digest, name);
        assert.equal(v.dataBlocks, g.verity.data_blocks, name);
        assert.equal(v.version, g.verity.version);
        assert.equal(v.hashType, g.verity.hash_type);
        assert.equal(v.algorithm, g.verity.algorithm);
        assert.equal(v.saltSize, 32);
        assert.equal(v.saltHex, g.verity.salt_hex);
      } else {
        assert.equal(s.verity, null, name);
      }
    }
  });

  test('a footer with a wrong checksum is reported invalid', () => {
    const path = copyOf('basic_overlay_vhd');
    const size = inspectImage(path).fileSize;
    patch(path, size - 512 + 64, Buffer.from([0, 0, 0, 0]));
    const s = inspectImage(path);
    assert.equal(s.vhdFooter.checksumValid, false);
    assert.equal(vhdChecksum(readAt(path, size - 512, 512)), vhdChecksum(readAt(image('basic_overlay_vhd'), size - 512, 512)));
  });

  test('formatSummary shows features, groups, footer and digest', () => {
    const text = formatSummary(inspectImage(image('basic_overlay_verity_vhd')));
    const g = goldenByImage.get('basic_overlay_verity_vhd.img.gz');
    assert.match(text, /ext_attr sparse_super2/);
    assert.match(text, /filetype extent flex_bg/);
    assert.match(text, /large_file huge_file extra_isize read-only/);
    assert.match(text, /group 0: block bitmap \d+, inode bitmap \d+, inode table \d+/);
    assert.match(text, /checksum 0x[0-9a-f]{8} valid/);
    assert.ok(text.includes(g.verity.root_digest));
    assert.match(formatSummary(inspectImage(image('basic_overlay_inline'))), /inline_data/);
  });

  test('a file without ext4 is summarised without throwing', () => {
    const path = join(work, 'not-ext4.img');
    writeFileSync(path, Buffer.alloc(8192));
    const s = inspectImage(path);
    assert.equal(s.ext4, null);
    assert.match(s.ext4Error, /not an ext4 image/);
    assert.match(formatSummary(s), /unreadable/);
  });
});

describe('image diff', () => {
  const structureAt = (name, offset) => diffImages(image(name), flipped(name, offset));

  test('an image against itself and against a copy is null', () => {
    assert.equal(diffImages(image('basic_none'), image('basic_none')), null);
    assert.equal(diffImages(image('basic_overlay_verity_vhd'), copyOf('basic_overlay_verity_vhd')), null);
  });

  test('superblock, group descriptors and bitmaps', () => {
    const magic = structureAt('basic_none', 1024 + 0x38);
    assert.equal(magic.structure, 'superblock');
    assert.match(magic.detail, /s_magic/);
    assert.equal(formatDiff(magic), 'first difference at byte 1080 (block 0): superblock (field s_magic (+0))');
    assert.equal(structureAt('basic_none', 10).structure, 'superblock');
    const gd = structureAt('basic_none', 4096 + 8);
    assert.equal(gd.structure, 'group descriptors');
    assert.match(gd.detail, /group 0, field bg_inode_table_lo/);
    assert.equal(structureAt('basic_none', 4096 + 200).structure, 'group descriptor area (unused)');
    const { blockBitmap, inodeBitmap } = withExt4Image(image('basic_none'), (img) => img.groupDescriptor(0));
    assert.equal(structureAt('basic_none', blockBitmap * 4096 + 3).structure, 'block bitmap of group 0');
    const ib = structureAt('basic_none', inodeBitmap * 4096 + 1);
    assert.equal(ib.structure, 'inode bitmap of group 0');
    assert.match(ib.detail, /inodes 9\.\.16/);
  });

  test('inode table byte names the inode and field', () => {
    for (const n of [1, 2, 11, 12, 57, 113, 128]) {
      const offset = withExt4Image(image('basic_none'), (img) => img.inodeOffset(n)) + 0x10;
      const d = structureAt('basic_none', offset);
      assert.equal(d.structure, `inode table (inode ${n})`);
      assert.match(d.detail, /i_mtime/);
      assert.equal(d.block, Math.floor(offset / 4096));
    }
  });

  test('directory, file data, symlink data and xattr blocks name their inode', () => {
    const [rootBlock] = withExt4Image(image('basic_none'), (img) => physicalBlocks(img, img.inode(2)));
    const dir = structureAt('basic_none', rootBlock * 4096 + 30);
    assert.equal(dir.structure, 'directory block of inode 2');
    assert.match(dir.detail, /lost\+found/);

    const file = withExt4Image(image('basic_none'), (img) => {
      let found;
      img.forEachInode((i) => {
        if (!found && i.type === 'file' && i.size > 4096) found = i;
      });
      return { number: found.number, second: physicalBlocks(img, found)[1] };
    });
    const data = structureAt('basic_none', file.second * 4096 + 100);
    assert.equal(data.structure, `file data of inode ${file.number}`);
    assert.equal(data.detail, 'logical block 1');

    const sym = withExt4Image(image('links_none'), (img) => {
      const inode = lookupInode(img, '/sym/len_500');
      return { number: inode.number, block: physicalBlocks(img, inode)[0] };
    });
    assert.equal(structureAt('links_none', sym.block * 4096 + 5).structure, `symlink data of inode ${sym.number}`);

    const xattr = withExt4Image(image('xattrs_none'), (img) => lookupInode(img, '/x/large'));
    assert.equal(structureAt('xattrs_none', xattr.fileAcl * 4096 + 40).structure, `xattr block of inode ${xattr.number}`);
  });

  test('extent leaf and zero fill (synthetic depth-1 copy)', () => {
    const { path, inode, leafBlock } = withDepthOneTree();
    const leafFlip = join(work, 'leaf-flip.img');
    copyFileSync(path, leafFlip);
    patch(leafFlip, leafBlock * 4096 + 20, Buffer.from([0x77]));
    assert.equal(diffImages(path, leafFlip).structure, `extent leaf of inode ${inode}`);
    const fillFlip = join(work, 'fill-flip.img');
    copyFileSync(path, fillFlip);
    patch(fillFlip, (leafBlock + 1) * 4096 + 9, Buffer.from([1]));
    assert.equal(diffImages(path, fillFlip).structure, 'free/zero fill');
  });

  test('dm-verity superblock, hash tree and VHD footer', () => {
    const name = 'basic_overlay_verity_vhd';
    const { ext4_bytes: ext4Bytes, raw_file_bytes: size } = goldenByImage.get(`${name}.img.gz`);
    const sb = structureAt(name, ext4Bytes + 73);
    assert.equal(sb.structure, 'dm-verity superblock');
    assert.match(sb.detail, /data_blocks/);
    assert.equal(structureAt(name, ext4Bytes + 4096 + 7).structure, 'dm-verity hash tree');
    const footer = structureAt(name, size - 1);
    assert.equal(footer.structure, 'VHD footer');
    assert.match(structureAt(name, size - 512 + 70).detail, /unique id/);
  });

  test('size differences', () => {
    const name = 'basic_overlay_vhd';
    const size = goldenByImage.get(`${name}.img.gz`).raw_file_bytes;
    const shorter = copyOf(name);
    truncateSync(shorter, size - 512);
    const longer = diffImages(image(name), shorter);
    assert.deepEqual([longer.offset, longer.structure, longer.sizeA, longer.sizeB], [size - 512, 'VHD footer', size, size - 512]);
    const past = diffImages(shorter, image(name));
    assert.deepEqual([past.offset, past.structure], [size - 512, 'past the end of A']);
  });

  test('falls back to B when A has no ext4 superblock', () => {
    const zeros = join(work, 'zeros.img');
    const size = goldenByImage.get('basic_none.img.gz').raw_file_bytes;
    writeFileSync(zeros, Buffer.alloc(size));
    const d = diffImages(zeros, image('basic_none'));
    assert.deepEqual([d.offset, d.structure], [1024, 'superblock']);
  });
});
