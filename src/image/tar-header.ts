// Pure decoding of what an image archive's tar index needs from a 512-byte header (ustar,
// GNU and PAX, as Go's archive/tar writes them for `docker save` and skopeo): the name,
// the size, the type and the link target. The member bodies are layers and JSON, read by
// position later, so nothing here looks at them.

export const BLOCK = 512;

// ustar field offsets (POSIX.1-1988; GNU shares the first 345 bytes).
const NAME = [0, 100] as const;
const SIZE = [124, 12] as const;
const CHECKSUM = [148, 8] as const;
const TYPEFLAG = 156;
const LINKNAME = [157, 100] as const;
const MAGIC = [257, 6] as const;
const PREFIX = [345, 155] as const;

export type MemberType = 'file' | 'hardlink' | 'symlink' | 'directory' | 'pax' | 'pax-global' | 'gnu-long-name' | 'gnu-long-link' | 'other';

export interface RawHeader {
  name: string;
  linkname: string;
  size: number;
  type: MemberType;
}

function field(block: Buffer, [start, length]: readonly [number, number]): Buffer {
  return block.subarray(start, start + length);
}

/** A NUL-terminated string field; names are bytes, read as UTF-8 as Go does for paths. */
function text(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
}

/** An octal number (spaces and NULs around it allowed), or GNU base-256 when the top bit is set. */
export function parseNumber(bytes: Buffer): number | undefined {
  if (bytes[0] & 0x80) {
    if (bytes[0] & 0x40) return undefined; // negative
    let value = bytes[0] & 0x3f;
    for (let i = 1; i < bytes.length; i++) value = value * 256 + bytes[i];
    return Number.isSafeInteger(value) ? value : undefined;
  }
  const digits = bytes.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) return undefined;
  const value = parseInt(digits, 8);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** True for a block of zeros: the end-of-archive marker. */
export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** The checksum treats its own field as spaces; Go accepts the signed and unsigned sums. */
function checksumMatches(block: Buffer): boolean {
  const stored = parseNumber(field(block, CHECKSUM));
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= CHECKSUM[0] && i < CHECKSUM[0] + CHECKSUM[1] ? 0x20 : block[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

const TYPES: Record<string, MemberType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '5': 'directory',
  x: 'pax', g: 'pax-global', L: 'gnu-long-name', K: 'gnu-long-link',
};

/** Decodes one header block; a string is the reason it is not a valid header. */
export function decodeHeader(block: Buffer): RawHeader | string {
  if (!checksumMatches(block)) return 'bad header checksum';
  const size = parseNumber(field(block, SIZE));
  if (size === undefined) return 'bad size field';
  const magic = field(block, MAGIC).toString('latin1');
  let name = text(field(block, NAME));
  // ustar keeps long paths as prefix + "/" + name; GNU ("ustar  ") uses those bytes for times.
  if (magic === 'ustar\0') {
    const prefix = text(field(block, PREFIX));
    if (prefix) name = `${prefix}/${name}`;
  }
  const type = TYPES[String.fromCharCode(block[TYPEFLAG])] ?? 'other';
  return { name, linkname: text(field(block, LINKNAME)), size, type };
}

/** PAX extended header records ("%d key=value\n"); only path, linkpath and size matter here. */
export function parsePaxRecords(body: Buffer): Map<string, string> | string {
  const records = new Map<string, string>();
  let at = 0;
  while (at < body.length) {
    if (body[at] === 0) break; // NUL padding after the last record
    const space = body.indexOf(0x20, at);
    if (space < 0) return 'PAX record without a length';
    const length = Number(body.subarray(at, space).toString('latin1'));
    if (!Number.isSafeInteger(length) || length <= space - at + 1 || at + length > body.length || body[at + length - 1] !== 0x0a) {
      return 'malformed PAX record';
    }
    const record = body.subarray(space + 1, at + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals < 0) return 'PAX record without "="';
    records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}
