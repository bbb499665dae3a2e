// POSIX ACLs in system.posix_acl_access / _default. ext4 stores them in its own compact
// format (fs/ext4/acl.h): a 4-byte header of version 1, then 8-byte entries
// {e_tag u16, e_perm u16, e_id u32} for named users and groups and 4-byte {e_tag, e_perm}
// for the others. getxattr(2) and tar's SCHILY.xattr records use the user-space format
// (include/uapi/linux/posix_acl_xattr.h): version 2, every entry 8 bytes, e_id
// 0xffffffff for the unnamed tags. hcsshim writes the user-space format on disk as it is.

import { corrupt } from './fault.js';

export const ACL_XATTR_NAMES = ['system.posix_acl_access', 'system.posix_acl_default'];
const EXT4_ACL_VERSION = 1;
const XATTR_ACL_VERSION = 2;
const ACL_USER = 0x02;
const ACL_GROUP = 0x08;
const KNOWN_TAGS = new Set([0x01, ACL_USER, 0x04, ACL_GROUP, 0x10, 0x20]);
const ACL_UNDEFINED_ID = 0xffffffff;

/** The user-space form of an on-disk ACL value; a value already in that form is returned as is. */
export function aclToXattrFormat(value: Buffer, where: string): Buffer {
  if (value.length < 4) throw corrupt(`${where}: ACL of ${value.length} bytes has no header`);
  const version = value.readUInt32LE(0);
  if (version === XATTR_ACL_VERSION) return value;
  if (version !== EXT4_ACL_VERSION) throw corrupt(`${where}: ACL version ${version} (ext4 writes 1)`);
  const entries: Buffer[] = [];
  let at = 4;
  while (at < value.length) {
    if (at + 4 > value.length) throw corrupt(`${where}: ACL entry at byte ${at} is cut off`);
    const tag = value.readUInt16LE(at);
    if (!KNOWN_TAGS.has(tag)) throw corrupt(`${where}: ACL entry at byte ${at} has unknown tag 0x${tag.toString(16)}`);
    const named = tag === ACL_USER || tag === ACL_GROUP;
    if (named && at + 8 > value.length) throw corrupt(`${where}: ACL entry at byte ${at} is cut off`);
    const entry = Buffer.alloc(8);
    entry.writeUInt16LE(tag, 0);
    entry.writeUInt16LE(value.readUInt16LE(at + 2), 2);
    entry.writeUInt32LE(named ? value.readUInt32LE(at + 4) : ACL_UNDEFINED_ID, 4);
    entries.push(entry);
    at += named ? 8 : 4;
  }
  const header = Buffer.alloc(4);
  header.writeUInt32LE(XATTR_ACL_VERSION);
  return Buffer.concat([header, ...entries]);
}
