// The in-memory inode record and its 256-byte on-disk encoding (spec §16).

import { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, INODE_FLAG_EXTENTS, INODE_BLOCK_BYTES } from "./constants";
import { Xattr, putInodeXattrs, INODE_XATTR_AREA_OFFSET } from "./xattr";
import { putExtentRoot } from "./extents";
import { latin1Store } from "../bytes";

const EXTRA_ISIZE: u16 = 24;

export class Inode {
  number: u32;
  mode: u16 = 0;
  uid: u32 = 0;
  gid: u32 = 0;
  linkCount: u32 = 0;
  size: u64 = 0;
  atime: u64 = 0;
  ctime: u64 = 0;
  mtime: u64 = 0;
  crtime: u64 = 0;
  devMajor: u32 = 0;
  devMinor: u32 = 0;
  flags: u32 = 0;
  blockCount: u64 = 0;
  /** First data block and data block count (regular files, long symlinks, directories). */
  dataStart: u32 = 0;
  dataBlocks: u64 = 0;
  leafStart: u32 = 0;
  /** Fast symlink target, or inline file bytes (hcsshim's inode.Data). */
  data: string | null = null;
  inodeXattrs: Array<Xattr> | null = null;
  blockXattrs: Array<Xattr> | null = null;
  xattrBlock: u32 = 0;
  /** Directory entries by name; null for non-directories. */
  children: Map<string, Inode> | null = null;

  constructor(number: u32) {
    this.number = number;
  }

  get type(): u16 {
    return this.mode & S_IFMT;
  }

  isDir(): bool {
    return this.type == S_IFDIR;
  }
}

/** Kernel "new" device encoding, stored in the second word of i_block. */
function encodeDevice(major: u32, minor: u32): u32 {
  return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

/** Writes inode `node` into a zeroed 256-byte slot at ptr (`fixed`: profile fixed's extent trees). */
export function encodeInode(node: Inode, ptr: usize, fixed: bool): void {
  store<u16>(ptr + 0x00, node.mode);
  store<u16>(ptr + 0x02, <u16>node.uid);
  store<u32>(ptr + 0x04, <u32>node.size);
  store<u32>(ptr + 0x08, <u32>node.atime);
  store<u32>(ptr + 0x0c, <u32>node.ctime);
  store<u32>(ptr + 0x10, <u32>node.mtime);
  store<u16>(ptr + 0x18, <u16>node.gid);
  store<u16>(ptr + 0x1a, <u16>node.linkCount);
  store<u32>(ptr + 0x1c, <u32>node.blockCount);
  store<u32>(ptr + 0x20, node.flags);
  const iblock = ptr + 0x28;
  const type = node.type;
  if ((node.flags & INODE_FLAG_EXTENTS) != 0) {
    putExtentRoot(iblock, node.dataStart, node.dataBlocks, node.leafStart, fixed);
  } else if (type == S_IFCHR || type == S_IFBLK) {
    store<u32>(iblock + 4, encodeDevice(node.devMajor, node.devMinor));
  } else if (node.data != null) {
    const data = node.data!;
    const head = data.length < INODE_BLOCK_BYTES ? data : data.substring(0, INODE_BLOCK_BYTES);
    latin1Store(head, iblock);
  }
  store<u32>(ptr + 0x68, node.xattrBlock);
  store<u32>(ptr + 0x6c, <u32>(node.size >> 32));
  store<u16>(ptr + 0x78, <u16>(node.uid >> 16));
  store<u16>(ptr + 0x7a, <u16>(node.gid >> 16));
  store<u16>(ptr + 0x80, EXTRA_ISIZE);
  store<u32>(ptr + 0x84, <u32>(node.ctime >> 32));
  store<u32>(ptr + 0x88, <u32>(node.mtime >> 32));
  store<u32>(ptr + 0x8c, <u32>(node.atime >> 32));
  store<u32>(ptr + 0x90, <u32>node.crtime);
  store<u32>(ptr + 0x94, <u32>(node.crtime >> 32));
  if (node.inodeXattrs != null) putInodeXattrs(node.inodeXattrs!, ptr + INODE_XATTR_AREA_OFFSET);
}

/** ext4 dirent file_type from a mode (spec §11). */
export function fileTypeOf(mode: u16): u8 {
  switch (mode & S_IFMT) {
    case S_IFREG: return 1;
    case S_IFDIR: return 2;
    case S_IFCHR: return 3;
    case S_IFBLK: return 4;
    case 0x1000: return 5;
    case 0xc000: return 6;
    case S_IFLNK: return 7;
  }
  return 0;
}

