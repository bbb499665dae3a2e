// Mutations of valid tars, as fast-check arbitraries of plain-data operations applied in
// order by applyCase. Header edits recompute the checksum most of the time: otherwise
// nearly every case stops at the checksum test and the reader behind it goes untested.
// No side effects on import: node --test runs every .js file under test/ as a test file.

import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { checksumOf } from '../helpers/raw-tar.js';

const BLOCK = 512;

// ustar/GNU header fields [offset, width].
export const FIELDS = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 8], // magic and version
  uname: [265, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155], // also GNU atime/ctime and the old GNU sparse map
};
const NUMERIC = new Set(['mode', 'uid', 'gid', 'size', 'mtime', 'chksum', 'devmajor', 'devminor']);

// Option sets of the mutation property (library option names in worker.js).
export const OPTION_SETS = [[], ['overlay'], ['inline'], ['overlay', 'inline'], ['overlay', 'vhd'], ['backslash']];

// ----------------------------------------------------------------- layout ----

/** Lenient size field: octal or base-256; NaN where the reader would refuse it. */
function sizeField(buf, at) {
  if (buf[at + 124] & 0x80) {
    let v = 0;
    for (let i = at + 125; i < at + 136; i++) v = v * 256 + buf[i];
    return v;
  }
  const s = buf.toString('latin1', at + 124, at + 136).replace(/^[ \0]+|[ \0]+$/g, '');
  return /^[0-7]*$/.test(s) ? parseInt(s || '0', 8) : NaN;
}

const isZero = (buf, at) => {
  for (let i = at; i < at + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
};

/**
 * Offsets of the headers a reader would visit (PAX and long-name headers included), and
 * `end`: where the walk stopped (end-of-archive blocks, a bad size, or the end of the data).
 */
export function headerLayout(buf) {
  const headers = [];
  let pos = 0;
  while (pos + BLOCK <= buf.length && headers.length < 100000 && !isZero(buf, pos)) {
    headers.push(pos);
    const size = sizeField(buf, pos);
    if (!Number.isFinite(size)) break;
    const headerOnly = '123456'.includes(String.fromCharCode(buf[pos + 156]));
    pos += BLOCK + (headerOnly ? 0 : Math.ceil(size / BLOCK) * BLOCK);
  }
  return { headers, end: Math.min(pos, buf.length) };
}

/** Go's checksum: unsigned sum of the header with the checksum field read as spaces. */
export function fixChecksum(buf, at) {
  if (at + BLOCK > buf.length) return;
  const sum = checksumOf(buf.subarray(at, at + BLOCK));
  buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
}

/** A header of `type` for `data` (a PAX record set or a long name). */
function extensionHeader(type, name, size) {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 'latin1');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  size.copy(h, 124);
  h.write('00000000000\0', 136, 'latin1');
  h.write(type, 156, 'latin1');
  h.write(type === 'L' || type === 'K' ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  return h;
}

const pad = (b) => Buffer.concat([b, Buffer.alloc((BLOCK - (b.length % BLOCK)) % BLOCK)]);

// ----------------------------------------------------------- field values ----

const INTERESTING = [
  0, 1, 60, 136, 137, 511, 512, 513, 4095, 4096, 4097, 0o7777, 0o170000, 65535, 65536, 2 ** 21 - 1,
  2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 33, 2 ** 37, 8 ** 11 - 1, 1 << 20, (1 << 20) + 1, 2 ** 53,
];

const chars = (alphabet, minLength, maxLength) =>
  fc.array(fc.constantFrom(...alphabet), { minLength, maxLength }).map((a) => a.join(''));

/** Bytes for a numeric field of `width`: valid, huge, base-256, blank, or not a number. */
const numericValue = (width) =>
  fc.oneof(
    chars('01234567', 1, width - 1).map((s) => `${s.padStart(width - 1, '0')}\0`),
    chars('0123456789', 1, width), // 8 and 9 are not octal
    fc.constantFrom('7'.repeat(width), `${'7'.repeat(width - 1)}\0`, ' '.repeat(width), '\0'.repeat(width), '-1', ' 1 ', '+1', '0x10', '1e3'),
    fc.constantFrom(...INTERESTING).map((n) => n.toString(8).padStart(width - 1, '0') + (n.toString(8).length < width ? '\0' : '')),
    fc.constantFrom(...INTERESTING).map((n) => ` ${n.toString(8)} `),
    // GNU base-256: 0x80 positive, 0xff negative (two's complement).
    fc.tuple(fc.constantFrom(0x80, 0xff), fc.uint8Array({ minLength: width - 1, maxLength: width - 1 })).map(([b, rest]) => Buffer.from([b, ...rest])),
    fc.tuple(fc.constantFrom(0x80, 0xff), fc.nat(2 ** 31 - 1)).map(([b, n]) => {
      const v = Buffer.alloc(width, b === 0xff ? 0xff : 0);
      v[0] = b;
      v.writeUInt32BE(n, width - 4);
      return v;
    }),
    fc.string({ unit: 'binary-ascii', maxLength: width }),
    fc.uint8Array({ minLength: width, maxLength: width }),
  );

const NAMES = [
  '', '.', '..', './', '/', '../x', '/abs', 'a/', 'a//b', 'a/./b', 'a/../../b', '.wh.x', 'd/.wh.y', '.wh..wh..opq', 'd/.wh..wh..opq',
  '.wh.', 'a\\b', '\\', 'lost+found', 'lost+found/x', 'x'.repeat(100), `${'x'.repeat(99)}/`, 'a\0b', `${'y'.repeat(256)}/z`, `${'z'.repeat(255)}`,
];

/** Bytes for a name-like field: edge-case paths, random bytes, random path-ish strings. */
const nameValue = fc.oneof(
  fc.constantFrom(...NAMES),
  fc.uint8Array({ minLength: 1, maxLength: 100 }),
  fc.array(fc.constantFrom('a', 'b', '.', '..', '', '.wh.a', 'x'.repeat(60)), { minLength: 1, maxLength: 4 }).map((a) => a.join('/')),
);

const TYPEFLAGS = [...'0123456789LKxgSDAVMNI', '\0', '\xff', 'Z'];
const MAGICS = ['ustar\x0000', 'ustar  \0', 'ustar\0  ', 'ustar\x0001', '\0'.repeat(8), 'garbage!', 'USTAR\x0000'];

function fieldValue(field) {
  if (NUMERIC.has(field)) return numericValue(FIELDS[field][1]);
  if (field === 'typeflag') return fc.constantFrom(...TYPEFLAGS);
  if (field === 'magic') return fc.constantFrom(...MAGICS);
  if (field === 'prefix') return fc.oneof(nameValue, fc.uint8Array({ minLength: 155, maxLength: 155 }));
  return nameValue;
}

// -------------------------------------------------------- PAX and long names ----

const PAX_KEYS = [
  'path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'atime', 'ctime', 'uname', 'gname', 'hdrcharset', 'comment', '', '=',
  'SCHILY.xattr.user.k', 'SCHILY.xattr.security.selinux', 'SCHILY.xattr.trusted.overlay.opaque', 'SCHILY.xattr.system.posix_acl_access', 'SCHILY.xattr.',
  'GNU.sparse.map', 'GNU.sparse.size', 'GNU.sparse.numblocks', 'GNU.sparse.offset', 'GNU.sparse.numbytes', 'GNU.sparse.name',
  'GNU.sparse.major', 'GNU.sparse.minor', 'GNU.sparse.realsize',
];
const PAX_VALUES = [
  '', '0', '1', '-1', '512', '4096', '99999999999999999999', '9223372036854775807', '-9223372036854775808', '4294967296',
  '1.5', '-1.000000001', '1.', '.5', '1e3', '1.0000000000001', 'abc', 'a\0b', '\0', '../../x', '/', 'x/.wh.y', 'y',
  '0,512,1024,1', '0,512', '1,0', '0,10,20,30', '-1,5', '1,2,3', ' 12', '12 ', 'x'.repeat(300), 'v'.repeat(5000),
];

const paxRecord = fc.record({
  key: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PAX_KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }),
  value: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PAX_VALUES) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) }),
  length: fc.oneof(
    { weight: 12, arbitrary: fc.constant('ok') },
    { weight: 1, arbitrary: fc.constantFrom('zero', 'huge', 'nonNumeric', 'negative', 'short', 'long', 'noSpace', 'noNewline', 'plus', 'leadingZero') },
  ),
});

/** One PAX record "<len> key=value\n", its length field right or deliberately wrong. */
function encodeRecord({ key, value, length }) {
  const body = Buffer.concat([Buffer.from(`${key}=`, 'latin1'), Buffer.from(value), Buffer.from(length === 'noNewline' ? '' : '\n')]);
  let n = body.length + 3;
  while (String(n).length + 1 + body.length !== n) n = String(n).length + 1 + body.length;
  const len = {
    ok: String(n), zero: '0', huge: '99999999999999999999', nonNumeric: 'xx', negative: '-5',
    short: String(n - 3), long: String(n + 3), noSpace: String(n - 1), noNewline: String(n), plus: `+${n}`, leadingZero: `0${n + 1}`,
  }[length];
  return Buffer.concat([Buffer.from(length === 'noSpace' ? len : `${len} `, 'latin1'), body]);
}

// The size field of an inserted extension header: usually right, else wrong in some way.
const sizeMode = fc.oneof(
  { weight: 6, arbitrary: fc.constant('exact') },
  { weight: 1, arbitrary: fc.constantFrom('zero', 'short', 'long', 'huge', 'overMiB', 'base256') },
);

function sizeBytes(mode, n) {
  if (mode === 'base256') return Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff]);
  const v = { exact: n, zero: 0, short: Math.max(0, n - 1), long: n + 600, huge: 8 ** 11 - 1, overMiB: (1 << 20) + 1 }[mode];
  return Buffer.from(`${v.toString(8).padStart(11, '0')}\0`, 'latin1');
}

// -------------------------------------------------------------- operations ----

const fix = fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });

export const opArb = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('truncate'), where: fc.constantFrom('anywhere', 'header', 'afterHeader'), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('flip'), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('setByte'), header: fc.nat(), at: fc.integer({ min: 0, max: 511 }), value: fc.integer({ min: 0, max: 255 }), fix }) },
  {
    weight: 10,
    arbitrary: fc.constantFrom(...Object.keys(FIELDS)).chain((field) =>
      fc.record({ op: fc.constant('field'), header: fc.nat(), field: fc.constant(field), value: fieldValue(field), fix }),
    ),
  },
  // Name or hard-link target taken from another header: replaces, overwrites, link cycles.
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('rename', 'hardlink', 'symlink'), header: fc.nat(), other: fc.nat(), fix }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('pax'),
      header: fc.nat(),
      type: fc.constantFrom('x', 'x', 'x', 'g'),
      records: fc.array(paxRecord, { minLength: 1, maxLength: 3 }),
      size: sizeMode,
      fix,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('longName'), header: fc.nat(), type: fc.constantFrom('L', 'K'), name: nameValue, size: sizeMode, fix }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constantFrom('dupBlocks', 'deleteBlocks', 'zeroBlock', 'swapBlocks'), block: fc.nat(), other: fc.nat(), count: fc.integer({ min: 1, max: 3 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insertBytes'), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('randomInput'), bytes: fc.uint8Array({ maxLength: 2048 }) }) },
);

// gzip of the mutated tar (or of the seed itself: pristine), sometimes corrupted afterwards
// (body, trailer CRC/size, or cut).
const gzipArb = fc.oneof(
  { weight: 12, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc.record({
      pristine: fc.boolean(),
      corrupt: fc.constantFrom('none', 'flip', 'trailer', 'truncate'),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
  },
);

/** A mutation case: which seed tar, the operations, optional gzip, and the option set. */
export const caseArb = (seedCount) =>
  fc.record({
    seed: fc.nat(seedCount - 1),
    ops: fc.array(opArb, { minLength: 1, maxLength: 4 }),
    gzip: gzipArb,
    options: fc.constantFrom(...OPTION_SETS),
  });

const splice = (buf, at, remove, insert = Buffer.alloc(0)) => Buffer.concat([buf.subarray(0, at), insert, buf.subarray(at + remove)]);

/** Applies one operation; returns the new buffer. Offsets wrap around what exists. */
function applyOp(buf, o) {
  const { headers, end } = headerLayout(buf);
  const header = (i) => (headers.length ? headers[i % headers.length] : null);
  const insertAt = (i) => (i % (headers.length + 1) < headers.length ? headers[i % (headers.length + 1)] : end);
  const blocks = Math.floor(buf.length / BLOCK);
  switch (o.op) {
    case 'truncate': {
      let at = o.at % (buf.length + 1);
      if (o.where === 'header' && headers.length) at = header(o.at) + (o.at % BLOCK);
      if (o.where === 'afterHeader' && headers.length) at = header(o.at) + BLOCK + (o.at % 1536);
      return buf.subarray(0, Math.min(at, buf.length));
    }
    case 'flip': {
      if (!buf.length) return buf;
      const b = Buffer.from(buf);
      b[o.at % b.length] ^= 1 << o.bit;
      return b;
    }
    case 'setByte':
    case 'field': {
      const at = header(o.header);
      if (at === null || at + BLOCK > buf.length) return buf;
      const b = Buffer.from(buf);
      if (o.op === 'setByte') {
        b[at + o.at] = o.value;
      } else {
        const [off, width] = FIELDS[o.field];
        const v = typeof o.value === 'string' ? Buffer.from(o.value, 'latin1') : Buffer.from(o.value);
        b.fill(0, at + off, at + off + width);
        v.copy(b, at + off, 0, Math.min(v.length, width));
      }
      if (o.fix && !(o.op === 'field' && o.field === 'chksum')) fixChecksum(b, at);
      return b;
    }
    case 'rename':
    case 'hardlink':
    case 'symlink': {
      const at = header(o.header);
      const from = header(o.other);
      if (at === null || at + BLOCK > buf.length) return buf;
      const b = Buffer.from(buf);
      const name = buf.subarray(from, from + 100);
      if (o.op === 'rename') name.copy(b, at);
      else {
        name.copy(b, at + 157);
        b[at + 156] = o.op === 'hardlink' ? 0x31 : 0x32;
      }
      if (o.fix) fixChecksum(b, at);
      return b;
    }
    case 'pax': {
      const data = Buffer.concat(o.records.map(encodeRecord));
      const h = extensionHeader(o.type, 'PaxHeaders/x', sizeBytes(o.size, data.length));
      if (o.fix) fixChecksum(h, 0);
      return splice(buf, insertAt(o.header), 0, Buffer.concat([h, pad(data)]));
    }
    case 'longName': {
      const data = Buffer.concat([Buffer.from(o.name), Buffer.from([0])]);
      const h = extensionHeader(o.type, '././@LongLink', sizeBytes(o.size, data.length));
      if (o.fix) fixChecksum(h, 0);
      return splice(buf, insertAt(o.header), 0, Buffer.concat([h, pad(data)]));
    }
    case 'dupBlocks':
    case 'deleteBlocks':
    case 'zeroBlock':
    case 'swapBlocks': {
      if (!blocks) return buf;
      const at = (o.block % blocks) * BLOCK;
      const len = Math.min(o.count * BLOCK, buf.length - at);
      if (o.op === 'dupBlocks') return splice(buf, at, 0, buf.subarray(at, at + len));
      if (o.op === 'deleteBlocks') return splice(buf, at, len);
      const b = Buffer.from(buf);
      if (o.op === 'zeroBlock') return b.fill(0, at, at + BLOCK);
      const other = (o.other % blocks) * BLOCK;
      buf.copy(b, at, other, other + BLOCK);
      buf.copy(b, other, at, at + BLOCK);
      return b;
    }
    case 'insertBytes':
      return splice(buf, o.at % (buf.length + 1), 0, Buffer.from(o.bytes));
    case 'randomInput':
      return Buffer.from(o.bytes);
    default:
      throw new Error(`unknown mutation ${o.op}`);
  }
}

function applyGzip(buf, g) {
  const z = Buffer.from(gzipSync(buf));
  switch (g.corrupt) {
    case 'flip':
      z[10 + (g.at % Math.max(1, z.length - 10))] ^= g.value || 1; // past the 10-byte header
      return z;
    case 'trailer':
      z[z.length - 1 - (g.at % 8)] ^= g.value || 1; // CRC32 or ISIZE
      return z;
    case 'truncate':
      return z.subarray(0, g.at % z.length);
    default:
      return z;
  }
}

/** The input bytes of a case, from the seed tars' contents. */
export function applyCase(seeds, c) {
  let buf = seeds[c.seed % seeds.length].bytes;
  for (const o of c.gzip?.pristine ? [] : c.ops) buf = applyOp(buf, o);
  return c.gzip ? applyGzip(buf, c.gzip) : buf;
}
