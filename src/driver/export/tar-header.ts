// Tar headers as Go's archive/tar Writer writes them for Docker's archive package
// (hdr.Format = FormatPAX): a plain ustar header whenever every field fits, else a PAX
// extended header ('x') first. Pure encoding, no I/O. Names, link targets and xattr values
// are bytes and stay bytes: nothing here decodes them as text.
//
// Field layout: POSIX.1-1988 ustar (the same offsets Go's block.toUSTAR() uses).

export const TAR_BLOCK = 512;

export const USTAR = {
  name: { offset: 0, size: 100 },
  mode: { offset: 100, size: 8 },
  uid: { offset: 108, size: 8 },
  gid: { offset: 116, size: 8 },
  size: { offset: 124, size: 12 },
  mtime: { offset: 136, size: 12 },
  checksum: { offset: 148, size: 8 },
  typeflag: { offset: 156, size: 1 },
  linkname: { offset: 157, size: 100 },
  magic: { offset: 257, size: 6 },
  version: { offset: 263, size: 2 },
  uname: { offset: 265, size: 32 },
  gname: { offset: 297, size: 32 },
  devmajor: { offset: 329, size: 8 },
  devminor: { offset: 337, size: 8 },
  prefix: { offset: 345, size: 155 },
} as const;

type Field = { offset: number; size: number };

export const TYPEFLAG = {
  file: 0x30, // '0'
  hardlink: 0x31, // '1'
  symlink: 0x32, // '2'
  char: 0x33, // '3'
  block: 0x34, // '4'
  dir: 0x35, // '5'
  fifo: 0x36, // '6'
  paxHeader: 0x78, // 'x'
} as const;

/** Go's maxSpecialFileSize: a PAX header over 1 MiB is refused (by Go's reader and by ours). */
export const MAX_PAX_HEADER_BYTES = 1 << 20;

export interface TarTime {
  /** Whole seconds since the epoch (floor: -1.25 s is -2 s + 750000000 ns). */
  seconds: number;
  /** 0 to 999999999. */
  nanoseconds: number;
}

export interface TarXattr {
  name: Buffer;
  value: Buffer;
}

export interface TarEntry {
  /** Full path, '/'-separated, no leading '/'; a directory's ends in '/'. */
  name: Buffer;
  typeflag: number;
  /** Permission bits, and the file type bits too where Docker writes them (fillGo18FileTypeBits). */
  mode: number;
  uid: number;
  gid: number;
  /** Data bytes that follow (regular files only). */
  size: number;
  mtime: TarTime;
  /** Written only when given (PAX records: ustar has no field for them). */
  atime?: TarTime;
  ctime?: TarTime;
  linkname?: Buffer;
  devmajor?: number;
  devminor?: number;
  /** As SCHILY.xattr.<name> PAX records. */
  xattrs?: TarXattr[];
}

/** Largest value an octal field of `size` bytes holds: size-1 digits and a NUL, as Go writes them. */
export function octalLimit(size: number): number {
  return OCTAL_LIMITS[size] ?? 8 ** (size - 1) - 1;
}

/** The limits of the field sizes ustar has (8 and 12 bytes), computed once: headers are the hot path. */
const OCTAL_LIMITS: Record<number, number> = { 8: 8 ** 7 - 1, 12: 8 ** 11 - 1 };

function fitsOctal(value: number, field: Field): boolean {
  return Number.isInteger(value) && value >= 0 && value <= octalLimit(field.size);
}

function isAscii(bytes: Buffer): boolean {
  for (const b of bytes) if (b >= 0x80 || b === 0) return false;
  return true;
}

/** Go's toASCII: drops every byte that is not 7-bit ASCII (and NUL). */
function toAscii(bytes: Buffer): Buffer {
  return isAscii(bytes) ? bytes : Buffer.from(bytes.filter((b) => b < 0x80 && b !== 0));
}

/** Zero-padded octal with a NUL terminator, Go's formatOctal; a value that does not fit is written as 0 (the PAX record holds it). */
function writeOctal(block: Buffer, field: Field, value: number): void {
  const digits = (fitsOctal(value, field) ? value : 0).toString(8).padStart(field.size - 1, '0');
  block.write(digits, field.offset, field.size - 1, 'latin1');
  block[field.offset + field.size - 1] = 0;
}

/** Copies up to the field's size (Go's formatString: NUL-terminated only when shorter). */
function writeBytes(block: Buffer, field: Field, bytes: Buffer): void {
  bytes.copy(block, field.offset, 0, Math.min(bytes.length, field.size));
}

/** Go's splitUSTARPath: a name over 100 bytes split at a '/' into a 155-byte prefix and a 100-byte name. */
export function splitUstarPath(name: Buffer): { prefix: Buffer; name: Buffer } | null {
  if (name.length <= USTAR.name.size || !isAscii(name)) return null;
  let length = name.length;
  if (length > USTAR.prefix.size + 1) length = USTAR.prefix.size + 1;
  else if (name[length - 1] === 0x2f) length--;
  const i = name.subarray(0, length).lastIndexOf(0x2f);
  const nameLength = name.length - i - 1;
  if (i <= 0 || nameLength > USTAR.name.size || nameLength === 0 || i > USTAR.prefix.size) return null;
  return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
}

/** Go's formatPAXTime: "secs[.frac]" with trailing zeros cut; negative times count the fraction down from the second. */
export function formatPaxTime(t: TarTime): string {
  if (t.nanoseconds === 0) return String(t.seconds);
  let { seconds, nanoseconds } = t;
  let sign = '';
  if (seconds < 0) {
    sign = '-';
    seconds = -(seconds + 1);
    nanoseconds = 1e9 - nanoseconds;
  }
  return `${sign}${seconds}.${String(nanoseconds).padStart(9, '0')}`.replace(/0+$/, '');
}

/** One PAX record, "<length> <key>=<value>\n", the length counting its own digits. */
export function paxRecord(key: Buffer, value: Buffer): Buffer {
  const base = key.length + value.length + 3;
  let length = base + String(base).length;
  if (String(length).length !== String(base).length) length = base + String(length).length;
  return Buffer.concat([Buffer.from(`${length} `, 'latin1'), key, Buffer.from('=', 'latin1'), value, Buffer.from('\n', 'latin1')]);
}

/** Zero bytes that pad `size` data bytes to a whole block. */
export function paddingFor(size: number): Buffer {
  const rest = size % TAR_BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : TAR_BLOCK - rest);
}

/** Two zero blocks, as Go's Writer.Close writes (no padding to a 10 KiB record). */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * TAR_BLOCK);
}

/** Header checksum: the byte sum with the checksum field as spaces, written "%06o\0 " as Go does. */
function setChecksum(block: Buffer): void {
  block.fill(0x20, USTAR.checksum.offset, USTAR.checksum.offset + USTAR.checksum.size);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += block[i];
  block.write(sum.toString(8).padStart(6, '0'), USTAR.checksum.offset, 6, 'latin1');
  block[USTAR.checksum.offset + 6] = 0;
  block[USTAR.checksum.offset + 7] = 0x20;
}

interface HeaderFields {
  name: Buffer;
  prefix?: Buffer;
  typeflag: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeSeconds: number;
  linkname?: Buffer;
  devmajor: number;
  devminor: number;
}

/** One 512-byte ustar block ("ustar\0" "00"; the PAX format uses the same magic). */
function ustarBlock(f: HeaderFields): Buffer {
  const block = Buffer.alloc(TAR_BLOCK);
  writeBytes(block, USTAR.name, f.name);
  writeOctal(block, USTAR.mode, f.mode);
  writeOctal(block, USTAR.uid, f.uid);
  writeOctal(block, USTAR.gid, f.gid);
  writeOctal(block, USTAR.size, f.size);
  writeOctal(block, USTAR.mtime, f.mtimeSeconds);
  block[USTAR.typeflag.offset] = f.typeflag;
  if (f.linkname) writeBytes(block, USTAR.linkname, f.linkname);
  block.write('ustar\0', USTAR.magic.offset, 'latin1');
  block.write('00', USTAR.version.offset, 'latin1');
  writeOctal(block, USTAR.devmajor, f.devmajor);
  writeOctal(block, USTAR.devminor, f.devminor);
  if (f.prefix) writeBytes(block, USTAR.prefix, f.prefix);
  setChecksum(block);
  return block;
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const SCHILY_XATTR = latin1('SCHILY.xattr.');

/** What PAX records an entry needs, and whether a plain ustar header could hold it (Go's allowedFormats). */
function paxRecordsFor(entry: TarEntry): { records: Array<[Buffer, Buffer]>; ustarSplit: ReturnType<typeof splitUstarPath>; needsPax: boolean } {
  const records: Array<[Buffer, Buffer]> = [];
  let needsPax = false;
  let ustarSplit: ReturnType<typeof splitUstarPath> = null;
  if (entry.name.length > USTAR.name.size || !isAscii(entry.name)) {
    records.push([latin1('path'), entry.name]);
    ustarSplit = splitUstarPath(entry.name);
    if (!ustarSplit) needsPax = true;
  }
  if (entry.linkname && (entry.linkname.length > USTAR.linkname.size || !isAscii(entry.linkname))) {
    records.push([latin1('linkpath'), entry.linkname]);
    needsPax = true;
  }
  for (const [key, value, field] of [
    ['uid', entry.uid, USTAR.uid],
    ['gid', entry.gid, USTAR.gid],
    ['size', entry.size, USTAR.size],
  ] as const) {
    if (!fitsOctal(value, field)) {
      records.push([latin1(key), latin1(String(value))]);
      needsPax = true;
    }
  }
  if (!fitsOctal(entry.mtime.seconds, USTAR.mtime) || entry.mtime.nanoseconds !== 0) {
    records.push([latin1('mtime'), latin1(formatPaxTime(entry.mtime))]);
    needsPax = true;
  }
  for (const [key, time] of [['atime', entry.atime], ['ctime', entry.ctime]] as const) {
    if (time) {
      records.push([latin1(key), latin1(formatPaxTime(time))]);
      needsPax = true;
    }
  }
  for (const x of entry.xattrs ?? []) {
    records.push([Buffer.concat([SCHILY_XATTR, x.name]), x.value]);
    needsPax = true;
  }
  return { records, ustarSplit, needsPax };
}

/** Go names the PAX header of "dir/file" "dir/PaxHeaders.0/file" (ASCII only, cut to 100 bytes, no trailing '/'). */
function paxHeaderName(name: Buffer): Buffer {
  const text = name.toString('latin1');
  const cut = text.replace(/\/+$/, '');
  const slash = cut.lastIndexOf('/');
  const dir = slash >= 0 ? cut.slice(0, slash + 1) : '';
  const file = cut.slice(slash + 1);
  const joined = `${dir}PaxHeaders.0${file ? `/${file}` : ''}`;
  return toAscii(latin1(joined)).subarray(0, USTAR.name.size);
}

/**
 * The header block(s) of one entry: [PAX header, its records padded] + the ustar block.
 * Throws a RangeError for a value no tar header can carry (device numbers over 2097151,
 * which ext4's 12+20-bit encoding never produces) or a PAX header over 1 MiB.
 */
export function encodeHeader(entry: TarEntry): Buffer {
  const devmajor = entry.devmajor ?? 0;
  const devminor = entry.devminor ?? 0;
  if (!fitsOctal(devmajor, USTAR.devmajor) || !fitsOctal(devminor, USTAR.devminor)) {
    throw new RangeError(`device number ${devmajor}:${devminor} does not fit a tar header`);
  }
  const { records, ustarSplit, needsPax } = paxRecordsFor(entry);
  const fields: HeaderFields = {
    name: entry.name,
    typeflag: entry.typeflag,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size: entry.size,
    mtimeSeconds: entry.mtime.seconds,
    linkname: entry.linkname,
    devmajor,
    devminor,
  };
  if (!needsPax) {
    if (ustarSplit) Object.assign(fields, { name: ustarSplit.name, prefix: ustarSplit.prefix });
    return ustarBlock(fields);
  }
  // Go sorts the record keys; byte order of the keys here (xattr names are bytes).
  records.sort((a, b) => Buffer.compare(a[0], b[0]));
  const data = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
  if (data.length > MAX_PAX_HEADER_BYTES) throw new RangeError(`the PAX header of ${entry.name.toString('utf8')} would be ${data.length} bytes (at most ${MAX_PAX_HEADER_BYTES})`);
  const paxHeader = ustarBlock({
    name: paxHeaderName(entry.name),
    typeflag: TYPEFLAG.paxHeader,
    mode: 0,
    uid: 0,
    gid: 0,
    size: data.length,
    mtimeSeconds: 0,
    devmajor: 0,
    devminor: 0,
  });
  // In the main header Go keeps only what fits: names as ASCII cut to the field, numbers that overflow as 0.
  fields.name = toAscii(entry.name);
  if (entry.linkname) fields.linkname = toAscii(entry.linkname);
  return Buffer.concat([paxHeader, data, paddingFor(data.length), ustarBlock(fields)]);
}
