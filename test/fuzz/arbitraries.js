// fast-check arbitraries for random file trees, and the independent tar writer that turns
// a tree into a tar: Python's tarfile (PAX or GNU format), not our code and not tar-stream,
// so a shared misreading of the format cannot hide a bug.
// No side effects on import: node --test runs every .js file under test/ as a test file.

import fc from 'fast-check';
import { spawnSync } from 'node:child_process';

const bytesOf = (s) => [...Buffer.from(s, 'latin1')];
const ASCII = bytesOf('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+ ~');
const anyNameByte = fc.integer({ min: 1, max: 255 }).filter((b) => b !== 0x2f);

// Names: mostly plain, some UTF-8, some arbitrary bytes (invalid UTF-8, control characters,
// backslashes), some 100..255 bytes (past ustar's 100-byte field, up to ext4's limit).
const asciiName = fc.array(fc.constantFrom(...ASCII), { minLength: 1, maxLength: 12 });
const utf8Name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).map((s) => [...Buffer.from(s, 'utf8')]);
const oddName = fc.array(anyNameByte, { minLength: 1, maxLength: 16 });
const longName = fc
  .tuple(fc.integer({ min: 100, max: 255 }), fc.array(anyNameByte, { minLength: 1, maxLength: 8 }))
  .map(([n, pattern]) => Array.from({ length: n }, (_, i) => pattern[i % pattern.length]));

// Left out on purpose: "." and "..", ".wh.*" (the overlay option set would convert them, and
// the model in helpers/debugfs.js does not), and "lost+found" (exists in every image).
function plainName(b) {
  const s = b.toString('latin1');
  return b.length > 0 && b.length <= 255 && !b.includes(0) && !b.includes(0x2f) && s !== '.' && s !== '..' && !s.startsWith('.wh.') && s !== 'lost+found';
}

export const nameArb = fc
  .oneof(
    { weight: 6, arbitrary: asciiName },
    { weight: 2, arbitrary: utf8Name },
    { weight: 2, arbitrary: oddName },
    { weight: 1, arbitrary: longName },
  )
  .map((a) => Buffer.from(a))
  .filter(plainName);

const big = (min, max) => fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map(Number);

// Seconds: ext4 stores 32 bits plus 2 epoch bits, and hcsshim mis-encodes times before 1970
// and clamps past 0x37fffffff; the boundaries of each range are picked on purpose.
const secondsArb = fc.oneof(
  { weight: 4, arbitrary: big(0, 2 ** 31 - 1) },
  { weight: 2, arbitrary: big(-(2 ** 31), -1) },
  { weight: 2, arbitrary: big(2 ** 31, 2 ** 34) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 0x37fffffff, 0x400000000, -(2 ** 31) - 1) },
);
const timeArb = fc.record({
  s: secondsArb,
  ns: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 999999999 }) }),
});

// Ids: small, around 16-bit overflow, the octal-field limit 2097151, and any 32-bit value.
const idArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 1000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 65530, max: 70000 }) },
  { weight: 2, arbitrary: big(0, 2 ** 32 - 1) },
  { weight: 1, arbitrary: fc.constantFrom(65535, 65536, 2097151, 2097152, 2 ** 31, 2 ** 32 - 1) },
);

// Sizes: empty, inline-data range (<= 136 bytes with -inline), one block, a few blocks, many.
const sizeArb = (maxFileSize) =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: Math.min(136, maxFileSize) }) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: Math.min(4097, maxFileSize) }) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: Math.min(64 << 10, maxFileSize) }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: maxFileSize }) },
  );

// Symlink targets: fast symlinks live in the inode below 60 bytes; 59..61 is the boundary.
const PATH_BYTES = bytesOf('abcdefghij0123456789./-_');
const targetArb = fc
  .oneof(
    { weight: 3, arbitrary: fc.array(fc.constantFrom(...PATH_BYTES), { minLength: 1, maxLength: 59 }) },
    { weight: 1, arbitrary: fc.integer({ min: 59, max: 61 }).chain((n) => fc.array(fc.constantFrom(...PATH_BYTES), { minLength: n, maxLength: n })) },
    { weight: 2, arbitrary: fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 61, maxLength: 1000 }) },
  )
  .map((a) => Buffer.from(a));

const xattrsArb = fc.uniqueArray(
  fc.tuple(
    fc.array(fc.constantFrom(...bytesOf('abcdefghijklmnopqrstuvwxyz0123456789._-')), { minLength: 1, maxLength: 20 }).map((b) => `user.${Buffer.from(b).toString('latin1')}`),
    fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
  ),
  { minLength: 1, maxLength: 4, selector: (x) => x[0] },
);

const KINDS = [
  ['file', 5], ['dir', 3], ['symlink', 2], ['link', 2], ['fifo', 1], ['chr', 1], ['blk', 1],
];

const rawEntryArb = (maxFileSize) =>
  fc.record({
    parent: fc.nat(),
    name: nameArb,
    kind: fc.oneof(...KINDS.map(([k, weight]) => ({ weight, arbitrary: fc.constant(k) }))),
    // A directory is written in order, left implicit (only made by MakeParents for its
    // children), or written after its children (Create then updates the implicit one).
    dirEntry: fc.constantFrom('inOrder', 'inOrder', 'implicit', 'late'),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: idArb,
    gid: idArb,
    mtime: timeArb,
    atime: fc.option(timeArb, { freq: 3 }),
    size: sizeArb(maxFileSize),
    zero: fc.boolean(),
    contentSeed: fc.nat(),
    target: targetArb,
    linkTo: fc.nat(),
    major: fc.integer({ min: 0, max: 4095 }),
    minor: fc.integer({ min: 0, max: (1 << 20) - 1 }),
    xattrs: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: xattrsArb }),
  });

/**
 * Turns generated raw entries into tar entries: each entry goes into an earlier directory,
 * names are unique per directory, hard links point at an earlier non-directory entry.
 * Entry: {name (Buffer, full path), type, mode, uid, gid, mtime, atime, xattrs, and per type
 * size/zero/seed, linkname (Buffer), major/minor}.
 */
function buildTree(raws) {
  const dirs = [null]; // null = the root
  const seen = new Set();
  const linkable = [];
  const entries = [];
  const late = [];
  for (const r of raws) {
    const parent = dirs[r.parent % dirs.length];
    const name = parent ? Buffer.concat([parent, Buffer.from('/'), r.name]) : r.name;
    const key = name.toString('latin1');
    if (seen.has(key)) continue;
    seen.add(key);
    const kind = r.kind === 'link' && linkable.length === 0 ? 'file' : r.kind;
    const e = { name, type: kind, mode: r.mode, uid: r.uid, gid: r.gid, mtime: r.mtime, atime: r.atime, xattrs: r.xattrs };
    if (kind === 'file') Object.assign(e, { size: r.size, zero: r.zero, seed: r.contentSeed });
    if (kind === 'symlink') e.linkname = r.target;
    if (kind === 'chr' || kind === 'blk') Object.assign(e, { major: r.major, minor: r.minor });
    if (kind === 'link') {
      // hcsshim's Link takes no metadata from the link's header.
      Object.assign(e, { linkname: linkable[r.linkTo % linkable.length], atime: null, xattrs: [] });
    } else if (kind !== 'dir') {
      linkable.push(name);
    }
    if (kind === 'dir') {
      dirs.push(name);
      if (r.dirEntry === 'implicit') continue;
      if (r.dirEntry === 'late') {
        late.push(e);
        continue;
      }
    }
    entries.push(e);
  }
  return entries.concat(late);
}

/** A random tree: {format, entries}. */
export const treeArb = ({ maxEntries = 30, maxFileSize = 1 << 20, formats = ['pax'] } = {}) =>
  fc.record({
    format: fc.constantFrom(...formats),
    entries: fc.array(rawEntryArb(maxFileSize), { minLength: 1, maxLength: maxEntries, size: 'medium' }).map(buildTree),
  });

/** The tree as JSON for the Python writer (bytes as hex). */
export function treeToJson(tree) {
  const hex = (b) => (b ? b.toString('hex') : '');
  return JSON.stringify({
    format: tree.format,
    entries: tree.entries.map((e) => ({
      ...e,
      name: hex(e.name),
      linkname: hex(e.linkname),
      xattrs: e.xattrs.map(([k, v]) => [k, hex(v)]),
    })),
  });
}

// Bytes travel as hex and become str through surrogateescape, so any byte survives; tarfile
// then writes PAX records (with hdrcharset=BINARY where needed) or GNU L/K headers.
const WRITER = String.raw`
import io, json, random, sys, tarfile
TYPES = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'link': tarfile.LNKTYPE,
         'fifo': tarfile.FIFOTYPE, 'chr': tarfile.CHRTYPE, 'blk': tarfile.BLKTYPE}
FORMATS = {'pax': tarfile.PAX_FORMAT, 'gnu': tarfile.GNU_FORMAT}
def text(h):
    return bytes.fromhex(h).decode('utf-8', 'surrogateescape')
def paxtime(t):
    return '%d.%09d' % (t['s'], t['ns']) if t['ns'] else str(t['s'])
spec = json.load(sys.stdin)
pax = spec['format'] == 'pax'
with tarfile.open(sys.argv[1], 'w', format=FORMATS[spec['format']], encoding='utf-8', errors='surrogateescape') as tar:
    for e in spec['entries']:
        ti = tarfile.TarInfo(text(e['name']))
        ti.type = TYPES[e['type']]
        ti.mode, ti.uid, ti.gid, ti.mtime = e['mode'], e['uid'], e['gid'], e['mtime']['s']
        ti.linkname = text(e['linkname'])
        ti.devmajor, ti.devminor = e.get('major', 0), e.get('minor', 0)
        if pax:
            h = {}
            t = e['mtime']
            if t['ns'] or not 0 <= t['s'] < 8 ** 11:
                h['mtime'] = paxtime(t)
            if e.get('atime'):
                h['atime'] = paxtime(e['atime'])
            for k, v in e['xattrs']:
                h['SCHILY.xattr.' + k] = text(v)
            ti.pax_headers = h
        data = None
        if e['type'] == 'file':
            ti.size = e['size']
            data = io.BytesIO(bytes(e['size']) if e['zero'] else random.Random(e['seed']).randbytes(e['size']))
        tar.addfile(ti, data)
`;

let python = null;

/** The python3 interpreter itself: a pyenv shim costs ~100 ms per call. */
function pythonPath() {
  if (!python) {
    const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error('python3 is needed to write tars with tarfile');
    python = r.stdout.trim();
  }
  return python;
}

/** Writes `tree` as a tar file at `tarPath` with Python's tarfile. */
export function writeTreeTar(tree, tarPath) {
  const r = spawnSync(pythonPath(), ['-c', WRITER, tarPath], { input: treeToJson(tree), encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`python tarfile writer exited ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
}
