// hcsshim tar2ext4's per-entry loop (spec §2.2): backslash conversion, implicit
// parents, OCI whiteouts, hard links, and Create with the entry's attributes. Profile
// fixed changes what an entry's record holds (fixed.ts), not the loop.

import { wrapFailure } from "./errors";
import { TarEntry } from "./tar/entry";
import { TYPE_LINK, TYPE_REG, TYPE_REGA, TYPE_SYMLINK, TYPE_CHAR, TYPE_BLOCK, TYPE_DIR, TYPE_FIFO } from "./tar/header";
import { PAX_SCHILY_XATTR } from "./tar/pax";
import { Writer, FileRecord } from "./ext4/writer";
import { S_IFMT, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, S_IFDIR, S_IFIFO } from "./ext4/constants";
import { splitRaw, joinPath } from "./ext4/path";
import { isAufsMetadata, checkEntry, timeOrMtime, putXattrs } from "./fixed";

export const OPTION_OVERLAY: i32 = 1;
export const OPTION_CONVERT_BACKSLASH: i32 = 2;
export const OPTION_INLINE_DATA: i32 = 4;
export const OPTION_FIXED: i32 = 8;

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_WHITEOUT = ".wh..wh..opq";

function typeBits(typeflag: u8): u16 {
  switch (typeflag) {
    case TYPE_REG: case TYPE_REGA: return S_IFREG;
    case TYPE_SYMLINK: return S_IFLNK;
    case TYPE_CHAR: return S_IFCHR;
    case TYPE_BLOCK: return S_IFBLK;
    case TYPE_DIR: return S_IFDIR;
    case TYPE_FIFO: return S_IFIFO;
  }
  return 0; // anything else becomes a regular file in the writer
}

/** Returns false on failure (recorded). Whiteouts and links take no data. */
export function convertEntry(w: Writer, e: TarEntry, options: i32): bool {
  let name = e.name;
  let link = e.linkname;
  if ((options & OPTION_CONVERT_BACKSLASH) != 0) {
    name = name.replaceAll("\\", "/");
    link = link.replaceAll("\\", "/");
  }
  const fixed = (options & OPTION_FIXED) != 0;
  // Skipped before anything is created for it (begin() forgets the previous entry's data).
  if (fixed && (options & OPTION_OVERLAY) != 0 && isAufsMetadata(name)) return w.begin();
  if (!w.makeParents(name)) {
    wrapFailure("failed to ensure parent directories for " + name);
    return false;
  }
  if ((options & OPTION_OVERLAY) != 0) {
    const split = splitRaw(name);
    const dir = split[0];
    const file = split[1];
    if (file.startsWith(WHITEOUT_PREFIX)) return convertWhiteout(w, dir, file);
  }
  if (e.typeflag == TYPE_LINK) return w.link(link, name);
  if (fixed && !checkEntry(e, name, e.typeflag == TYPE_SYMLINK, link)) return false;
  const f = new FileRecord();
  f.mode = (<u16>e.mode & ~S_IFMT) | typeBits(e.typeflag);
  f.uid = <u32>e.uid;
  f.gid = <u32>e.gid;
  f.size = e.size;
  f.atime = fixed ? timeOrMtime(e.atime, e.mtime) : e.atime;
  f.mtime = e.mtime;
  f.ctime = fixed ? timeOrMtime(e.ctime, e.mtime) : e.ctime;
  f.crtime = e.mtime;
  f.linkname = link;
  f.devMajor = <u32>e.devmajor;
  f.devMinor = <u32>e.devminor;
  if (fixed) {
    if (!putXattrs(f, e, name)) return false;
    return w.create(name, f) != null;
  }
  const keys = e.pax.keys;
  for (let i = 0; i < keys.length; i++) {
    if (keys[i].startsWith(PAX_SCHILY_XATTR)) f.xattrs.set(keys[i].substring(PAX_SCHILY_XATTR.length), e.pax.get(keys[i]));
  }
  return w.create(name, f) != null;
}

function convertWhiteout(w: Writer, dir: string, file: string): bool {
  if (file == OPAQUE_WHITEOUT) {
    const f = w.stat(dir);
    if (f == null) {
      wrapFailure("failed to stat parent directory of whiteout " + file);
      return false;
    }
    f.xattrs.set("trusted.overlay.opaque", "y");
    if (w.create(dir, f) == null) {
      wrapFailure("failed to create opaque dir " + file);
      return false;
    }
    return true;
  }
  const f = new FileRecord();
  f.mode = S_IFCHR;
  if (w.create(joinPath(dir, file.substring(WHITEOUT_PREFIX.length)), f) == null) {
    wrapFailure("failed to create whiteout file for " + file);
    return false;
  }
  return true;
}
