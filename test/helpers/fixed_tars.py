#!/usr/bin/env python3
"""Tars for the profile-fixed tests, written with Python's tarfile (PAX format).

usage: fixed_tars.py OUTDIR

Writes:
  features.tar  ACLs (GNU tar --acls text with numeric ids, default ACLs, a mode the
                ACL corrects), xattrs Linux holds or not on each file type, an inode
                with 24 block xattrs, times over ext4's whole range with nanoseconds
                and atime/ctime, all directories listed (GNU tar's extraction of it is
                compared with our image)
  binary_acl.tar  ACLs as GNU tar --xattrs stores them (system.posix_acl_* values in the
                kernel's user-space format), which GNU tar's own extraction does not apply
  global.tar    PAX global headers: defaults for the entries that follow, overridden
                or deleted by extended headers, replaced by a later global header
  aufs.tar      aufs metadata (.wh..wh.plnk/, .wh..wh.aufs, .wh..wh.orph/) beside a file
  star_acl.tar  star's text ACLs: commas, names with a numeric id after the perms
  named_acl.tar a text ACL naming a user by name only (refused)
  bad_acl.tar   a binary ACL of version 1 (refused)
  big_uid.tar   an owner of 2^32 (refused)
  max_uid.tar   an owner of 2^32 - 1, (uid_t)-1 (refused)
  neg_gid.tar   a negative group id (GNU base-256; refused)
  empty_symlink.tar  a symlink whose target is empty (refused)
"""

import io
import os
import struct
import sys
import tarfile

MTIME = 1700000000


def xv(b):
    return b.decode("utf-8", "surrogateescape")


def acl_xattr(entries):
    """The kernel's user-space ACL format (version 2): (tag, perm, id) entries."""
    out = struct.pack("<I", 2)
    for tag, perm, ident in entries:
        out += struct.pack("<HHI", tag, perm, ident)
    return xv(out)


class W:
    def __init__(self, path, **kw):
        self.tf = tarfile.open(path, "w", format=tarfile.PAX_FORMAT, **kw)

    def add(self, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, mtime=MTIME,
            pax=None, link="", dev=(0, 0)):
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.mtime = mtime
        ti.linkname = link
        ti.devmajor, ti.devminor = dev
        ti.pax_headers = dict(pax or {})
        if kind == tarfile.REGTYPE:
            ti.size = len(data)
            self.tf.addfile(ti, io.BytesIO(data))
        else:
            self.tf.addfile(ti)

    def dir(self, name, **kw):
        kw.setdefault("mode", 0o755)
        self.add(name, tarfile.DIRTYPE, **kw)

    def raw(self, block):
        self.tf.fileobj.write(block)
        self.tf.offset += len(block)

    def close(self):
        self.tf.close()


def features(path):
    w = W(path)
    w.dir("acl", pax={"SCHILY.acl.access": "user::rwx\ngroup::r-x\nother::r-x\n",
                      "SCHILY.acl.default": "user::rwx\nuser:4242:rwx\ngroup::r-x\nmask::rwx\nother::r-x\n"})
    w.add("acl/text_named", data=b"t", mode=0o660, pax={
        "SCHILY.acl.access": "user::rw-\nuser:4242:rw-\ngroup::r--\ngroup:4343:r--\nmask::rw-\nother::---\n"})
    w.add("acl/mode_differs", data=b"d", mode=0o604, pax={
        "SCHILY.acl.access": "user::rw-\ngroup::r-x\nother::r--\n"})
    w.dir("x")
    many = {"SCHILY.xattr.%s.attr%02d" % (ns, i): ("%s-%02d-" % (ns, i)) * (5 + i % 7)
            for i, ns in enumerate(["user", "trusted", "security"] * 8)}
    w.add("x/many_block", data=b"many", pax=many)
    w.add("x/kinds", data=b"k", pax={"SCHILY.xattr.user.ok": "1", "SCHILY.xattr.trusted.t": "2",
                                     "SCHILY.xattr.security.s": "3", "SCHILY.xattr.system.foo": "no handler",
                                     "SCHILY.xattr.foo.bar": "no namespace", "SCHILY.xattr.user.": "no name"})
    w.add("x/symlink", tarfile.SYMTYPE, link="kinds", pax={"SCHILY.xattr.user.u": "not on symlinks",
                                                          "SCHILY.xattr.trusted.t": "kept"})
    w.add("x/fifo", tarfile.FIFOTYPE, pax={"SCHILY.xattr.user.u": "not on fifos", "SCHILY.xattr.security.s": "kept"})
    w.add("x/dev", tarfile.CHRTYPE, dev=(1, 3), mode=0o666, pax={"SCHILY.xattr.trusted.d": "kept"})
    w.dir("t")
    for name, mtime, pax in [
            ("epoch", 0, None),
            ("pre1970_ns", 0, {"mtime": "-1.25", "atime": "-86400.000000001", "ctime": "-2147483646.5"}),
            ("y1901_min", 0, {"mtime": "-2147483648"}),
            ("below_min", 0, {"mtime": "-5364662400.5"}),
            ("y2038_after", 0, {"mtime": "2147483648.999999999"}),
            ("y2106_after", 0, {"mtime": "4294967396.123456789", "atime": "8589934592.5", "ctime": "12884901888.25"}),
            ("y2446_last", 0, {"mtime": "15032385534.999999999"}),
            ("y2446_max", 0, {"mtime": "15032385535.5"}),
            ("above_max", 0, {"mtime": "16725225600.75"}),
            ("ns_digits", 0, {"mtime": "1700000000.1234567891"})]:
        w.add("t/" + name, data=b"1", mtime=mtime, pax=pax)
    w.dir("t/dir_ns", pax={"mtime": "1600000000.987654321", "atime": "-1000.5"})
    w.add("t/sym_old", tarfile.SYMTYPE, link="epoch", pax={"mtime": "-1000.25"})
    w.add("owner", data=b"o", uid=4294967294, gid=4294967293)
    w.close()


def binary_acl(path):
    w = W(path)
    w.dir("acl")
    w.add("acl/binary", data=b"b", mode=0o664, pax={
        "SCHILY.xattr.system.posix_acl_access": acl_xattr([(1, 6, 0xFFFFFFFF), (2, 4, 4242), (4, 4, 0xFFFFFFFF),
                                                         (0x10, 6, 0xFFFFFFFF), (0x20, 4, 0xFFFFFFFF)])})
    w.add("acl/minimal", data=b"m", mode=0o640, pax={
        "SCHILY.xattr.system.posix_acl_access": acl_xattr([(1, 6, 0xFFFFFFFF), (4, 4, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)])})
    w.dir("acl/sub", pax={"SCHILY.xattr.system.posix_acl_default": acl_xattr(
        [(1, 7, 0xFFFFFFFF), (4, 5, 0xFFFFFFFF), (8, 5, 4343), (0x10, 5, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)])})
    # both forms: the binary value (exact ids) wins over the text
    w.add("acl/both", data=b"2", mode=0o660, pax={
        "SCHILY.acl.access": "user::rw-\nuser:1:rw-\ngroup::rw-\nmask::rw-\nother::---\n",
        "SCHILY.xattr.system.posix_acl_access": acl_xattr([(1, 6, 0xFFFFFFFF), (2, 6, 77), (4, 6, 0xFFFFFFFF),
                                                         (0x10, 6, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)])})
    w.close()


def global_headers(path):
    w = W(path, pax_headers={"SCHILY.xattr.user.global": "g1", "mtime": "1600000000.5", "uid": "1234"})
    w.add("a", data=b"a")                                         # globals apply
    w.add("b", data=b"b", pax={"SCHILY.xattr.user.global": "own", "uid": "99"})  # overridden
    w.add("c", data=b"c", uid=7, pax={"SCHILY.xattr.user.global": "", "uid": ""})  # deleted: header fields apply
    # a second global header: replaces user.global, deletes uid, keeps mtime
    w.raw(tarfile.TarInfo.create_pax_global_header({"SCHILY.xattr.user.global": "g2", "uid": ""}))
    w.add("d", data=b"d", uid=5)
    w.close()


def aufs(path):
    w = W(path)
    w.dir(".wh..wh.plnk", mode=0o700)
    w.add(".wh..wh.plnk/1234.5678", data=b"aufs hard link target")
    w.add(".wh..wh.aufs", data=b"")
    w.dir(".wh..wh.orph", mode=0o700)
    w.add(".wh..wh.orph/x", data=b"orphan")
    w.add("./.wh..wh.plnk/9", data=b"also aufs")
    w.dir("keep")
    w.add("keep/file", data=b"kept")
    w.add("keep/.wh.gone", data=b"")
    w.close()


def star_acl(path):
    w = W(path)
    w.add("f", data=b"s", mode=0o640, pax={
        "SCHILY.acl.access": "user::rw-,user:joe:r--:4242,group::r--,group:staff:r-x:50,mask::r-x,other::---"})
    w.close()


def named_acl(path):
    w = W(path)
    w.add("f", data=b"n", pax={"SCHILY.acl.access": "user::rw-\nuser:alice:r--\ngroup::r--\nmask::r--\nother::---\n"})
    w.close()


def bad_acl(path):
    w = W(path)
    w.add("f", data=b"v", pax={"SCHILY.xattr.system.posix_acl_access": xv(struct.pack("<IHHI", 1, 1, 6, 0))})
    w.close()


def big_uid(path):
    w = W(path)
    w.add("ok", data=b"1")
    w.add("big", data=b"2", uid=2 ** 32, gid=0)
    w.close()


def max_uid(path):
    w = W(path)
    w.add("max", data=b"2", uid=2 ** 32 - 1)
    w.close()


def neg_gid(path):
    w = W(path)
    w.add("neg", data=b"1", gid=0)
    w.close()
    # Python refuses negative ids; put -1 in GNU base-256 form into the gid field.
    with open(path, "r+b") as f:
        block = bytearray(f.read(512 * 2))
        # The first header is the PAX 'x' header only when needed; find the member's.
        at = 0 if block[156:157] != b"x" else 1024
        f.seek(at)
        header = bytearray(f.read(512))
        header[116:124] = b"\xff" * 8
        header[148:156] = b" " * 8
        header[148:156] = ("%06o\0 " % sum(header)).encode()
        f.seek(at)
        f.write(header)


def empty_symlink(path):
    w = W(path)
    w.add("empty", tarfile.SYMTYPE, link="")
    w.close()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, make in [("features.tar", features), ("binary_acl.tar", binary_acl), ("global.tar", global_headers), ("aufs.tar", aufs),
                       ("star_acl.tar", star_acl), ("named_acl.tar", named_acl), ("bad_acl.tar", bad_acl),
                       ("big_uid.tar", big_uid), ("max_uid.tar", max_uid), ("neg_gid.tar", neg_gid), ("empty_symlink.tar", empty_symlink)]:
        make(os.path.join(out, name))


if __name__ == "__main__":
    main()
