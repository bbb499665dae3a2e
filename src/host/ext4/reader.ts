// The one ext4 reader of the project: hcsshim's compact images and ext2/3/4 as the Linux
// kernel and mke2fs write them (1-64 KiB blocks, 64bit, flex_bg, meta_bg, extent trees of
// any depth, indirect block maps, htree and inline directories, xattrs in the inode, a
// block or an ea_inode, metadata_csum). Everything is read on demand with positional reads:
// memory stays bounded by a few blocks, a file chunk (1 MiB), 1 MiB of cached inode-table
// blocks, a bounded descriptor cache and, during a walk, one directory block per level.
//
// Checksums: with metadata_csum the superblock, group descriptors, inodes in use, extent
// blocks, directory leaf blocks and xattr blocks are verified, and a mismatch is an
// EXT4_CORRUPT error (pass { verifyChecksums: false } to read a damaged image anyway).
// gdt_csum's crc16 is not verified. The journal is never replayed: an image that needs
// recovery is read as it is on disk, as debugfs does.

import { aclToXattrFormat, ACL_XATTR_NAMES } from './acl.js';
import { ChunkFiller } from './chunk-filler.js';
import type { BlockMapContext, BlockRun } from './block-run.js';
import { walkExtentTree, MAX_LOGICAL_BLOCKS } from './extent-tree.js';
import { corrupt, notExt4, unsupported, wrongType } from './fault.js';
import {
  BG_INODE_UNINIT,
  descriptorBlock,
  descriptorsPerBlock,
  groupDescriptorChecksum,
  parseGroupDescriptor,
  superblockBlock,
  type GroupDescriptor,
} from './group-descriptor.js';
import { htreeLeafFor } from './htree.js';
import { indirectMapCapacity, walkIndirectMap } from './indirect-map.js';
import { inlineDirectoryEntries, inlineFileData, INLINE_DATA_XATTR } from './inline-data.js';
import {
  allocatedBytes,
  decodeDevice,
  EXT4_EA_INODE_FL,
  EXT4_CASEFOLD_FL,
  EXT4_ENCRYPT_FL,
  EXT4_INDEX_FL,
  EXT4_EXTENTS_FL,
  EXT4_INLINE_DATA_FL,
  I_BLOCK_SIZE,
  inodeChecksums,
  inodeChecksumSeed,
  INODE,
  parseInode,
  ROOT_INODE,
  type DeviceNumber,
  type Inode,
} from './inode.js';
import { directoryBlockEntries, isHtreeIndexBlock, type DirEntry, type DirectoryContext } from './directory.js';
import type { ByteSource } from './source.js';
import {
  checkSuperblock,
  checksumSeed,
  hasMetadataCsum,
  INCOMPAT_FILETYPE,
  INCOMPAT_LARGEDIR,
  parseSuperblock,
  RO_COMPAT_GDT_CSUM,
  RO_COMPAT_HUGE_FILE,
  SUPERBLOCK_OFFSET,
  SUPERBLOCK_SIZE,
  type Superblock,
} from './superblock.js';
import { walkTree, type WalkEntry } from './walk.js';
import { parseInodeXattrs, parseXattrBlock, xattrBlockChecksums, type Xattr } from './xattr.js';

export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
/** Descriptor blocks kept in memory (a 16 TiB file system has 2048 of 4 KiB). */
const DESCRIPTOR_CACHE_BLOCKS = 64;
/** Bytes of inode-table blocks kept, and the most a directory read takes at once. */
const CACHE_BYTES = 1024 * 1024;
const DIRECTORY_READ_BYTES = 256 * 1024;
/** Parsed, verified descriptors kept (inode reads look one up each). */
const DESCRIPTOR_CACHE_ENTRIES = 4096;
/** forEachInode reads inode tables in pieces of this size. */
const INODE_TABLE_READ = 1024 * 1024;
/** Without large_dir a directory stays below 2^32 bytes (the kernel's EXT4_LARGEDIR limit is 2^32 blocks). */
const MAX_DIRECTORY_BYTES = 2 ** 32;

export interface Ext4ReaderOptions {
  /** Verify metadata_csum checksums (default true). */
  verifyChecksums?: boolean;
}

export interface BlockMapOptions {
  /** Stop at the first corrupt node instead of throwing (the image diff maps damaged images). */
  lenient?: boolean;
}

export interface ForEachInodeOptions {
  /** Skip checksum verification (the image diff explains damaged images). */
  lenient?: boolean;
}

export interface XattrOptions {
  /** Include system.data, where inline data keeps its tail (listxattr never shows it). */
  includeSystemData?: boolean;
  /** Every entry as stored: system.data included, ACLs in ext4's own format. */
  raw?: boolean;
}

export class Ext4Reader {
  readonly superblock: Superblock;
  private readonly csumSeed?: number;
  private readonly descriptorBlocks = new Map<number, Buffer>();
  private readonly descriptors = new Map<number, GroupDescriptor>();
  private readonly inodeTableBlocks = new Map<number, Buffer>();

  private constructor(readonly source: ByteSource, options: Ext4ReaderOptions) {
    if (source.size < SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE) throw notExt4(`${source.size} bytes is too small for a superblock`);
    const raw = source.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
    this.superblock = parseSuperblock(raw);
    const verify = options.verifyChecksums !== false;
    checkSuperblock(this.superblock, raw, source.size, verify);
    if (hasMetadataCsum(this.superblock) && verify) this.csumSeed = checksumSeed(this.superblock);
  }

  /**
   * Opens an ext4 file system on `source` after checking its superblock: magic, block size,
   * group geometry, counts, that the image holds every block, the superblock checksum,
   * and that no incompat feature it cannot read is set. Once open, the reader owns the
   * source and close() closes it; when open throws, the source stays the caller's.
   */
  static open(source: ByteSource, options: Ext4ReaderOptions = {}): Ext4Reader {
    return new Ext4Reader(source, options);
  }

  close(): void {
    this.source.close();
  }

  get blockSize(): number {
    return this.superblock.blockSize;
  }

  /** Bytes of the file system proper (verity data or a footer may follow). */
  get ext4Bytes(): number {
    return this.superblock.blocksCount * this.superblock.blockSize;
  }

  // -------------------------------------------------------------------------- blocks

  /** Throws EXT4_CORRUPT unless blocks start..start+length-1 lie inside the file system. */
  checkRange(start: number, length: number, what: string): void {
    const first = superblockBlock(this.superblock) + 1;
    if (!(start >= first && start + length <= this.superblock.blocksCount)) {
      throw corrupt(`${what}: block ${start}${length > 1 ? `..${start + length - 1}` : ''} is outside the file system (${first}..${this.superblock.blocksCount - 1})`);
    }
  }

  /** Reads `count` whole blocks from `block` (which may be 0: the superblock's block). */
  readBlock(block: number, count = 1): Buffer {
    if (!(block >= 0 && block + count <= this.superblock.blocksCount)) {
      throw corrupt(`block ${block} is outside the file system (0..${this.superblock.blocksCount - 1})`);
    }
    return this.readBytes(block * this.blockSize, count * this.blockSize);
  }

  /** A positional read that must be whole: a short read means the image shrank under us. */
  private readBytes(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    this.readIntoExact(out, offset);
    return out;
  }

  private readIntoExact(target: Uint8Array, offset: number): void {
    let got: number;
    if (this.source.readInto) {
      got = this.source.readInto(target, offset);
    } else {
      const bytes = this.source.read(offset, target.length);
      target.set(bytes);
      got = Math.max(0, Math.min(target.length, this.source.size - offset));
    }
    if (got !== target.length) throw corrupt(`truncated: ${target.length} bytes at byte ${offset} are past the end of the image (${this.source.size} bytes)`);
  }

  // ------------------------------------------------------------------ group descriptors

  /** Group `g`'s descriptor (found through meta_bg where it applies; checksum verified). */
  groupDescriptor(g: number): GroupDescriptor {
    const sb = this.superblock;
    if (!(Number.isInteger(g) && g >= 0 && g < sb.groupCount)) throw corrupt(`group ${g} out of range 0..${sb.groupCount - 1}`);
    const cached = this.descriptors.get(g);
    if (cached) return cached;
    const perBlock = descriptorsPerBlock(sb);
    const block = this.descriptorBlock(Math.floor(g / perBlock), g);
    const offset = (g % perBlock) * sb.descSize;
    const gd = parseGroupDescriptor(block, offset, sb.descSize);
    if (this.csumSeed !== undefined) {
      const expected = groupDescriptorChecksum(this.csumSeed, g, block.subarray(offset, offset + sb.descSize));
      if (expected !== gd.checksum) throw corrupt(`group ${g} descriptor checksum 0x${gd.checksum.toString(16)} does not match (0x${expected.toString(16)})`);
    }
    remember(this.descriptors, g, gd, DESCRIPTOR_CACHE_ENTRIES);
    return gd;
  }

  private descriptorBlock(nr: number, g: number): Buffer {
    let block = this.descriptorBlocks.get(nr);
    if (!block) {
      const at = descriptorBlock(this.superblock, nr);
      if (at >= this.superblock.blocksCount) throw corrupt(`group descriptor block ${at} (for group ${g}) is outside the file system`);
      block = this.readBlock(at);
      remember(this.descriptorBlocks, nr, block, DESCRIPTOR_CACHE_BLOCKS);
    }
    return block;
  }

  *groupDescriptors(): Generator<GroupDescriptor> {
    for (let g = 0; g < this.superblock.groupCount; g++) yield this.groupDescriptor(g);
  }

  // ------------------------------------------------------------------------- inodes

  /** Byte offset of inode `n`'s record, its group's inode table checked to be in range. */
  inodeOffset(n: number): number {
    const { inodesPerGroup, inodeSize, inodesCount } = this.superblock;
    if (!(Number.isInteger(n) && n >= 1 && n <= inodesCount)) throw corrupt(`inode ${n} out of range 1..${inodesCount}`);
    const group = Math.floor((n - 1) / inodesPerGroup);
    const table = this.groupDescriptor(group).inodeTable;
    this.checkRange(table, Math.ceil((inodesPerGroup * inodeSize) / this.blockSize), `inode table of group ${group}`);
    return table * this.blockSize + ((n - 1) % inodesPerGroup) * inodeSize;
  }

  /** Inode `n` (1 <= n <= inodes count), its checksum verified when it is in use. */
  inode(n: number): Inode {
    const offset = this.inodeOffset(n);
    // Inodes of one directory tend to sit together: read whole inode-table blocks, cached.
    const blockNumber = Math.floor(offset / this.blockSize);
    let block = this.inodeTableBlocks.get(blockNumber);
    if (!block) {
      block = this.readBlock(blockNumber);
      remember(this.inodeTableBlocks, blockNumber, block, Math.max(16, Math.floor(CACHE_BYTES / this.blockSize)));
    }
    const within = offset - blockNumber * this.blockSize;
    const inode = this.parse(n, Buffer.from(block.subarray(within, within + this.superblock.inodeSize)));
    this.verifyInode(inode);
    return inode;
  }

  private parse(n: number, raw: Buffer): Inode {
    return parseInode(n, raw, (this.superblock.featureRoCompat & RO_COMPAT_HUGE_FILE) !== 0);
  }

  private verifyInode(inode: Inode): void {
    // Never-used records are zeros (or uninitialised table space): nothing to verify.
    if (this.csumSeed === undefined || (inode.mode === 0 && inode.linksCount === 0)) return;
    const [stored, computed] = inodeChecksums(this.csumSeed, inode);
    if (stored !== computed) throw corrupt(`inode ${inode.number} checksum 0x${stored.toString(16)} does not match its contents (0x${computed.toString(16)})`);
  }

  /**
   * Calls `visit` for every inode in use: marked in its group's bitmap, or live-looking
   * (a mode, links and no deletion time) so a bitmap bug cannot hide an inode. Groups whose
   * table was never initialised are skipped; tables are read 1 MiB at a time.
   */
  forEachInode(visit: (inode: Inode) => void, options: ForEachInodeOptions = {}): void {
    const sb = this.superblock;
    const csumGroups = (sb.featureRoCompat & RO_COMPAT_GDT_CSUM) !== 0 || hasMetadataCsum(sb);
    const perRead = Math.max(1, Math.floor(INODE_TABLE_READ / sb.inodeSize));
    for (let g = 0; g < sb.groupCount; g++) {
      const gd = this.groupDescriptor(g);
      if (csumGroups && gd.flags & BG_INODE_UNINIT) continue;
      const used = csumGroups ? Math.max(0, sb.inodesPerGroup - gd.itableUnused) : sb.inodesPerGroup;
      this.checkRange(gd.inodeBitmap, 1, `inode bitmap of group ${g}`);
      const bitmap = this.readBlock(gd.inodeBitmap);
      const tableOffset = this.inodeOffset(g * sb.inodesPerGroup + 1);
      for (let first = 0; first < used; first += perRead) {
        const count = Math.min(perRead, used - first);
        const table = this.readBytes(tableOffset + first * sb.inodeSize, count * sb.inodeSize);
        for (let i = first; i < first + count; i++) {
          const raw = table.subarray((i - first) * sb.inodeSize, (i - first + 1) * sb.inodeSize);
          const marked = (bitmap[i >> 3] & (1 << (i & 7))) !== 0;
          const live = raw.readUInt16LE(INODE.mode) !== 0 && raw.readUInt16LE(INODE.linksCount) !== 0 && raw.readUInt32LE(INODE.dtime) === 0;
          if (!marked && !live) continue;
          const inode = this.parse(g * sb.inodesPerGroup + i + 1, Buffer.from(raw));
          if (!options.lenient) this.verifyInode(inode);
          visit(inode);
        }
      }
    }
  }

  // ---------------------------------------------------------------------- block maps

  private hasNoBlockMap(inode: Inode): boolean {
    return (inode.type !== 'file' && inode.type !== 'dir' && inode.type !== 'symlink') || (inode.flags & EXT4_INLINE_DATA_FL) !== 0 || this.isFastSymlink(inode);
  }

  /**
   * A symlink whose target lives in i_block, decided as the kernel's
   * ext4_inode_is_fast_symlink does: not inline, and no blocks besides an xattr block.
   * (The extent flag never marks a fast symlink: hcsshim and the kernel clear it.)
   */
  isFastSymlink(inode: Inode): boolean {
    if (inode.type !== 'symlink' || inode.flags & (EXT4_INLINE_DATA_FL | EXT4_EXTENTS_FL)) return false;
    const hugeFile = (this.superblock.featureRoCompat & RO_COMPAT_HUGE_FILE) !== 0;
    const xattrBlockBytes = inode.fileAcl !== 0 ? this.superblock.clusterSize : 0;
    return allocatedBytes(inode, this.blockSize, hugeFile) - xattrBlockBytes <= 0;
  }

  /** Largest size the inode's map can address; a larger i_size is corruption. */
  private maxBytes(inode: Inode): number {
    const blocks = inode.flags & EXT4_EXTENTS_FL ? MAX_LOGICAL_BLOCKS : Math.min(MAX_LOGICAL_BLOCKS, indirectMapCapacity(this.blockSize));
    const limit = blocks * this.blockSize;
    if (inode.type === 'dir' && (this.superblock.featureIncompat & INCOMPAT_LARGEDIR) === 0) return Math.min(limit, MAX_DIRECTORY_BYTES);
    return limit;
  }

  private checkSize(inode: Inode): void {
    if (inode.size <= this.maxBytes(inode)) return;
    // The exact 64-bit size: above 2^53 the number in `size` is rounded.
    const exact = (BigInt(inode.raw.readUInt32LE(INODE.sizeHigh)) << 32n) + BigInt(inode.raw.readUInt32LE(INODE.sizeLo));
    throw corrupt(`inode ${inode.number}: size ${exact} is larger than its block map can address (${this.maxBytes(inode)})`);
  }

  private mapContext(inode: Inode): BlockMapContext {
    return {
      inode: inode.number,
      blockSize: this.blockSize,
      readBlock: (block, what) => {
        this.checkRange(block, 1, what);
        return this.readBlock(block);
      },
      checkRange: (start, length, what) => this.checkRange(start, length, what),
      checksumSeed: this.csumSeed === undefined ? undefined : inodeChecksumSeed(this.csumSeed, inode),
    };
  }

  /**
   * The inode's block map in logical order: data runs, unwritten runs (read as zeros) and
   * the tree blocks (extent nodes, indirect blocks). Empty for inline data, fast symlinks
   * and devices. Every block number is range-checked; a map that loops, overlaps or claims
   * more blocks than the file system has is EXT4_CORRUPT.
   */
  *blockMap(inode: Inode, options: BlockMapOptions = {}): Generator<BlockRun> {
    if (this.hasNoBlockMap(inode)) return;
    const ctx = this.mapContext(inode);
    const runs = inode.flags & EXT4_EXTENTS_FL
      ? walkExtentTree(inode.iBlock, ctx)
      : walkIndirectMap(inode.iBlock, ctx, Math.ceil(Math.min(inode.size, this.maxBytes(inode)) / this.blockSize));
    let mapped = 0;
    try {
      for (const run of runs) {
        mapped += run.length;
        if (mapped > this.superblock.blocksCount) throw corrupt(`inode ${inode.number} maps more blocks than the file system has (${this.superblock.blocksCount})`);
        yield run;
      }
    } catch (err) {
      if (!options.lenient) throw err;
    }
  }

  // -------------------------------------------------------------------------- data

  private refuseEncrypted(inode: Inode): void {
    if (inode.flags & EXT4_ENCRYPT_FL) throw unsupported(`inode ${inode.number} is encrypted (fscrypt)`);
  }

  /** The value of system.data (inline data past i_block), empty when there is none. */
  private systemData(inode: Inode): Buffer {
    return this.xattrs(inode, { raw: true }).find((x) => x.name === INLINE_DATA_XATTR)?.value ?? Buffer.alloc(0);
  }

  /**
   * A file's bytes in order, exactly i_size of them, in chunks of at most `chunkSize`
   * (fresh buffers the caller may keep). Holes and unwritten extents read as zeros; each
   * contiguous physical run inside a chunk is one positional read.
   */
  *fileChunks(inode: Inode, chunkSize = DEFAULT_CHUNK_SIZE): Generator<Buffer> {
    this.refuseEncrypted(inode);
    if (inode.flags & EXT4_INLINE_DATA_FL) {
      yield inlineFileData(inode, this.systemData(inode));
      return;
    }
    if (this.isFastSymlink(inode)) {
      yield this.fastSymlinkTarget(inode);
      return;
    }
    if (this.hasNoBlockMap(inode) || inode.size === 0) return;
    this.checkSize(inode);
    const filler = new ChunkFiller(inode.size, Math.max(1, Math.floor(chunkSize)), (target, offset) => this.readIntoExact(target, offset));
    for (const run of this.blockMap(inode)) {
      if (run.kind === 'tree') continue;
      const start = run.logical * this.blockSize;
      if (start >= inode.size) break;
      yield* filler.zeros(start - filler.position);
      const length = Math.min(run.length * this.blockSize, inode.size - start);
      yield* run.kind === 'data' ? filler.copy(run.physical * this.blockSize, length) : filler.zeros(length);
    }
    yield* filler.zeros(inode.size - filler.position);
  }

  /** The whole file in one buffer, refused above `maxBytes` (default 64 MiB) to protect memory. */
  readFile(inode: Inode, maxBytes = 64 * 1024 * 1024): Buffer {
    if (inode.size > maxBytes) throw new RangeError(`inode ${inode.number} is ${inode.size} bytes, above ${maxBytes}`);
    return Buffer.concat([...this.fileChunks(inode)]);
  }

  private fastSymlinkTarget(inode: Inode): Buffer {
    if (inode.size >= I_BLOCK_SIZE) throw corrupt(`inode ${inode.number}: fast symlink of ${inode.size} bytes (i_block holds 59)`);
    return Buffer.from(inode.iBlock.subarray(0, inode.size));
  }

  /** A symlink's target: in i_block, inline data or blocks. */
  readlink(inode: Inode): Buffer {
    if (inode.type !== 'symlink') throw wrongType(`inode ${inode.number} is not a symlink (${inode.type})`);
    if (inode.size > Math.max(this.blockSize, 4096)) throw corrupt(`inode ${inode.number}: symlink target of ${inode.size} bytes`);
    return Buffer.concat([...this.fileChunks(inode)]);
  }

  /** A device inode's numbers (old and new encodings). */
  device(inode: Inode): DeviceNumber {
    if (inode.type !== 'chr' && inode.type !== 'blk') throw wrongType(`inode ${inode.number} is not a device (${inode.type})`);
    return decodeDevice(inode.iBlock);
  }

  // ---------------------------------------------------------------------- directories

  private directoryContext(dir: Inode): DirectoryContext {
    return {
      inode: dir.number,
      inodesCount: this.superblock.inodesCount,
      fileTypeFeature: (this.superblock.featureIncompat & INCOMPAT_FILETYPE) !== 0,
      checksumSeed: this.csumSeed === undefined ? undefined : inodeChecksumSeed(this.csumSeed, dir),
    };
  }

  /**
   * A directory's entries, read block by block (htree index blocks and checksum tails
   * read as empty records and are skipped). '.' and '..' come first and carry `dot: true`.
   */
  entries(dir: Inode): Generator<DirEntry> {
    return this.directoryEntries(dir);
  }

  private *directoryEntries(dir: Inode, only?: Buffer): Generator<DirEntry> {
    if (dir.type !== 'dir') throw wrongType(`inode ${dir.number} is not a directory (${dir.type})`);
    this.refuseEncrypted(dir);
    const ctx = { ...this.directoryContext(dir), only };
    if (dir.flags & EXT4_INLINE_DATA_FL) {
      yield* inlineDirectoryEntries(dir, this.systemData(dir), this.blockSize, ctx);
      return;
    }
    this.checkSize(dir);
    const blocks = Math.ceil(dir.size / this.blockSize);
    const perRead = Math.max(1, Math.floor(DIRECTORY_READ_BYTES / this.blockSize));
    for (const run of this.blockMap(dir)) {
      if (run.kind !== 'data') continue;
      const length = Math.min(run.length, blocks - run.logical);
      // Contiguous directory blocks come in one read of up to 256 KiB, then block by block.
      for (let first = 0; first < length; first += perRead) {
        const piece = this.readBlock(run.physical + first, Math.min(perRead, length - first));
        for (let i = 0; i * this.blockSize < piece.length; i++) {
          const block = piece.subarray(i * this.blockSize, (i + 1) * this.blockSize);
          const logical = run.logical + first + i;
          const indexBlock = (dir.flags & EXT4_INDEX_FL) !== 0 && isHtreeIndexBlock(block, logical);
          yield* directoryBlockEntries(block, run.physical + first + i, ctx, indexBlock);
        }
      }
    }
  }

  /**
   * The inode number at `path` ('/a/b' or 'a/b', from the root; '.' and '..' components
   * are looked up like any name), or undefined. Symlinks are not followed.
   */
  lookup(path: string | Buffer): number | undefined {
    const bytes = typeof path === 'string' ? Buffer.from(path, 'utf8') : path;
    let current = ROOT_INODE;
    let start = 0;
    while (start <= bytes.length) {
      let end = bytes.indexOf(0x2f, start);
      if (end < 0) end = bytes.length;
      const part = bytes.subarray(start, end);
      start = end + 1;
      if (part.length === 0 || (part.length === 1 && part[0] === 0x2e)) continue;
      const dir = this.inode(current);
      if (dir.type !== 'dir') {
        if (current === ROOT_INODE) throw corrupt(`the root inode ${ROOT_INODE} is not a directory (${dir.type})`);
        return undefined;
      }
      let next = this.htreeLookup(dir, part);
      if (next === undefined) for (const entry of this.directoryEntries(dir, part)) {
        // Inline directories make up '.' and '..' without looking at the name.
        if (entry.nameBytes.equals(part)) {
          next = entry.inode;
          break;
        }
      }
      if (next === undefined) return undefined;
      current = next;
    }
    return current;
  }

  /**
   * `name` in an htree directory through its index: the one leaf block the hash leads
   * to. Undefined when there is no usable index or the name is not in that leaf (a hash
   * collision can continue in the next leaf): the caller then scans linearly.
   */
  private htreeLookup(dir: Inode, name: Buffer): number | undefined {
    if ((dir.flags & EXT4_INDEX_FL) === 0 || dir.flags & (EXT4_INLINE_DATA_FL | EXT4_ENCRYPT_FL | EXT4_CASEFOLD_FL)) return undefined;
    this.checkSize(dir);
    const blocks = Math.ceil(dir.size / this.blockSize);
    const readLogical = (logical: number): Buffer | undefined => {
      if (logical >= blocks) return undefined;
      const physical = this.physicalBlock(dir, logical);
      return physical === undefined ? undefined : this.readBlock(physical);
    };
    const root = readLogical(0);
    if (!root) return undefined;
    const sb = this.superblock;
    const leaf = htreeLeafFor(root, name, {
      blockSize: this.blockSize,
      hashSeed: sb.hashSeed,
      superblockFlags: sb.flags,
      maxIndirectLevels: sb.featureIncompat & INCOMPAT_LARGEDIR ? 2 : 1,
      readLogical,
    });
    const block = leaf === undefined || leaf === 0 ? undefined : readLogical(leaf);
    if (!block) return undefined;
    const physical = this.physicalBlock(dir, leaf as number) as number;
    const ctx = { ...this.directoryContext(dir), only: name };
    for (const entry of directoryBlockEntries(block, physical, ctx)) return entry.inode;
    return undefined;
  }

  /** The physical block of a logical block of `inode`, undefined in a hole. */
  private physicalBlock(inode: Inode, logical: number): number | undefined {
    for (const run of this.blockMap(inode)) {
      if (run.kind === 'tree' || run.logical > logical) continue;
      if (logical < run.logical + run.length) return run.kind === 'data' ? run.physical + (logical - run.logical) : undefined;
    }
    return undefined;
  }

  /**
   * Every entry below `root` (default the root directory), depth first, '.' and '..' left
   * out. A directory reached twice (a cycle, or a directory with two parents) is
   * EXT4_CORRUPT, so a walk always ends.
   */
  walk(root: number = ROOT_INODE): Generator<WalkEntry> {
    return walkTree(this, root);
  }

  // ------------------------------------------------------------------------- xattrs

  /**
   * The inode's xattrs: in-inode first, then the xattr block's (checksum verified), values
   * kept in ea_inodes read in. As getxattr(2) shows them: system.data (inline data's
   * storage) is left out, and POSIX ACLs come in the user-space format (see acl.ts);
   * `raw` gives the on-disk entries instead.
   */
  xattrs(inode: Inode, options: XattrOptions = {}): Xattr[] {
    const out = parseInodeXattrs(inode);
    if (inode.fileAcl !== 0) {
      this.checkRange(inode.fileAcl, 1, `xattr block of inode ${inode.number}`);
      const block = this.readBlock(inode.fileAcl);
      const where = `inode ${inode.number} xattr block ${inode.fileAcl}`;
      if (this.csumSeed !== undefined) {
        const [stored, computed] = xattrBlockChecksums(this.csumSeed, inode.fileAcl, block);
        if (stored !== computed) throw corrupt(`${where}: checksum 0x${stored.toString(16)} does not match (0x${computed.toString(16)})`);
      }
      out.push(...parseXattrBlock(block, where));
    }
    for (const x of out) {
      if (x.valueInode !== 0) x.value = this.eaInodeValue(inode, x);
      if (!options.raw && ACL_XATTR_NAMES.includes(x.name)) x.value = aclToXattrFormat(x.value, `inode ${inode.number} ${x.name}`);
    }
    return options.includeSystemData || options.raw ? out : out.filter((x) => x.name !== INLINE_DATA_XATTR);
  }

  /** ea_inode: a value kept as the data of an inode flagged EXT4_EA_INODE_FL. */
  private eaInodeValue(owner: Inode, x: Xattr): Buffer {
    const holder = this.inode(x.valueInode);
    if ((holder.flags & EXT4_EA_INODE_FL) === 0 || holder.type !== 'file' || holder.size !== x.valueSize) {
      throw corrupt(`inode ${owner.number}: xattr ${x.name} points at inode ${x.valueInode}, which is not its ${x.valueSize}-byte value inode`);
    }
    return Buffer.concat([...this.fileChunks(holder)]);
  }
}

/** Adds to a bounded cache, dropping the oldest entry when full. */
function remember<K, V>(cache: Map<K, V>, key: K, value: V, limit: number): void {
  if (cache.size >= limit) cache.delete(cache.keys().next().value as K);
  cache.set(key, value);
}
