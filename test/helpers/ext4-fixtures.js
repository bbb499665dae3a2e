// ext4 images made by the real tools, and the two views the reader tests compare: what
// our Ext4Reader reads, and what the Linux kernel shows through a read-only loop mount
// (lstat, file contents, readlink, getfattr). Images come from `mke2fs -d DIR` (e2fsprogs
// writes them) or from files written through a read-write kernel mount (the kernel writes
// them: htree directories, unwritten extents, deep extent trees, inline data, ea_inodes).
// No side effects on import: node --test runs every .js file under test/ as a test file.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hasTool, toolPath } from './corpus.js';
import { Ext4Reader } from '../../dist/host/ext4/reader.js';
import { openImageSource } from '../../dist/host/ext4/source.js';

/** Runs a tool, throwing with its stderr when it fails. */
export function run(tool, args, options = {}) {
  const r = spawnSync(toolPath(tool) ?? tool, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...options });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** Why mke2fs images cannot be made here, or null. */
export function mkfsUnavailable() {
  for (const tool of ['mke2fs', 'debugfs']) if (!hasTool(tool)) return `${tool} is not installed (Debian e2fsprogs)`;
  return null;
}

let mountProbe;
/** Why read-only loop mounts cannot be used here, or null (probed once with a fresh image). */
export function mountUnavailable(work) {
  if (mountProbe !== undefined) return mountProbe;
  mountProbe = mkfsUnavailable();
  if (mountProbe) return mountProbe;
  if (process.platform !== 'linux') return (mountProbe = `loop mounts need Linux (this is ${process.platform})`);
  if (process.getuid?.() !== 0) return (mountProbe = 'loop mounts need root');
  if (!hasTool('getfattr') || !hasTool('setfattr')) return (mountProbe = 'getfattr/setfattr are not installed (Debian attr)');
  if (!hasTool('setfacl')) return (mountProbe = 'setfacl is not installed (Debian acl)');
  const image = path.join(work, 'probe.img');
  mkfs(image, 8, ['-t', 'ext4']);
  try {
    withMount(image, () => {});
    mountProbe = null;
  } catch (err) {
    mountProbe = `mount -o loop does not work here: ${err.message.split('\n')[0]}`;
  }
  fs.rmSync(image, { force: true });
  return mountProbe;
}

/**
 * mke2fs -F -q ARGS [-d DIR] IMAGE SIZE(MiB) on a fresh sparse file; `fakeTime` (seconds)
 * pins the times mke2fs itself sets (E2FSPROGS_FAKE_TIME), so two runs can be compared.
 */
export function mkfs(image, sizeMiB, args, dir, fakeTime) {
  fs.rmSync(image, { force: true });
  fs.writeFileSync(image, '');
  fs.truncateSync(image, sizeMiB * 1024 * 1024);
  const env = fakeTime === undefined ? process.env : { ...process.env, E2FSPROGS_FAKE_TIME: String(fakeTime) };
  run('mke2fs', ['-F', '-q', ...args, ...(dir ? ['-d', dir] : []), image], { env });
}

/**
 * Mounts `image` (loop; read-only unless `rw`), runs `use(mountPoint)`, and always
 * unmounts, so no mount or loop device outlives the call, even when `use` throws.
 */
export function withMount(image, use, { rw = false } = {}) {
  const mnt = fs.mkdtempSync(path.join(path.dirname(image), 'mnt-'));
  run('mount', ['-t', 'ext4', '-o', rw ? 'loop' : 'loop,ro', image, mnt]);
  try {
    return use(mnt);
  } finally {
    const u = spawnSync(toolPath('umount'), [mnt], { encoding: 'utf8' });
    if (u.status !== 0) spawnSync(toolPath('umount'), ['-l', mnt], { encoding: 'utf8' });
    fs.rmdirSync(mnt);
  }
}

/** Loop devices still attached to `image` (must be none after every test). */
export function loopDevicesOf(image) {
  return run('losetup', ['-j', image]).trim();
}

const sha256 = () => createHash('sha256');

// ------------------------------------------------------------ the source tree ----

/** Bytes that are the same on every run (tests must not depend on chance). */
export function patternBytes(length, seed) {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Writes the tree every image is made of: files of edge sizes, 400 names in one directory,
 * symlinks of 1 to 1000 bytes, devices, a fifo, a socket, hard links, xattrs (user,
 * trusted, security; one too big for the inode), sparse files, a deep chain of directories,
 * owners and times before 1970 and after 2038, POSIX ACLs, a name that is not UTF-8. With `huge`, a
 * sparse file over 4 GiB.
 */
export function makeTree(root, { huge = false } = {}) {
  const p = (...parts) => path.join(root, ...parts);
  fs.mkdirSync(root, { recursive: true });
  for (const size of [0, 1, 59, 60, 61, 4095, 4096, 4097, 100_000, 3 * 1024 * 1024 + 5]) {
    fs.writeFileSync(p(`size_${size}`), patternBytes(size, size + 1));
  }
  fs.mkdirSync(p('wide'));
  for (let i = 0; i < 400; i++) fs.writeFileSync(p('wide', `entry_with_a_longish_name_${String(i).padStart(4, '0')}`), `${i}\n`);
  fs.mkdirSync(p('links'));
  for (const length of [1, 30, 59, 60, 61, 300, 1000]) fs.symlinkSync('t'.repeat(length - 1) + 'x', p('links', `len_${length}`));
  fs.symlinkSync('../size_1', p('links', 'relative'));
  fs.writeFileSync(p('links', 'target'), 'hard\n');
  fs.linkSync(p('links', 'target'), p('links', 'hard1'));
  fs.linkSync(p('links', 'target'), p('wide', 'hard2'));
  fs.mkdirSync(p('dev'));
  for (const [name, type, major, minor] of [['null', 'c', 1, 3], ['sda1', 'b', 8, 1], ['big', 'c', 259, 65539], ['tty', 'c', 5, 0]]) {
    run('mknod', [p('dev', name), type, String(major), String(minor)]);
  }
  run('mkfifo', [p('dev', 'fifo')]);
  run('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', p('dev', 'sock')]);
  fs.mkdirSync(p('x'));
  fs.writeFileSync(p('x', 'attrs'), 'x\n');
  run('setfattr', ['-n', 'user.small', '-v', 'v', p('x', 'attrs')]);
  run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', p('x', 'attrs')]);
  run('setfattr', ['-n', 'security.capability', '-v', '0x0100000200000000000000000000000000000000', p('x', 'attrs')]);
  run('setfacl', ['-m', 'u:1234:rwx,g:5678:r-x,m::rwx', p('x', 'attrs')]);
  fs.mkdirSync(p('x', 'acldir'));
  run('setfacl', ['-d', '-m', 'u:42:rw-,o::r--', p('x', 'acldir')]);
  fs.writeFileSync(p('x', 'big'), 'b\n');
  run('setfattr', ['-n', 'user.big', '-v', '0x' + patternBytes(900, 7).toString('hex'), p('x', 'big')]);
  run('setfattr', ['-n', 'user.empty', p('x', 'big')]);
  const sparse = fs.openSync(p('sparse'), 'w');
  for (const at of [0, 1 << 20, 10 << 20]) fs.writeSync(sparse, patternBytes(5000, at + 3), 0, 5000, at);
  fs.ftruncateSync(sparse, 16 << 20);
  fs.closeSync(sparse);
  if (huge) {
    const fd = fs.openSync(p('huge'), 'w');
    fs.writeSync(fd, Buffer.from('start'), 0, 5, 0);
    fs.writeSync(fd, patternBytes(9000, 11), 0, 9000, 2 ** 32 + 4096);
    fs.ftruncateSync(fd, 2 ** 32 + 3 * 4096 + 123);
    fs.closeSync(fd);
  }
  let deep = p('deep');
  for (let i = 0; i < 40; i++) deep = path.join(deep, `d${i}`);
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'leaf'), 'bottom\n');
  fs.writeFileSync(Buffer.from(p('name_') + '\xff\xfe', 'latin1'), 'latin1 name\n');
  fs.writeFileSync(p('owned'), 'o\n');
  fs.chownSync(p('owned'), 100_000, 70_000);
  fs.chmodSync(p('owned'), 0o4751);
  fs.writeFileSync(p('old'), 'old\n');
  fs.utimesSync(p('old'), -1e8, -123456789.5);
  fs.writeFileSync(p('future'), 'future\n');
  fs.utimesSync(p('future'), 2 ** 31 + 1000, 2 ** 32 + 77.25);
}

/**
 * Writes through a read-write kernel mount what only the kernel makes: a directory of
 * 1500 names (an htree), unwritten extents (fallocate), a file punched into 1500 extents
 * (an extent tree of depth 2), small files and directories (inline with inline_data), ACLs,
 * deleted inodes, and with `eaInode` a 10000-byte xattr value (an ea_inode).
 */
export function populateThroughKernel(mnt, { eaInode = false } = {}) {
  const p = (...parts) => path.join(mnt, ...parts);
  fs.mkdirSync(p('htree'));
  for (let i = 0; i < 1500; i++) fs.writeFileSync(p('htree', `file_number_${i}_with_padding_to_fill_blocks`), `${i}`);
  run('fallocate', ['-l', '1M', p('unwritten')]);
  run('fallocate', ['-l', '2M', p('mixed')]);
  const fd = fs.openSync(p('mixed'), 'r+');
  fs.writeSync(fd, patternBytes(8192, 5), 0, 8192, 1 << 20);
  fs.closeSync(fd);
  run('fallocate', ['-l', '64K', '-o', '3M', p('mixed')]);
  fs.writeFileSync(p('fragmented'), patternBytes(3000 * 4096, 9));
  run('python3', ['-c', PUNCH_EVERY_OTHER_BLOCK, p('fragmented'), '3000']);
  fs.mkdirSync(p('small'));
  for (const size of [0, 10, 59, 60, 100, 150]) fs.writeFileSync(p('small', `f${size}`), patternBytes(size, size + 100));
  fs.mkdirSync(p('small', 'subdir'));
  fs.writeFileSync(p('small', 'subdir', 'a'), 'a');
  fs.symlinkSync('s'.repeat(70), p('small', 'link70'));
  for (let i = 0; i < 20; i++) fs.writeFileSync(p(`gone_${i}`), patternBytes(5000, i));
  for (let i = 0; i < 20; i += 2) fs.unlinkSync(p(`gone_${i}`));
  run('setfattr', ['-n', 'user.kernel', '-v', 'k', p('small', 'f10')]);
  run('setfacl', ['-m', 'u:1000:r--,g:2000:rw-', p('small', 'f60')]);
  run('setfacl', ['-d', '-m', 'g:3000:r-x', p('small', 'subdir')]);
  if (eaInode) {
    fs.writeFileSync(p('eainode'), 'e');
    run('setfattr', ['-n', 'user.huge_value', '-v', '0x' + patternBytes(10000, 13).toString('hex'), p('eainode')]);
  }
  run('sync', []);
}

// Punches every other 4 KiB block of a file (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE), one process.
const PUNCH_EVERY_OTHER_BLOCK = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
fd = os.open(sys.argv[1], os.O_RDWR)
for i in range(1, int(sys.argv[2]), 2):
    if libc.fallocate(fd, 3, i * 4096, 4096) != 0:
        raise OSError(ctypes.get_errno(), 'fallocate')
os.fsync(fd)
os.close(fd)
`;

// ------------------------------------------------------------ the two views ----

/** What the kernel shows: every path below `mnt` (latin1 keys), walked with lstat. */
export function kernelView(mnt) {
  const view = new Map();
  const xattrs = kernelXattrs(mnt);
  const visit = (dirBytes, rel) => {
    for (const name of fs.readdirSync(dirBytes, { encoding: 'buffer' })) {
      const full = Buffer.concat([dirBytes, Buffer.from('/'), name]);
      const key = rel ? `${rel}/${name.toString('latin1')}` : name.toString('latin1');
      const st = fs.lstatSync(full, { bigint: true });
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'chr' : st.isBlockDevice() ? 'blk' : st.isFIFO() ? 'fifo' : 'sock';
      const dev = Number(st.rdev);
      view.set(key, {
        ino: Number(st.ino), type, mode: Number(st.mode), nlink: Number(st.nlink), uid: Number(st.uid), gid: Number(st.gid),
        size: type === 'dir' ? undefined : Number(st.size),
        mtime: st.mtimeNs, ctime: st.ctimeNs, atime: st.atimeNs, crtime: st.birthtimeNs,
        device: type === 'chr' || type === 'blk' ? { major: (dev >>> 8) & 0xfff, minor: (dev & 0xff) | ((dev >>> 12) & 0xfff00) } : undefined,
        digest: type === 'file' ? digestFile(full) : undefined,
        target: type === 'symlink' ? fs.readlinkSync(full, { encoding: 'buffer' }).toString('latin1') : undefined,
        xattrs: xattrs.get(key) ?? {},
      });
      if (type === 'dir') visit(full, key);
    }
  };
  visit(Buffer.from(mnt), '');
  return view;
}

/** SHA-256 of a file read in 4 MiB pieces (files can be over 4 GiB). */
function digestFile(file) {
  const hash = sha256();
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** getfattr -R over the mount: path (latin1, relative) -> { name: hex value }. */
function kernelXattrs(mnt) {
  const out = spawnSync(toolPath('getfattr'), ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', mnt], { maxBuffer: 1 << 28 });
  const text = out.stdout.toString('latin1');
  const map = new Map();
  let current = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      const abs = unescapeOctal(line.slice('# file: '.length));
      current = {};
      map.set(abs.slice(mnt.length + 1), current);
    } else if (current && line.includes('=')) {
      const eq = line.indexOf('=');
      current[unescapeOctal(line.slice(0, eq))] = line.slice(eq + 3);
    }
  }
  return map;
}

/** getfattr writes bytes outside printable ASCII (and '\\') as \\ooo. */
function unescapeOctal(s) {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

const timeNs = (t) => (t ? BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanoseconds) : undefined);

/** What our reader shows for the same tree, through walk() and the data calls. */
export function readerView(image) {
  const reader = Ext4Reader.open(openImageSource(image));
  try {
    const view = new Map();
    for (const { pathBytes, inode } of reader.walk()) {
      const type = inode.type;
      let digest;
      if (type === 'file') {
        const hash = sha256();
        let length = 0;
        for (const chunk of reader.fileChunks(inode)) {
          hash.update(chunk);
          length += chunk.length;
        }
        if (length !== inode.size) throw new Error(`${pathBytes}: ${length} bytes read, size ${inode.size}`);
        digest = hash.digest('hex');
      }
      const xattrs = {};
      for (const x of reader.xattrs(inode)) xattrs[x.nameBytes.toString('latin1')] = x.value.toString('hex');
      view.set(pathBytes.toString('latin1'), {
        ino: inode.number, type, mode: inode.mode, nlink: inode.linksCount, uid: inode.uid, gid: inode.gid,
        size: type === 'dir' ? undefined : inode.size,
        mtime: timeNs(inode.mtime), ctime: timeNs(inode.ctime), atime: timeNs(inode.atime), crtime: timeNs(inode.crtime),
        device: type === 'chr' || type === 'blk' ? reader.device(inode) : undefined,
        digest,
        target: type === 'symlink' ? reader.readlink(inode).toString('latin1') : undefined,
        xattrs,
      });
    }
    return view;
  } finally {
    reader.close();
  }
}

/** JSON with sorted keys (xattr order is not part of either view) and bigints as strings. */
function canonical(value) {
  return JSON.stringify(value, (_, v) => {
    if (typeof v === 'bigint') return v.toString();
    if (v && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
    return v;
  });
}

/** Differences between the views, one line each (empty when they agree). */
export function compareViews(ours, kernel) {
  const problems = [];
  for (const key of kernel.keys()) if (!ours.has(key)) problems.push(`${key}: missing from the reader`);
  for (const [key, mine] of ours) {
    const theirs = kernel.get(key);
    if (!theirs) {
      problems.push(`${key}: not seen by the kernel`);
      continue;
    }
    for (const field of Object.keys(theirs)) {
      const a = canonical(mine[field]);
      const b = canonical(theirs[field]);
      // The kernel reports no birth time (0) when the inode has no i_crtime.
      if (field === 'crtime' && mine.crtime === undefined && (theirs.crtime === 0n || theirs.crtime === undefined)) continue;
      if (a !== b) problems.push(`${key}: ${field} is ${a} in the reader, ${b} through the kernel`);
    }
  }
  return problems;
}
