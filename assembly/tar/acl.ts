// The two forms POSIX ACLs take in tars, read into ACL entries:
// - SCHILY.xattr.system.posix_acl_access / _default (GNU tar --xattrs): the kernel's
//   user-space xattr format, a u32 version 2 then 8-byte entries (u16 tag, u16 perm,
//   u32 id; the id is 0xFFFFFFFF for the unnamed tags), all little-endian;
// - SCHILY.acl.access / SCHILY.acl.default (GNU tar --acls, star): libacl's text form,
//   "tag:qualifier:perms" entries separated by newlines or commas, "#" comments, the
//   tags spelt out or abbreviated (u, g, m, o), and star's optional numeric id after the
//   perms ("user:name:rwx:1000").
// Both return null and set `aclProblem` to why when the value cannot be read.

import { byteAt, parseDecimal } from "../bytes";
import { AclEntry, ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER } from "../ext4/acl";

const XATTR_ACL_VERSION: u32 = 2;
const UNDEFINED_ID: u32 = 0xffffffff;

export let aclProblem: string = "";

function refuse(why: string): Array<AclEntry> | null {
  aclProblem = why;
  return null;
}

/** The user-space xattr form, bytes as a latin1 string. */
export function aclFromXattr(value: string): Array<AclEntry> | null {
  const n = value.length;
  if (n < 4 || (n - 4) % 8 != 0) return refuse(n.toString() + " bytes is not a 4-byte header plus 8-byte entries");
  if (word32(value, 0) != XATTR_ACL_VERSION) return refuse("version " + word32(value, 0).toString() + ", not 2");
  const entries: Array<AclEntry> = [];
  for (let at = 4; at < n; at += 8) {
    const tag = <u16>(byteAt(value, at) | (byteAt(value, at + 1) << 8));
    const perm = <u16>(byteAt(value, at + 2) | (byteAt(value, at + 3) << 8));
    const id = word32(value, at + 4);
    entries.push(new AclEntry(tag, perm, tag == ACL_USER || tag == ACL_GROUP ? id : UNDEFINED_ID));
  }
  return entries;
}

function word32(s: string, at: i32): u32 {
  return <u32>byteAt(s, at) | (<u32>byteAt(s, at + 1) << 8) | (<u32>byteAt(s, at + 2) << 16) | (<u32>byteAt(s, at + 3) << 24);
}

/** The text form. Named users and groups must be numeric ids: the layer's names are unknown here. */
export function aclFromText(text: string): Array<AclEntry> | null {
  const entries: Array<AclEntry> = [];
  let start = 0;
  const n = text.length;
  while (start < n) {
    let end = start;
    while (end < n && byteAt(text, end) != 0x0a && byteAt(text, end) != 0x2c) end++;
    let item = text.substring(start, end);
    start = end + 1;
    const hash = item.indexOf("#");
    if (hash >= 0) item = item.substring(0, hash);
    item = item.trim();
    if (item.length == 0) continue;
    const entry = textEntry(item);
    if (entry == null) return null;
    entries.push(entry);
  }
  return entries;
}

function textEntry(item: string): AclEntry | null {
  const fields = item.split(":");
  if (fields.length < 2 || fields.length > 4) return textRefuse(item, "not tag:qualifier:perms");
  const tagName = fields[0];
  const isUser = tagName == "user" || tagName == "u";
  const isGroup = tagName == "group" || tagName == "g";
  const isMask = tagName == "mask" || tagName == "m";
  const isOther = tagName == "other" || tagName == "o";
  if (!isUser && !isGroup && !isMask && !isOther) return textRefuse(item, "unknown tag " + tagName);
  // mask and other may leave out the empty qualifier ("other:r-x").
  let qualifier = "";
  let perms: string;
  let starId = "";
  if (fields.length == 2) {
    if (isUser || isGroup) return textRefuse(item, "not tag:qualifier:perms");
    perms = fields[1];
  } else {
    qualifier = fields[1];
    perms = fields[2];
    if (fields.length == 4) starId = fields[3];
  }
  const perm = parsePerms(perms);
  if (perm < 0) return textRefuse(item, "permissions must be made of r, w, x and -");
  if (isMask || isOther) {
    if (qualifier.length != 0) return textRefuse(item, "mask and other take no qualifier");
    return new AclEntry(isMask ? ACL_MASK : ACL_OTHER, <u16>perm, UNDEFINED_ID);
  }
  if (qualifier.length == 0) return new AclEntry(isUser ? ACL_USER_OBJ : ACL_GROUP_OBJ, <u16>perm, UNDEFINED_ID);
  // star appends the numeric id to a name; a bare name cannot be resolved here.
  const idText = starId.length != 0 ? starId : qualifier;
  const id = numericId(idText);
  if (id < 0) {
    const kind = isUser ? "user" : "group";
    return textRefuse(item, "names the " + kind + " " + qualifier + ", and names cannot be resolved without the layer's user database: archive with numeric ids, or with --xattrs so the numeric system.posix_acl_* value goes along");
  }
  return new AclEntry(isUser ? ACL_USER : ACL_GROUP, <u16>perm, <u32>id);
}

function textRefuse(item: string, why: string): AclEntry | null {
  aclProblem = "entry \"" + item + "\": " + why;
  return null;
}

/** "rwx", "r-x", "rw", ...: each of r, w, x at most once, "-" as a placeholder; -1 if not. */
function parsePerms(s: string): i32 {
  if (s.length == 0 || s.length > 3) return -1;
  let perm = 0;
  for (let i = 0; i < s.length; i++) {
    const c = byteAt(s, i);
    let bit = 0;
    if (c == 0x72) bit = 4; // r
    else if (c == 0x77) bit = 2; // w
    else if (c == 0x78) bit = 1; // x
    else if (c != 0x2d) return -1; // -
    if ((perm & bit) != 0) return -1;
    perm |= bit;
  }
  return perm;
}

/** A decimal id below 2^32 - 1 (that value means "no id"), else -1. */
function numericId(s: string): i64 {
  if (s.length == 0 || s.length > 10) return -1;
  for (let i = 0; i < s.length; i++) if (byteAt(s, i) < 0x30 || byteAt(s, i) > 0x39) return -1;
  const n = parseDecimal(s);
  if (!n.ok || n.value >= <i64>UNDEFINED_ID) return -1;
  return n.value;
}
