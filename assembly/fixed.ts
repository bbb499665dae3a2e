// Profile fixed's reading of a tar entry, where hcsshim's stores what Linux cannot
// read back: owners that do not fit (truncated), empty symlinks, absent access and change
// times (stored as 1970), ACLs in the user-space format, xattrs no kernel handler serves,
// and aufs metadata. The layout rules (Create, Link, MakeParents) stay hcsshim's.

import * as E from "./errors";
import { fail } from "./errors";
import { TarEntry } from "./tar/entry";
import { TarTime } from "./tar/header";
import { PAX_SCHILY_XATTR } from "./tar/pax";
import { aclFromXattr, aclFromText, aclProblem } from "./tar/acl";
import { AclEntry, normalizeAcl, isModeEquivalent, aclModeBits, aclToDisk } from "./ext4/acl";
import { kernelHolds } from "./ext4/xattr";
import { FileRecord } from "./ext4/writer";
import { cleanPath } from "./ext4/path";
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK } from "./ext4/constants";

const ACL_ACCESS_XATTR = "system.posix_acl_access";
const ACL_DEFAULT_XATTR = "system.posix_acl_default";
const ACL_ACCESS_TEXT = "SCHILY.acl.access";
const ACL_DEFAULT_TEXT = "SCHILY.acl.default";
/** ext4 holds 32 bits, and Linux reserves 2^32 - 1 as (uid_t)-1, "no owner" (chown's "leave it"). */
const MAX_ID: i64 = 0xfffffffe;

/** Xattrs left out because Linux cannot hold them (reported by the host as a warning). */
export let skippedXattrs: i32 = 0;
/** The first one, as "<entry>: <xattr name>". */
export let firstSkippedXattr: string = "";

function skip(entry: string, xattr: string): void {
  if (skippedXattrs == 0) firstSkippedXattr = entry + ": " + xattr;
  skippedXattrs++;
}

/**
 * aufs's own bookkeeping at the top of a layer (moby pkg/archive skips it too): the
 * hard-link directory .wh..wh.plnk, the .wh..wh.aufs marker, the orphan directory
 * .wh..wh.orph, and everything inside them.
 */
export function isAufsMetadata(name: string): bool {
  const clean = cleanPath(name);
  const slash = clean.indexOf("/");
  const first = slash < 0 ? clean : clean.substring(0, slash);
  return first == ".wh..wh.plnk" || first == ".wh..wh.aufs" || first == ".wh..wh.orph";
}

/** Refuses what ext4 and Linux cannot hold as given: owners of 2^32 - 1 or more (or negative), empty symlinks. */
export function checkEntry(e: TarEntry, name: string, isSymlink: bool, link: string): bool {
  if (!idFits(e.uid, "uid", name) || !idFits(e.gid, "gid", name)) return false;
  if (isSymlink && link.length == 0) {
    fail(E.EXT4_EMPTY_SYMLINK, name + ": symlink with an empty target (ext4 and Linux need at least one byte)");
    return false;
  }
  return true;
}

function idFits(id: i64, what: string, name: string): bool {
  if (id >= 0 && id <= MAX_ID) return true;
  fail(E.EXT4_OWNER_OUT_OF_RANGE, name + ": " + what + " " + id.toString() + " is out of range: Linux owners are 0 to 4294967294 (ext4 holds 32 bits, and 4294967295 is (uid_t)-1, no owner)");
  return false;
}

/** Access and change times the tar does not give are its modification time (as moby's extraction does for atime). */
export function timeOrMtime(t: TarTime, mtime: TarTime): TarTime {
  return t.isAbsent() ? mtime : t;
}

/**
 * Puts the entry's xattrs and ACLs on `f` (whose mode holds the file type): every
 * SCHILY.xattr.* Linux can hold on that type, and the POSIX ACLs, from their xattr
 * records (preferred: exact ids) or their SCHILY.acl.* text, in ext4's on-disk format.
 * An access ACL sets the permission bits as the kernel does when it is set, and is
 * stored only when the mode alone cannot express it. False on a malformed ACL.
 */
export function putXattrs(f: FileRecord, e: TarEntry, name: string): bool {
  let type = f.mode & S_IFMT;
  if (type == 0) type = S_IFREG;
  const records = e.pax;
  const keys = records.keys;
  let accessSource = "";
  let defaultSource = "";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (!key.startsWith(PAX_SCHILY_XATTR)) continue;
    const xattr = key.substring(PAX_SCHILY_XATTR.length);
    if (xattr == ACL_ACCESS_XATTR) accessSource = key;
    else if (xattr == ACL_DEFAULT_XATTR) defaultSource = key;
    else if (kernelHolds(xattr, type)) f.xattrs.set(xattr, records.get(key));
    else skip(name, xattr);
  }
  if (accessSource.length == 0 && records.has(ACL_ACCESS_TEXT)) accessSource = ACL_ACCESS_TEXT;
  if (defaultSource.length == 0 && records.has(ACL_DEFAULT_TEXT)) defaultSource = ACL_DEFAULT_TEXT;
  if (accessSource.length != 0) {
    if (!kernelHolds(ACL_ACCESS_XATTR, type)) {
      skip(name, ACL_ACCESS_XATTR);
    } else {
      const entries = readAcl(records.get(accessSource), accessSource, name);
      if (entries == null) return false;
      if (entries.length != 0) {
        f.mode = (f.mode & ~<u16>0o777) | aclModeBits(entries);
        if (!isModeEquivalent(entries)) f.xattrs.set(ACL_ACCESS_XATTR, aclToDisk(entries));
      }
    }
  }
  if (defaultSource.length != 0) {
    if (!kernelHolds(ACL_DEFAULT_XATTR, type)) {
      skip(name, ACL_DEFAULT_XATTR);
    } else {
      const entries = readAcl(records.get(defaultSource), defaultSource, name);
      if (entries == null) return false;
      if (entries.length != 0) f.xattrs.set(ACL_DEFAULT_XATTR, aclToDisk(entries));
    }
  }
  return true;
}

/** Parsed, sorted and checked entries (empty for an empty text); null with the failure recorded. */
function readAcl(value: string, key: string, name: string): Array<AclEntry> | null {
  const isText = key == ACL_ACCESS_TEXT || key == ACL_DEFAULT_TEXT;
  const entries = isText ? aclFromText(value) : aclFromXattr(value);
  let problem = entries == null ? aclProblem : "";
  if (entries != null && entries.length != 0) problem = normalizeAcl(entries);
  if (problem.length != 0) {
    fail(E.EXT4_INVALID_ACL, name + ": invalid POSIX ACL in " + key + ": " + problem);
    return null;
  }
  return entries;
}
