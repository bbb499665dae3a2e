#!/usr/bin/env python3
"""Compare a mounted profile-fixed image with the tar it was made from.

usage: fixed_tree.py TAR ROOT [--overlay]

Reads TAR with Python's tarfile (not our tar reader) and checks, through the kernel's
view of ROOT (a read-only mount of the image), that every entry the tar names holds what
the tar says: type, permission bits, owner, size, contents (sha256), symlink target,
device numbers, hard links (same inode), mtime, atime and ctime to the nanosecond
(atime and ctime are the mtime where the tar has none; times clamped as the kernel clamps
them), birth time (= mtime, read with stat(1) %W.%w), every xattr Linux can hold on
the entry's type, and the POSIX ACLs (read back through getxattr in the kernel's
user-space format). With --overlay, OCI whiteouts must be 0:0 character devices and
opaque markers trusted.overlay.opaque=y, and aufs metadata must be absent. Nothing else
may exist but lost+found and the parents of named entries.

Prints one line per difference and exits 1 if there are any; prints "ok N" otherwise.
"""

import hashlib
import os
import posixpath
import stat
import subprocess
import sys
import tarfile

KERNEL_MIN_S = -(2 ** 31)
KERNEL_MAX_S = 2 ** 31 - 1 + 3 * 2 ** 32
AUFS = {".wh..wh.plnk", ".wh..wh.aufs", ".wh..wh.orph"}
ACL_TAGS = {1: "user", 2: "user", 4: "group", 8: "group", 0x10: "mask", 0x20: "other"}


def clean(name):
    """hcsshim's path.Clean("/" + p)[1:], on the tar's bytes."""
    p = posixpath.normpath("/" + name.lstrip("/"))
    return p.lstrip("/")


def pax_ns(value):
    """Go's parsePAXTime in nanoseconds: at most 9 fraction digits, the sign on both parts."""
    neg = value.startswith("-")
    body = value[1:] if neg else value
    secs, _, frac = body.partition(".")
    ns = int(secs or "0") * 10 ** 9 + int((frac + "000000000")[:9])
    return -ns if neg else ns


def clamp(ns):
    """The kernel's timestamp_truncate: seconds into ext4's range, no nanoseconds at its ends."""
    secs, frac = divmod(ns, 10 ** 9)
    if secs <= KERNEL_MIN_S or secs >= KERNEL_MAX_S:
        return min(max(secs, KERNEL_MIN_S), KERNEL_MAX_S) * 10 ** 9
    return ns


def kernel_holds(name, kind):
    if len(name) > 255:
        return False
    for prefix in ("user.", "trusted.", "security."):
        if name.startswith(prefix) and len(name) > len(prefix):
            return prefix != "user." or kind in ("reg", "dir")
    return False


def acl_from_xattr(raw):
    """The kernel's user-space form: version 2, then (tag, perm, id) entries."""
    out = []
    for at in range(4, len(raw), 8):
        tag = int.from_bytes(raw[at:at + 2], "little")
        perm = int.from_bytes(raw[at + 2:at + 4], "little")
        ident = int.from_bytes(raw[at + 4:at + 8], "little")
        out.append((tag, ident if tag in (2, 8) else -1, perm))
    return sorted(out)


def acl_from_text(text):
    out = []
    for item in text.replace(",", "\n").split("\n"):
        item = item.split("#")[0].strip()
        if not item:
            continue
        f = item.split(":")
        tag = {"user": 1, "u": 1, "group": 4, "g": 4, "mask": 0x10, "m": 0x10, "other": 0x20, "o": 0x20}[f[0]]
        qual, perms = (f[1], f[2]) if len(f) >= 3 else ("", f[1])
        if len(f) == 4:
            qual = f[3]
        perm = (4 if "r" in perms else 0) | (2 if "w" in perms else 0) | (1 if "x" in perms else 0)
        ident = -1
        if qual:
            tag *= 2
            ident = int(qual)
        out.append((tag, ident, perm))
    return sorted(out)


def acl_text(entries):
    return ",".join("%s:%s:%s" % (ACL_TAGS[t], "" if i < 0 else i,
                                  "".join(c if p & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1))))
                    for t, i, p in entries)


def acl_mode_bits(entries):
    bits = {t: p for t, i, p in entries if i < 0}
    group = bits.get(0x10, bits.get(4, 0))
    return (bits.get(1, 0) << 6) | (group << 3) | bits.get(0x20, 0)


def kind_of(m):
    if m.isdir():
        return "dir"
    if m.issym():
        return "lnk"
    if m.ischr():
        return "chr"
    if m.isblk():
        return "blk"
    if m.isfifo():
        return "fifo"
    if m.islnk():
        return "hardlink"
    return "reg"


def kind_of_stat(st):
    for test, kind in ((stat.S_ISDIR, "dir"), (stat.S_ISLNK, "lnk"), (stat.S_ISCHR, "chr"),
                       (stat.S_ISBLK, "blk"), (stat.S_ISFIFO, "fifo"), (stat.S_ISREG, "reg")):
        if test(st.st_mode):
            return kind
    return "other"


def expected_tree(tar_path, overlay):
    tree = {}
    opaque = set()
    if os.path.getsize(tar_path) == 0:  # an empty input is an empty layer (tarfile refuses it)
        return None, tree, opaque
    tf = tarfile.open(tar_path)
    while True:
        m = tf.next()
        if m is None:
            break
        records = dict(tf.pax_headers)  # the global records in force
        records.update(m.pax_headers)
        name = clean(m.name)
        if overlay:
            if name.split("/")[0] in AUFS:
                continue
            base = posixpath.basename(m.name)
            parent = clean(posixpath.dirname(m.name))
            if base == ".wh..wh..opq":
                opaque.add(parent)
                continue
            if base.startswith(".wh."):
                tree[clean(posixpath.join(parent, base[4:]))] = {"kind": "whiteout"}
                continue
        e = {"kind": kind_of(m), "records": records, "member": m}
        old = tree.get(name)
        if e["kind"] == "dir" and old is not None and old["kind"] == "dir":
            # A directory entry over a directory adds to its xattrs, as extraction does.
            merged = {k: v for k, v in old["records"].items() if k.startswith(("SCHILY.xattr.", "SCHILY.acl."))}
            merged.update(records)
            e["records"] = merged
        if e["kind"] == "hardlink":
            e["target"] = clean(m.linkname)
        tree[name] = e
    return tf, tree, opaque


def read_xattrs(path):
    out = {}
    for n in os.listxattr(path, follow_symlinks=False):
        out[n] = os.getxattr(path, n, follow_symlinks=False)
    return out


def main():
    tar_path, root = sys.argv[1], sys.argv[2]
    overlay = "--overlay" in sys.argv[3:]
    tf, tree, opaque = expected_tree(tar_path, overlay)
    problems = []

    def bad(name, what):
        problems.append("%s: %s" % (name or ".", what))

    birth = {}
    names = [n for n, e in tree.items() if e["kind"] not in ("whiteout", "hardlink")]
    for i in range(0, len(names), 500):
        chunk = [os.path.join(root, n) if n else root for n in names[i:i + 500]]
        out = subprocess.run(["stat", "--printf", "%W %w\\0"] + chunk, check=True, capture_output=True).stdout
        for n, line in zip(names[i:i + 500], out.split(b"\0")):
            # %W is the whole seconds (floor), %w shows the nanoseconds; "-" when unknown.
            secs, _, human = line.decode().partition(" ")
            if human == "-":
                birth[n] = None
                continue
            frac = human.split(" ")[1].partition(".")[2]
            birth[n] = int(secs) * 10 ** 9 + int((frac + "0" * 9)[:9])

    for name, e in tree.items():
        path = os.path.join(root, name) if name else root
        try:
            st = os.lstat(path)
        except OSError as err:
            bad(name, "missing (%s)" % err.strerror)
            continue
        kind = e["kind"]
        if kind == "whiteout":
            if not stat.S_ISCHR(st.st_mode) or st.st_rdev != 0 or stat.S_IMODE(st.st_mode) != 0:
                bad(name, "not a 0:0 whiteout device with mode 0000 (mode %o rdev %d)" % (st.st_mode, st.st_rdev))
            continue
        if kind == "hardlink":
            target = tree.get(e["target"])
            tst = os.lstat(os.path.join(root, e["target"]))
            if st.st_ino != tst.st_ino:
                bad(name, "not a hard link of %s" % e["target"])
            continue
        m, records = e["member"], e["records"]
        if kind_of_stat(st) != kind:
            bad(name, "type %s, tar has %s" % (kind_of_stat(st), kind))
            continue
        acls = {}
        for which in ("access", "default"):
            raw = records.get("SCHILY.xattr.system.posix_acl_" + which)
            if raw is not None:
                acls[which] = acl_from_xattr(raw.encode("utf-8", "surrogateescape"))
            elif "SCHILY.acl." + which in records:
                acls[which] = acl_from_text(records["SCHILY.acl." + which])
        want_mode = m.mode & 0o7777
        if "access" in acls and acls["access"]:
            want_mode = (want_mode & ~0o777) | acl_mode_bits(acls["access"])
        if kind != "lnk" and stat.S_IMODE(st.st_mode) != want_mode:
            bad(name, "mode %04o, tar has %04o" % (stat.S_IMODE(st.st_mode), want_mode))
        if (st.st_uid, st.st_gid) != (m.uid, m.gid):
            bad(name, "owner %d:%d, tar has %d:%d" % (st.st_uid, st.st_gid, m.uid, m.gid))
        mtime = pax_ns(records["mtime"]) if "mtime" in records else int(m.mtime) * 10 ** 9
        want = {"mtime": clamp(mtime)}
        for t in ("atime", "ctime"):
            want[t] = clamp(pax_ns(records[t])) if t in records else want["mtime"]
        for t, ns in want.items():
            got = getattr(st, "st_%s_ns" % t)
            if got != ns:
                bad(name, "%s %d ns, tar has %d ns" % (t, got, ns))
        if birth.get(name) != want["mtime"]:
            bad(name, "birth time %s ns, tar's mtime is %d ns" % (birth.get(name), want["mtime"]))
        if kind == "reg":
            if st.st_size != m.size:
                bad(name, "size %d, tar has %d" % (st.st_size, m.size))
            else:
                h = hashlib.sha256()
                with open(path, "rb") as f, tf.extractfile(m) as src:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                    w = hashlib.sha256()
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        w.update(chunk)
                if h.digest() != w.digest():
                    bad(name, "contents differ from the tar's")
        elif kind == "lnk":
            if os.readlink(os.fsencode(path)) != os.fsencode(m.linkname):
                bad(name, "symlink target differs")
        elif kind in ("chr", "blk"):
            if (os.major(st.st_rdev), os.minor(st.st_rdev)) != (m.devmajor, m.devminor):
                bad(name, "device %d:%d, tar has %d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev), m.devmajor, m.devminor))
        want_x = {}
        for k, v in records.items():
            if k.startswith("SCHILY.xattr.") and kernel_holds(k[13:], kind):
                want_x[k[13:]] = v.encode("utf-8", "surrogateescape")
        if overlay and name in opaque:
            want_x["trusted.overlay.opaque"] = b"y"
        got_x = read_xattrs(path)
        got_acls = {}
        for which in ("access", "default"):
            raw = got_x.pop("system.posix_acl_" + which, None)
            if raw is not None:
                got_acls[which] = acl_from_xattr(raw)
        if got_x != want_x:
            bad(name, "xattrs %r, tar has %r" % (sorted(got_x), sorted(want_x)))
        want_acls = {}
        if kind != "lnk" and acls.get("access") and len(acls["access"]) > 3:
            want_acls["access"] = acls["access"]
        if kind == "dir" and acls.get("default"):
            want_acls["default"] = acls["default"]
        for which in ("access", "default"):
            if got_acls.get(which) != want_acls.get(which):
                bad(name, "%s ACL %s, tar has %s" % (which, acl_text(got_acls.get(which, [])), acl_text(want_acls.get(which, []))))

    allowed = set(tree) | {"lost+found"}
    for name in list(tree):
        while name:
            name = posixpath.dirname(name)
            allowed.add(name)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, n), root)
            if rel not in allowed:
                bad(rel, "present, but the tar has no such entry")
    for p in problems[:200]:
        print(p)
    if problems:
        print("%d differences" % len(problems))
        sys.exit(1)
    print("ok %d" % len(tree))


if __name__ == "__main__":
    main()
