// A byte-level tar writer for tests that need malformed archives: every header field can
// be given as a number (written as octal), a string or a Buffer (written as is), and the
// checksum is computed unless the caller supplies one. Real tar writers refuse most of
// the shapes these tests need.

const FIELDS = {
  name: [0, 100], mode: [100, 8], uid: [108, 8], gid: [116, 8], size: [124, 12], mtime: [136, 12],
  checksum: [148, 8], type: [156, 1], linkname: [157, 100], magic: [257, 6], version: [263, 2],
  uname: [265, 32], gname: [297, 32], devmajor: [329, 8], devminor: [337, 8], prefix: [345, 155],
};

export const BLOCK = 512;

function fieldBytes(value, length) {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'number' || typeof value === 'bigint') {
    return Buffer.from(`${value.toString(8).padStart(length - 1, '0')}\0`, 'latin1');
  }
  return Buffer.from(String(value), 'latin1');
}

/** GNU base-256 encoding of a non-negative number, for values too big for octal. */
export function base256(value, length) {
  const bytes = Buffer.alloc(length);
  let v = BigInt(value);
  for (let i = length - 1; i >= 0; i--, v >>= 8n) bytes[i] = Number(v & 0xffn);
  bytes[0] |= 0x80;
  return bytes;
}

/** Sum of the header bytes with the checksum field counted as spaces, as tar defines it. */
export function checksumOf(block) {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum;
}

/** One 512-byte ustar header. Unknown field names throw, to catch typos in tests. */
export function header(fields = {}) {
  const values = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1700000000, type: '0', magic: 'ustar\0', version: '00', ...fields };
  const block = Buffer.alloc(BLOCK);
  for (const [key, value] of Object.entries(values)) {
    if (!(key in FIELDS)) throw new Error(`raw-tar: unknown header field ${key}`);
    if (key === 'checksum' || value === undefined) continue;
    const [offset, length] = FIELDS[key];
    fieldBytes(value, length).copy(block, offset, 0, length);
  }
  const checksum = values.checksum ?? `${checksumOf(block).toString(8).padStart(6, '0')}\0 `;
  fieldBytes(checksum, 8).copy(block, 148, 0, 8);
  return block;
}

function padded(data) {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

/** A member: its header (size defaults to the data length) and the padded data. */
export function entry(fields, data = Buffer.alloc(0)) {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
  return Buffer.concat([header({ size: bytes.length, ...fields }), padded(bytes)]);
}

/** "LEN key=value\n" with a correct length prefix. */
export function paxRecord(key, value) {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (`${length}${body}`.length !== length) length++;
  return `${length}${body}`;
}

/** A PAX extended header ('x') carrying `records` (a string or Buffer of raw records). */
export function paxHeader(records, fields = {}) {
  return entry({ name: 'PaxHeaders/x', type: 'x', ...fields }, records);
}

/** The two zero blocks that end an archive. */
export function end() {
  return Buffer.alloc(2 * BLOCK);
}

export function tar(...parts) {
  return Buffer.concat([...parts.flat(), end()]);
}
