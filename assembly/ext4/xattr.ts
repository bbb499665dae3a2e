// Extended attributes (spec §10): name compression, greedy placement between the
// in-inode area and one external block, entry layout, and the entry hash.

import { byteAt, latin1Store } from "../bytes";
import { BLOCK_SIZE, S_IFREG, S_IFDIR, S_IFLNK } from "./constants";
import { goSortSlice } from "./gosort";

export const XATTR_MAGIC: u32 = 0xea020000;
export const INODE_XATTR_AREA_OFFSET: i32 = 152; // 128 + i_extra_isize
export const INODE_XATTR_BYTES: i32 = 100; // entries and values, after the 4-byte magic
const INODE_XATTR_CAPACITY: i32 = 96; // minus the 4-byte terminator
const BLOCK_HEADER_SIZE: i32 = 32;
const BLOCK_XATTR_CAPACITY: i32 = BLOCK_SIZE - BLOCK_HEADER_SIZE - 4;
const ENTRY_HEADER_SIZE: i32 = 16;

// Prefixes in the order they are tried; the first match wins (spec §10.1).
const PREFIXES: Array<string> = ["system.posix_acl_access", "system.posix_acl_default", "system.richacl", "system.", "user.", "trusted.", "security."];
const PREFIX_INDEXES: Array<u8> = [2, 3, 8, 7, 1, 4, 6];

export class Xattr {
  fullName: string;
  index: u8 = 0;
  name: string; // compressed
  value: string; // bytes as latin1

  constructor(fullName: string, value: string) {
    this.fullName = fullName;
    this.value = value;
    this.name = fullName;
    for (let i = 0; i < PREFIXES.length; i++) {
      if (fullName.startsWith(PREFIXES[i])) {
        this.index = PREFIX_INDEXES[i];
        this.name = fullName.substring(PREFIXES[i].length);
        break;
      }
    }
  }

  get entryLength(): i32 {
    return ENTRY_HEADER_SIZE + ((this.name.length + 3) & ~3);
  }

  get valueLength(): i32 {
    return (this.value.length + 3) & ~3;
  }

  get cost(): i32 {
    return this.entryLength + this.valueLength;
  }
}

/** Greedy placement of xattrs in name order: inode area first, then the block. */
export class XattrPlacement {
  inode: Array<Xattr> = [];
  block: Array<Xattr> = [];
  inodeLeft: i32 = INODE_XATTR_CAPACITY;
  blockLeft: i32 = BLOCK_XATTR_CAPACITY;

  add(x: Xattr): bool {
    const cost = x.cost;
    if (this.inodeLeft >= cost) {
      this.inode.push(x);
      this.inodeLeft -= cost;
    } else if (this.blockLeft >= cost) {
      this.block.push(x);
      this.blockLeft -= cost;
    } else {
      return false;
    }
    return true;
  }
}

/**
 * hcsshim's block order: Go's sort.Slice under its comparator, which is not a strict
 * ordering (spec §10.5), so the exact algorithm decides the result.
 */
export function sortBlockXattrs(list: Array<Xattr>): void {
  goSortSlice<Xattr>(list, blockLess);
}

function blockLess(a: Xattr, b: Xattr): bool {
  return a.index < b.index || a.name.length < b.name.length || a.name < b.name;
}

/**
 * The order the kernel's block lookup needs (profile fixed): fs/ext4/xattr.c
 * xattr_find_entry walks block entries with sorted=1 and stops at the first entry not
 * below (name_index, name_len, name bytes), so entries must ascend by that key.
 */
export function sortBlockXattrsForKernel(list: Array<Xattr>): void {
  goSortSlice<Xattr>(list, kernelLess);
}

function kernelLess(a: Xattr, b: Xattr): bool {
  if (a.index != b.index) return a.index < b.index;
  if (a.name.length != b.name.length) return a.name.length < b.name.length;
  return a.name < b.name; // latin1 strings: code units are the unsigned bytes memcmp compares
}

/** Longest name the VFS passes to a file system (XATTR_NAME_MAX), prefix included. */
const XATTR_NAME_MAX: i32 = 255;

/**
 * Whether Linux can hold xattr `fullName` on a file of type `type` (S_IF* bits), so a
 * getxattr through the kernel returns it (profile fixed). ext4 maps only these
 * namespaces to handlers; user.* is refused on anything but regular files and
 * directories (fs/xattr.c xattr_permission); ACLs never go on symlinks and default ACLs
 * only on directories (fs/posix_acl.c); a name is 1 to 255 bytes after its namespace.
 */
export function kernelHolds(fullName: string, type: u16): bool {
  if (fullName.length > XATTR_NAME_MAX) return false;
  if (fullName == "system.posix_acl_access") return type != S_IFLNK;
  if (fullName == "system.posix_acl_default") return type == S_IFDIR;
  let prefix = "";
  if (fullName.startsWith("user.")) {
    if (type != S_IFREG && type != S_IFDIR) return false;
    prefix = "user.";
  } else if (fullName.startsWith("trusted.")) {
    prefix = "trusted.";
  } else if (fullName.startsWith("security.")) {
    prefix = "security.";
  } else {
    return false;
  }
  return fullName.length > prefix.length;
}

export function xattrHash(x: Xattr): u32 {
  let h: u32 = 0;
  for (let i = 0; i < x.name.length; i++) h = (h << 5) ^ (h >> 27) ^ <u32>byteAt(x.name, i);
  const v = x.value;
  for (let i = 0; i < v.length; i += 4) {
    let w: u32 = 0;
    for (let k = 0; k < 4 && i + k < v.length; k++) w |= <u32>byteAt(v, i + k) << (<u32>k * 8);
    h = (h << 16) ^ (h >> 16) ^ w;
  }
  return h;
}

/**
 * Lays entries from the start and values from the end of [ptr, ptr+len). Value offsets
 * are counted from ptr - offsetBase (the first entry in the inode, the block start).
 */
export function putXattrs(list: Array<Xattr>, ptr: usize, len: i32, offsetBase: i32): void {
  let valueOffset = len + offsetBase;
  let entry = ptr;
  for (let i = 0; i < list.length; i++) {
    const x = list[i];
    valueOffset -= x.valueLength;
    store<u8>(entry, <u8>x.name.length);
    store<u8>(entry + 1, x.index);
    store<u16>(entry + 2, <u16>valueOffset);
    store<u32>(entry + 4, 0);
    store<u32>(entry + 8, <u32>x.value.length);
    store<u32>(entry + 12, xattrHash(x));
    latin1Store(x.name, entry + ENTRY_HEADER_SIZE);
    latin1Store(x.value, ptr + <usize>(valueOffset - offsetBase));
    entry += <usize>x.entryLength;
  }
}

/** Writes the 104-byte in-inode area (magic + entries) at ptr. */
export function putInodeXattrs(list: Array<Xattr>, ptr: usize): void {
  store<u32>(ptr, XATTR_MAGIC);
  putXattrs(list, ptr + 4, INODE_XATTR_BYTES, 0);
}

/** Writes a whole xattr block (header + entries) at ptr, which must be zeroed. */
export function putXattrBlock(list: Array<Xattr>, ptr: usize): void {
  store<u32>(ptr, XATTR_MAGIC);
  store<u32>(ptr + 4, 1); // refcount
  store<u32>(ptr + 8, 1); // blocks
  putXattrs(list, ptr + BLOCK_HEADER_SIZE, BLOCK_SIZE - BLOCK_HEADER_SIZE, BLOCK_HEADER_SIZE);
}
