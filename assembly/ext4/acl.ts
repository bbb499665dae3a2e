// POSIX ACLs in ext4's on-disk format (fs/ext4/acl.c ext4_acl_to_disk): a 4-byte
// header holding version 1, then one entry per ACL entry, short (tag, perm: 4 bytes)
// for USER_OBJ, GROUP_OBJ, MASK and OTHER and long (tag, perm, id: 8 bytes) for the
// named USER and GROUP entries. Stored as the xattrs system.posix_acl_access (index 2)
// and system.posix_acl_default (index 3), both with an empty name.

import { latin1FromMemory } from "../bytes";

export const ACL_USER_OBJ: u16 = 0x01;
export const ACL_USER: u16 = 0x02;
export const ACL_GROUP_OBJ: u16 = 0x04;
export const ACL_GROUP: u16 = 0x08;
export const ACL_MASK: u16 = 0x10;
export const ACL_OTHER: u16 = 0x20;
export const ACL_PERMS: u16 = 7; // read 4, write 2, execute 1

const EXT4_ACL_VERSION: u32 = 1;

export class AclEntry {
  tag: u16;
  perm: u16;
  id: u32; // only for ACL_USER and ACL_GROUP
  constructor(tag: u16, perm: u16, id: u32) {
    this.tag = tag;
    this.perm = perm;
    this.id = id;
  }
}

function isNamed(tag: u16): bool {
  return tag == ACL_USER || tag == ACL_GROUP;
}

/**
 * Sorts entries into the kernel's order (tags ascending, ids ascending within the named
 * tags) and checks what posix_acl_valid checks: one USER_OBJ, GROUP_OBJ and OTHER, a MASK
 * when there are named entries, no repeated named id, permissions within rwx. Returns
 * "" when valid, else why not.
 */
export function normalizeAcl(entries: Array<AclEntry>): string {
  entries.sort((a: AclEntry, b: AclEntry): i32 => {
    if (a.tag != b.tag) return a.tag < b.tag ? -1 : 1;
    if (a.id != b.id) return a.id < b.id ? -1 : 1;
    return 0;
  });
  let userObj = 0, groupObj = 0, mask = 0, other = 0, named = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if ((e.perm & ~ACL_PERMS) != 0) return "permissions beyond rwx";
    switch (e.tag) {
      case ACL_USER_OBJ: userObj++; break;
      case ACL_GROUP_OBJ: groupObj++; break;
      case ACL_MASK: mask++; break;
      case ACL_OTHER: other++; break;
      case ACL_USER: case ACL_GROUP:
        named++;
        if (i > 0 && entries[i - 1].tag == e.tag && entries[i - 1].id == e.id) return "the same " + (e.tag == ACL_USER ? "user" : "group") + " twice";
        break;
      default: return "unknown tag " + e.tag.toString();
    }
  }
  if (userObj != 1 || groupObj != 1 || other != 1) return "it needs exactly one user::, group:: and other:: entry";
  if (mask > 1) return "more than one mask:: entry";
  if (named > 0 && mask == 0) return "named entries need a mask:: entry";
  return "";
}

/** Only the three entries the file mode already holds: the kernel stores no xattr for it. */
export function isModeEquivalent(entries: Array<AclEntry>): bool {
  return entries.length == 3;
}

/**
 * The permission bits an access ACL gives the file mode, as the kernel's
 * posix_acl_update_mode does: owner from USER_OBJ, group from MASK (or GROUP_OBJ when
 * there is no mask), others from OTHER.
 */
export function aclModeBits(entries: Array<AclEntry>): u16 {
  let owner: u16 = 0, group: u16 = 0, groupObj: u16 = 0, other: u16 = 0;
  let hasMask = false;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.tag == ACL_USER_OBJ) owner = e.perm;
    else if (e.tag == ACL_GROUP_OBJ) groupObj = e.perm;
    else if (e.tag == ACL_MASK) { group = e.perm; hasMask = true; }
    else if (e.tag == ACL_OTHER) other = e.perm;
  }
  if (!hasMask) group = groupObj;
  return (owner << 6) | (group << 3) | other;
}

/** The on-disk bytes (as a latin1 string, the xattr value form) of valid, sorted entries. */
export function aclToDisk(entries: Array<AclEntry>): string {
  let size = 4;
  for (let i = 0; i < entries.length; i++) size += isNamed(entries[i].tag) ? 8 : 4;
  const bytes = new Uint8Array(size);
  const p = bytes.dataStart;
  store<u32>(p, EXT4_ACL_VERSION);
  let at: usize = 4;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    store<u16>(p + at, e.tag);
    store<u16>(p + at + 2, e.perm);
    at += 4;
    if (isNamed(e.tag)) {
      store<u32>(p + at, e.id);
      at += 4;
    }
  }
  return latin1FromMemory(p, size);
}
