// hcsshim compactext4's in-memory model (spec §3, §5.1): Create, Link, MakeParents and
// Stat over a tree of inodes, with a single forward cursor that places each inode's
// xattr block, data and extent leaves. File data itself is never copied here: the
// writer only decides where it goes (dataOffset) and the host writes it there.

import * as E from "../errors";
import { fail, failed, wrapFailure } from "../errors";
import { TarTime, ABSENT_TIME } from "../tar/header";
import { formatDecimal, formatOctal } from "../bytes";
import { BLOCK_SIZE, S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, INODE_FLAG_HUGE_FILE, INODE_FLAG_EXTENTS, INODE_FLAG_INLINE_DATA, MAX_FILE_SIZE, MAX_LINKS, FAST_SYMLINK_MAX, INLINE_DATA_MAX, INODE_ROOT, blocksFor } from "./constants";
import { Inode } from "./inode";
import { encodeTime, decodeTime, encodeKernelTime, decodeKernelTime } from "./time";
import { cleanPath } from "./path";
import { Xattr, XattrPlacement, sortBlockXattrs, sortBlockXattrsForKernel, putXattrBlock } from "./xattr";
import { leafCount, putExtentLeaf } from "./extents";
import { groupDescriptorBlocks } from "./layout";
import { stageWrite } from "../plan";
import { latin1Store } from "../bytes";

/** hcsshim's File: what a tar entry (or an implicit parent) asks the writer to create. */
export class FileRecord {
  mode: u16 = 0;
  uid: u32 = 0;
  gid: u32 = 0;
  size: i64 = 0;
  atime: TarTime = ABSENT_TIME;
  ctime: TarTime = ABSENT_TIME;
  mtime: TarTime = ABSENT_TIME;
  crtime: TarTime = ABSENT_TIME;
  devMajor: u32 = 0;
  devMinor: u32 = 0;
  linkname: string = "";
  /** Allocated on first use: most entries have no xattrs. */
  private xattrMap: Map<string, string> | null = null;

  get xattrs(): Map<string, string> {
    if (this.xattrMap == null) this.xattrMap = new Map();
    return this.xattrMap!;
  }

  get hasXattrs(): bool {
    return this.xattrMap != null && this.xattrMap!.size != 0;
  }
}

/**
 * Mode, owner, device and times of an inode, times decoded as hcsshim does (spec §7.3)
 * or, in profile fixed, as the kernel does (an exact round trip).
 */
function attributesOf(node: Inode, fixed: bool): FileRecord {
  const f = new FileRecord();
  f.mode = node.mode;
  f.uid = node.uid;
  f.gid = node.gid;
  f.devMajor = node.devMajor;
  f.devMinor = node.devMinor;
  f.atime = fixed ? decodeKernelTime(node.atime) : decodeTime(node.atime);
  f.ctime = fixed ? decodeKernelTime(node.ctime) : decodeTime(node.ctime);
  f.mtime = fixed ? decodeKernelTime(node.mtime) : decodeTime(node.mtime);
  f.crtime = fixed ? decodeKernelTime(node.crtime) : decodeTime(node.crtime);
  return f;
}

/**
 * Adds an inode's previous xattrs to a new record, where the record does not name them.
 * A previous system.data (inline data) is left out in profile fixed, which re-reserves it
 * for the new data; hcsshim keeps it, decoded before Close has put the file data in it,
 * so it still holds its zero placeholder.
 */
function mergeOldXattrs(f: FileRecord, previous: Array<Xattr> | null, fixed: bool): void {
  if (previous == null) return;
  const list = previous;
  for (let i = 0; i < list.length; i++) {
    const name = list[i].fullName;
    if (name == "system.data" && fixed) continue;
    const xattrs = f.xattrs;
    if (xattrs.has(name)) continue;
    const value = name == "system.data" ? "\0".repeat(list[i].value.length) : list[i].value;
    xattrs.set(name, value);
  }
}

export class Writer {
  readonly maxDiskSize: i64;
  readonly gdBlocks: u32;
  readonly inlineData: bool;
  /**
   * Profile fixed: times in the kernel's encoding, the kernel's block xattr order, old
   * block xattrs kept on re-create, correct extent leaf counts, inode bitmap padding set.
   */
  readonly fixed: bool;
  /** Output position in bytes; block-aligned between operations. */
  cursor: i64 = 0;
  /** inodes[n - 1] is inode n; null for the reserved numbers 1 and 3..10. */
  inodes: Array<Inode | null> = [];
  private initialized: bool = false;
  /** Where the data of the last created regular file goes (-1 when it takes none). */
  dataOffset: i64 = -1;
  dataInode: Inode | null = null;
  /**
   * The directory of the last entry, by cleaned path. Tars list siblings together, so
   * most entries skip the walk from the root. A directory never leaves its path (it can
   * only be re-created in place), so the cache cannot go stale.
   */
  private lastDirPath: string = "";
  private lastDir: Inode | null = null;

  constructor(maxDiskSize: i64, inlineData: bool, fixed: bool) {
    this.maxDiskSize = maxDiskSize;
    this.gdBlocks = groupDescriptorBlocks(maxDiskSize);
    this.inlineData = inlineData;
    this.fixed = fixed;
  }

  get root(): Inode {
    return this.inodes[INODE_ROOT - 1]!;
  }

  get inodeCount(): u32 {
    return <u32>this.inodes.length;
  }

  /** The sticky size check every forward write goes through (spec §5.3). */
  reserve(bytes: i64): bool {
    if (failed()) return false;
    if (this.cursor + bytes > this.maxDiskSize) {
      fail(E.EXT4_DISK_FULL, "disk exceeded maximum size of " + formatDecimal(this.maxDiskSize) + " bytes");
      return false;
    }
    return true;
  }

  /** Lazily lays down inodes 1..11 and places the cursor after the descriptor area. */
  begin(): bool {
    this.dataOffset = -1;
    this.dataInode = null;
    if (this.initialized) return !failed();
    this.initialized = true;
    this.cursor = (<i64>1 + this.gdBlocks) * BLOCK_SIZE;
    this.inodes.push(null);
    const root = new Inode(INODE_ROOT);
    root.mode = S_IFDIR | 0o755;
    root.flags = INODE_FLAG_HUGE_FILE;
    root.linkCount = 2;
    root.children = new Map();
    this.inodes.push(root);
    for (let i = 3; i <= 10; i++) this.inodes.push(null);
    const lostFound = new FileRecord();
    lostFound.mode = S_IFDIR | 0o700;
    return this.createInternal("lost+found", lostFound) != null;
  }

  // What the last lookup found (fields rather than a result object: a lookup runs for
  // every entry). Callers copy them out before the next lookup.
  private foundParent: Inode | null = null;
  private foundExisting: Inode | null = null;
  private foundName: string = "";

  private lookup(name: string, mustExist: bool): bool {
    const clean = cleanPath(name);
    if (clean.length == 0) {
      this.foundParent = this.root;
      this.foundExisting = this.root;
      this.foundName = "";
      return true;
    }
    const slash = clean.lastIndexOf("/");
    const childName = slash < 0 ? clean : clean.substring(slash + 1);
    if (childName.length == 0 || childName.length > 255) {
      fail(E.EXT4_INVALID_NAME, name + ": invalid name");
      return false;
    }
    const parent = this.parentOf(clean, slash);
    if (parent == null || !parent.isDir()) {
      fail(E.EXT4_PATH_NOT_FOUND, name + ": path not found");
      return false;
    }
    const children = parent.children!;
    const existing = children.has(childName) ? children.get(childName) : null;
    if (existing == null && mustExist) {
      fail(E.EXT4_FILE_NOT_FOUND, name + ": file not found");
      return false;
    }
    this.foundParent = parent;
    this.foundExisting = existing;
    this.foundName = childName;
    return true;
  }

  /** The directory holding cleaned path `clean` whose last slash is at `slash`. */
  private parentOf(clean: string, slash: i32): Inode | null {
    if (slash < 0) return this.root;
    if (this.isLastDir(clean, slash)) return this.lastDir;
    return this.findPath(clean.substring(0, slash));
  }

  private isLastDir(clean: string, slash: i32): bool {
    return this.lastDir != null && slash == this.lastDirPath.length && clean.startsWith(this.lastDirPath);
  }

  private findPath(dir: string): Inode | null {
    let node: Inode = this.root;
    if (dir.length == 0) return node;
    const parts = dir.split("/");
    for (let i = 0; i < parts.length; i++) {
      const children = node.children;
      if (children == null || !children.has(parts[i])) return null;
      node = children.get(parts[i]);
    }
    return node;
  }

  create(name: string, f: FileRecord): Inode | null {
    if (!this.begin()) return null;
    return this.createInternal(name, f);
  }

  private createInternal(name: string, f: FileRecord): Inode | null {
    if (!this.lookup(name, false)) return null;
    const parent = this.foundParent!;
    const existing = this.foundExisting;
    const childName = this.foundName;
    const isDir = (f.mode & S_IFMT) == S_IFDIR;
    let reuse: Inode | null = null;
    if (existing != null) {
      if (existing.isDir()) {
        if (!isDir) { fail(E.EXT4_DIR_REPLACED_BY_FILE, name + ": cannot replace a directory with a file"); return null; }
        reuse = existing;
      } else if (isDir) {
        fail(E.EXT4_FILE_REPLACED_BY_DIR, name + ": cannot replace a file with a directory");
        return null;
      } else if (existing.linkCount < 2) {
        reuse = existing;
      }
    } else if (isDir && parent.linkCount >= MAX_LINKS) {
      fail(E.EXT4_DIR_LINK_LIMIT, name + ": exceeded parent directory maximum link count");
      return null;
    }
    const child = this.makeInode(f, reuse);
    if (child == null) {
      wrapFailure(name);
      return null;
    }
    if (existing !== child) {
      if (existing != null) existing.linkCount--;
      parent.children!.set(childName, child);
      child.linkCount++;
      if (child.isDir()) parent.linkCount++;
    }
    if (child.type == S_IFREG) this.placeFileData(child);
    return child;
  }

  private makeInode(f: FileRecord, reuse: Inode | null): Inode | null {
    let mode = f.mode;
    if ((mode & S_IFMT) == 0) mode |= S_IFREG;
    const type = mode & S_IFMT;
    const number = <u32>this.inodes.length + 1;
    let node: Inode;
    if (reuse == null) {
      node = new Inode(number);
      if (type == S_IFDIR) {
        node.children = new Map();
        node.linkCount = 1; // a directory links to itself
      }
    } else {
      node = reuse;
      if ((node.flags & INODE_FLAG_EXTENTS) != 0) {
        fail(E.EXT4_OVERWRITE_DATA, "cannot overwrite file with non-inline data");
        return null;
      }
    }
    node.mode = mode;
    node.uid = f.uid;
    node.gid = f.gid;
    node.flags = INODE_FLAG_HUGE_FILE;
    node.atime = this.fixed ? encodeKernelTime(f.atime) : encodeTime(f.atime);
    node.ctime = this.fixed ? encodeKernelTime(f.ctime) : encodeTime(f.ctime);
    node.mtime = this.fixed ? encodeKernelTime(f.mtime) : encodeTime(f.mtime);
    node.crtime = this.fixed ? encodeKernelTime(f.crtime) : encodeTime(f.crtime);
    node.devMajor = f.devMajor;
    node.devMinor = f.devMinor;
    node.data = null;
    // Old in-inode xattrs are merged in; old block xattrs are not (spec §3.5). Profile
    // fixed does what extracting the tar does instead: a directory entry over an
    // existing directory adds to all its xattrs, a file entry replaces the file (and
    // its xattrs) whole.
    if (this.fixed) {
      if (type == S_IFDIR) {
        mergeOldXattrs(f, node.inodeXattrs, true);
        mergeOldXattrs(f, node.blockXattrs, true);
      }
      node.inodeXattrs = null;
      node.blockXattrs = null;
    } else {
      mergeOldXattrs(f, node.inodeXattrs, false);
    }
    const placement = new XattrPlacement();
    switch (type) {
      case S_IFREG: {
        if (f.size > MAX_FILE_SIZE) {
          fail(E.EXT4_FILE_TOO_BIG, "file too big: " + formatDecimal(f.size) + " > " + formatDecimal(MAX_FILE_SIZE));
          return null;
        }
        if (this.inlineData && f.size <= INLINE_DATA_MAX) {
          node.flags |= INODE_FLAG_INLINE_DATA;
          node.data = "\0".repeat(<i32>f.size);
          // system.data is reserved first, whatever the other names (spec §9).
          placement.add(new Xattr("system.data", "\0".repeat(f.size > 60 ? <i32>f.size - 60 : 0)));
        }
        node.size = <u64>f.size;
        break;
      }
      case S_IFLNK: {
        node.mode |= 0o777;
        node.size = <u64>f.linkname.length;
        if (f.linkname.length <= FAST_SYMLINK_MAX) node.data = f.linkname;
        break;
      }
      case S_IFDIR: case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
        // No data: size 0 even when re-using an inode that had some (spec §16);
        // directories get their size at Close.
        node.size = 0;
        break;
      default:
        fail(E.EXT4_INVALID_MODE, "invalid mode " + formatOctal(mode));
        return null;
    }
    // A kept xattr block is rewritten even when empty now (profile fixed drops old xattrs).
    if (f.hasXattrs || placement.inode.length != 0 || (this.fixed && node.xattrBlock != 0)) {
      const xattrs = f.xattrs;
      const names = xattrs.keys();
      names.sort();
      for (let i = 0; i < names.length; i++) {
        if (!placement.add(new Xattr(names[i], xattrs.get(names[i])))) {
          fail(E.EXT4_XATTR_NO_ROOM, "could not fit xattr " + names[i]);
          return null;
        }
      }
      if (!this.writeXattrs(node, placement)) return null;
    }
    if (type == S_IFLNK && node.data == null && !this.writeLongSymlink(node, f.linkname)) return null;
    if (reuse == null) this.inodes.push(node);
    return node;
  }

  private writeXattrs(node: Inode, placement: XattrPlacement): bool {
    if (placement.inode.length != 0) node.inodeXattrs = placement.inode;
    if (placement.block.length == 0 && node.xattrBlock == 0) return true;
    if (this.fixed) sortBlockXattrsForKernel(placement.block);
    else sortBlockXattrs(placement.block);
    node.blockXattrs = placement.block;
    let offset: i64;
    if (node.xattrBlock == 0) {
      if (!this.reserve(BLOCK_SIZE)) return false;
      offset = this.cursor;
      node.xattrBlock = <u32>(this.cursor / BLOCK_SIZE);
      node.blockCount++;
      this.cursor += BLOCK_SIZE;
    } else {
      offset = <i64>node.xattrBlock * BLOCK_SIZE; // rewritten in place
    }
    putXattrBlock(placement.block, stageWrite(<f64>offset, BLOCK_SIZE));
    return true;
  }

  /** Places `size` bytes of data at the cursor: blocks, then extent leaves (spec §5.1, §8). */
  private placeExtents(node: Inode, size: i64): bool {
    const blocks = blocksFor(size);
    if (blocks == 0) return true;
    const leaves = leafCount(<u64>blocks, this.fixed);
    if (!this.reserve((blocks + leaves) * BLOCK_SIZE)) return false;
    node.dataStart = <u32>(this.cursor / BLOCK_SIZE);
    node.dataBlocks = <u64>blocks;
    node.leafStart = node.dataStart + <u32>blocks;
    node.flags |= INODE_FLAG_EXTENTS;
    node.blockCount += <u64>blocks + leaves;
    for (let i: u32 = 0; i < leaves; i++) {
      const leafOffset = <f64>(<i64>(node.leafStart + i) * BLOCK_SIZE);
      putExtentLeaf(stageWrite(leafOffset, BLOCK_SIZE), i, node.dataStart, <u64>blocks, this.fixed);
    }
    this.cursor += (blocks + leaves) * BLOCK_SIZE;
    return true;
  }

  private writeLongSymlink(node: Inode, target: string): bool {
    const start = this.cursor;
    if (!this.placeExtents(node, target.length)) return false;
    const bytes = <i32>blocksFor(target.length) * BLOCK_SIZE;
    latin1Store(target, stageWrite(<f64>start, bytes));
    return true;
  }

  private placeFileData(node: Inode): void {
    this.dataInode = node;
    if ((node.flags & INODE_FLAG_INLINE_DATA) != 0) return;
    const start = this.cursor;
    if (this.placeExtents(node, <i64>node.size) && node.size > 0) this.dataOffset = start;
  }

  /** Directory sizes and blocks are placed at Close; see close.ts. */
  placeDirectory(node: Inode, blocks: i64): bool {
    node.size = <u64>blocks * BLOCK_SIZE;
    return this.placeExtents(node, blocks * BLOCK_SIZE);
  }

  link(target: string, newName: string): bool {
    if (!this.begin()) return false;
    if (!this.lookup(newName, false)) return false;
    const parent = this.foundParent!;
    const existing = this.foundExisting;
    const childName = this.foundName;
    if (existing != null && (existing.isDir() || existing.linkCount < 2)) {
      fail(E.EXT4_LINK_ORPHANS, newName + ": cannot orphan existing file or directory");
      return false;
    }
    if (!this.lookup(target, true)) return false;
    const oldFile = this.foundExisting!;
    if (oldFile.isDir()) {
      fail(E.EXT4_LINK_TO_DIR, newName + ": link target cannot be a directory: " + target);
      return false;
    }
    if (existing !== oldFile && oldFile.linkCount >= MAX_LINKS) {
      fail(E.EXT4_LINK_LIMIT, newName + ": link target would exceed maximum link count: " + target);
      return false;
    }
    if (existing != null) existing.linkCount--;
    oldFile.linkCount++;
    parent.children!.set(childName, oldFile);
    return true;
  }

  /** Creates missing leading directories, each copying its immediate parent (spec §2.8). */
  makeParents(name: string): bool {
    if (!this.begin()) return false;
    const clean = cleanPath(name);
    const slash = clean.lastIndexOf("/");
    if (slash < 0) return true; // the parent is the root
    if (this.isLastDir(clean, slash)) return true;
    const parts = clean.split("/");
    let node: Inode = this.root;
    let dirPath = "";
    for (let i = 0; i < parts.length - 1; i++) {
      const part = parts[i];
      dirPath += "/" + part;
      const children = node.children;
      if (children == null || !children.has(part)) {
        // The implicit directory copies its parent's attributes, not its xattrs.
        if (this.createInternal(dirPath, attributesOf(node, this.fixed)) == null) {
          wrapFailure("failed while creating parent directories");
          return false;
        }
      }
      node = node.children!.get(part);
    }
    if (node.isDir()) {
      this.lastDirPath = clean.substring(0, slash);
      this.lastDir = node;
    }
    return true;
  }

  /** The current attributes of an existing name, times decoded (spec §2.6). */
  stat(name: string): FileRecord | null {
    if (!this.begin()) return null;
    if (!this.lookup(name, true)) return null;
    const node = this.foundExisting!;
    const f = attributesOf(node, this.fixed);
    f.size = <i64>node.size;
    if (node.blockXattrs != null) {
      const list = node.blockXattrs!;
      for (let i = 0; i < list.length; i++) f.xattrs.set(list[i].fullName, list[i].value);
    }
    if (node.inodeXattrs != null) {
      const list = node.inodeXattrs!;
      for (let i = 0; i < list.length; i++) f.xattrs.set(list[i].fullName, list[i].value);
      if (f.xattrs.has("system.data")) f.xattrs.delete("system.data");
    }
    if (node.type == S_IFLNK && node.data != null) f.linkname = node.data!;
    return f;
  }
}
