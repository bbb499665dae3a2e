// The 512-byte tar header block, decoded with Go archive/tar's semantics (reader.go
// readHeader, format.go getFormat, strconv.go parseNumeric/parseOctal).

import { latin1FromMemory } from "../bytes";

export const BLOCK_SIZE: i32 = 512;

// V7 / USTAR field offsets and lengths.
const NAME_OFFSET = 0; const NAME_LEN = 100;
const MODE_OFFSET = 100; const MODE_LEN = 8;
const UID_OFFSET = 108; const UID_LEN = 8;
const GID_OFFSET = 116; const GID_LEN = 8;
const SIZE_OFFSET = 124; const SIZE_LEN = 12;
const MTIME_OFFSET = 136; const MTIME_LEN = 12;
const CHKSUM_OFFSET = 148; const CHKSUM_LEN = 8;
const TYPEFLAG_OFFSET = 156;
const LINKNAME_OFFSET = 157; const LINKNAME_LEN = 100;
const MAGIC_OFFSET = 257; // 6 bytes
const VERSION_OFFSET = 263; // 2 bytes
const DEVMAJOR_OFFSET = 329; const DEVMAJOR_LEN = 8;
const DEVMINOR_OFFSET = 337; const DEVMINOR_LEN = 8;
const USTAR_PREFIX_OFFSET = 345; const USTAR_PREFIX_LEN = 155;
// STAR: shorter prefix, then atime/ctime, and a "tar\0" trailer.
const STAR_PREFIX_LEN = 131;
const STAR_ATIME_OFFSET = 476; const STAR_CTIME_OFFSET = 488; const STAR_TIME_LEN = 12;
const STAR_TRAILER_OFFSET = 508;
// Old GNU: atime, ctime, then the sparse map (4 entries), isextended, realsize.
export const GNU_ATIME_OFFSET = 345; export const GNU_CTIME_OFFSET = 357; export const GNU_TIME_LEN = 12;
export const GNU_SPARSE_OFFSET = 386;
export const GNU_SPARSE_ENTRIES = 4;
export const GNU_ISEXTENDED_OFFSET = 482;
export const GNU_REALSIZE_OFFSET = 483; export const GNU_REALSIZE_LEN = 12;
// A sparse extension block holds 21 entries and its own isextended byte.
export const SPARSE_EXT_ENTRIES = 21;
export const SPARSE_EXT_ISEXTENDED_OFFSET = 504;
export const SPARSE_ENTRY_LEN = 24; // offset(12) + length(12)

export const FORMAT_UNKNOWN: i32 = 0;
export const FORMAT_V7: i32 = 2;
export const FORMAT_USTAR: i32 = 4;
export const FORMAT_PAX: i32 = 8;
export const FORMAT_GNU: i32 = 16;
export const FORMAT_STAR: i32 = 32;

export const TYPE_REG: u8 = 0x30; // '0'
export const TYPE_REGA: u8 = 0; // '\0'
export const TYPE_LINK: u8 = 0x31;
export const TYPE_SYMLINK: u8 = 0x32;
export const TYPE_CHAR: u8 = 0x33;
export const TYPE_BLOCK: u8 = 0x34;
export const TYPE_DIR: u8 = 0x35;
export const TYPE_FIFO: u8 = 0x36;
export const TYPE_XHEADER: u8 = 0x78; // 'x'
export const TYPE_XGLOBAL: u8 = 0x67; // 'g'
export const TYPE_GNU_SPARSE: u8 = 0x53; // 'S'
export const TYPE_GNU_LONGNAME: u8 = 0x4c; // 'L'
export const TYPE_GNU_LONGLINK: u8 = 0x4b; // 'K'

/** Go's zero time.Time as Unix seconds: "absent" times (encode as 0). */
export const ABSENT_SECONDS: i64 = -62135596800;

export class TarTime {
  seconds: i64 = ABSENT_SECONDS;
  nanoseconds: i32 = 0;

  static unix(seconds: i64, nanoseconds: i64): TarTime {
    // time.Unix normalises nanoseconds into [0, 1e9).
    const t = new TarTime();
    let s = seconds;
    let ns = nanoseconds;
    if (ns < 0 || ns >= 1000000000) {
      let q = ns / 1000000000;
      ns -= q * 1000000000;
      if (ns < 0) { ns += 1000000000; q--; }
      s += q;
    }
    t.seconds = s;
    t.nanoseconds = <i32>ns;
    return t;
  }

  isAbsent(): bool {
    return this.seconds == ABSENT_SECONDS && this.nanoseconds == 0;
  }
}

/**
 * The absent time, shared: TarTime values are never changed after construction, so
 * headers and records start from this one instead of allocating three or four each.
 */
export const ABSENT_TIME = new TarTime();

export class TarHeader {
  typeflag: u8 = 0;
  name: string = "";
  linkname: string = "";
  size: i64 = 0;
  mode: i64 = 0;
  uid: i64 = 0;
  gid: i64 = 0;
  devmajor: i64 = 0;
  devminor: i64 = 0;
  mtime: TarTime = ABSENT_TIME;
  atime: TarTime = ABSENT_TIME;
  ctime: TarTime = ABSENT_TIME;
  format: i32 = FORMAT_UNKNOWN;
}

/** Accumulates the first parse error like Go's tar parser type. */
export class FieldParser {
  err: bool = false;

  /** A NUL-terminated string field. */
  string(ptr: usize, len: i32): string {
    let n = 0;
    while (n < len && load<u8>(ptr + <usize>n) != 0) n++;
    return latin1FromMemory(ptr, n);
  }

  /** Base-256 (GNU binary) when the top bit is set, else octal. */
  numeric(ptr: usize, len: i32): i64 {
    if (len > 0 && (load<u8>(ptr) & 0x80) != 0) {
      const inv: u8 = (load<u8>(ptr) & 0x40) != 0 ? 0xff : 0;
      let x: u64 = 0;
      for (let i = 0; i < len; i++) {
        let c = load<u8>(ptr + <usize>i) ^ inv;
        if (i == 0) c &= 0x7f;
        if ((x >> 56) > 0) { this.err = true; return 0; }
        x = (x << 8) | <u64>c;
      }
      if ((x >> 63) > 0) { this.err = true; return 0; }
      return inv == 0xff ? ~(<i64>x) : <i64>x;
    }
    return this.octal(ptr, len);
  }

  octal(ptr: usize, len: i32): i64 {
    // Trim leading and trailing NULs and spaces, then cut at the first NUL.
    let start = 0;
    let end = len;
    while (start < end && isPad(load<u8>(ptr + <usize>start))) start++;
    while (end > start && isPad(load<u8>(ptr + <usize>(end - 1)))) end--;
    if (start == end) return 0;
    let cut = start;
    while (cut < end && load<u8>(ptr + <usize>cut) != 0) cut++;
    if (cut == start) { this.err = true; return 0; }
    let x: u64 = 0;
    for (let i = start; i < cut; i++) {
      const c = load<u8>(ptr + <usize>i);
      if (c < 0x30 || c > 0x37) { this.err = true; return 0; }
      if (x > (<u64>0xffffffffffffffff >> 3)) { this.err = true; return <i64>-1; }
      x = (x << 3) | <u64>(c - 0x30);
    }
    return <i64>x;
  }
}

function isPad(c: u8): bool {
  return c == 0 || c == 0x20;
}

export function isZeroBlock(ptr: usize): bool {
  for (let i = 0; i < BLOCK_SIZE; i += 8) if (load<u64>(ptr + <usize>i) != 0) return false;
  return true;
}

function bytesEqual(ptr: usize, text: string): bool {
  for (let i = 0; i < text.length; i++) {
    if (<i32>load<u8>(ptr + <usize>i) != text.charCodeAt(i)) return false;
  }
  return true;
}

const LOW_BYTES: u64 = 0x00ff00ff00ff00ff;
const HIGH_BITS: u64 = 0x8080808080808080;

/**
 * The header's checksums with the checksum field counted as spaces: unsigned sum in the
 * high word, signed sum in the low word. Eight bytes at a time: this runs for every
 * header, and a byte loop was a visible share of converting small files.
 */
function checksums(ptr: usize): u64 {
  let lanes: u64 = 0; // four 16-bit partial sums; at most 64 * 2 * 255 each, no overflow
  let highBytes: i32 = 0; // bytes >= 0x80, which count 256 less in the signed sum
  for (let i = 0; i < BLOCK_SIZE; i += 8) {
    let x = load<u64>(ptr + <usize>i);
    // The checksum field (148..155) straddles two words; count it as spaces.
    if (i == CHKSUM_OFFSET - 4) x = (x & 0x00000000ffffffff) | 0x2020202000000000;
    else if (i == CHKSUM_OFFSET + 4) x = (x & 0xffffffff00000000) | 0x0000000020202020;
    lanes += (x & LOW_BYTES) + ((x >> 8) & LOW_BYTES);
    highBytes += <i32>popcnt(x & HIGH_BITS);
  }
  const unsignedSum = <i64>((lanes & 0xffff) + ((lanes >> 16) & 0xffff) + ((lanes >> 32) & 0xffff) + (lanes >> 48));
  const signedSum = unsignedSum - 256 * <i64>highBytes;
  return (<u64>unsignedSum << 32) | <u64>(<u32>(<i32>signedSum));
}

/** Verifies the checksum (signed or unsigned sum) and guesses the format from the magic. */
export function detectFormat(ptr: usize): i32 {
  const p = new FieldParser();
  const stored = p.octal(ptr + CHKSUM_OFFSET, CHKSUM_LEN);
  const sums = checksums(ptr);
  const unsignedSum = <i64>(sums >> 32);
  const signedSum = <i64>(<i32>sums);
  if (p.err || (stored != unsignedSum && stored != signedSum)) return FORMAT_UNKNOWN;
  const ustarMagic = bytesEqual(ptr + MAGIC_OFFSET, "ustar\0");
  if (ustarMagic && bytesEqual(ptr + STAR_TRAILER_OFFSET, "tar\0")) return FORMAT_STAR;
  if (ustarMagic) return FORMAT_USTAR | FORMAT_PAX;
  if (bytesEqual(ptr + MAGIC_OFFSET, "ustar ") && bytesEqual(ptr + VERSION_OFFSET, " \0")) return FORMAT_GNU;
  return FORMAT_V7;
}

/**
 * Decodes a header block whose format is already known to be valid into h. A malformed
 * numeric field sets parser.err (Go's ErrHeader).
 */
export function decodeHeader(ptr: usize, format: i32, p: FieldParser, h: TarHeader): void {
  h.format = format;
  h.typeflag = load<u8>(ptr + TYPEFLAG_OFFSET);
  h.name = p.string(ptr + NAME_OFFSET, NAME_LEN);
  h.linkname = p.string(ptr + LINKNAME_OFFSET, LINKNAME_LEN);
  h.size = p.numeric(ptr + SIZE_OFFSET, SIZE_LEN);
  h.mode = p.numeric(ptr + MODE_OFFSET, MODE_LEN);
  h.uid = p.numeric(ptr + UID_OFFSET, UID_LEN);
  h.gid = p.numeric(ptr + GID_OFFSET, GID_LEN);
  h.mtime = TarTime.unix(p.numeric(ptr + MTIME_OFFSET, MTIME_LEN), 0);
  if (format > FORMAT_V7) {
    h.devmajor = p.numeric(ptr + DEVMAJOR_OFFSET, DEVMAJOR_LEN);
    h.devminor = p.numeric(ptr + DEVMINOR_OFFSET, DEVMINOR_LEN);
    let prefix = "";
    if ((format & (FORMAT_USTAR | FORMAT_PAX)) != 0) {
      prefix = p.string(ptr + USTAR_PREFIX_OFFSET, USTAR_PREFIX_LEN);
    } else if ((format & FORMAT_STAR) != 0) {
      prefix = p.string(ptr + USTAR_PREFIX_OFFSET, STAR_PREFIX_LEN);
      h.atime = TarTime.unix(p.numeric(ptr + STAR_ATIME_OFFSET, STAR_TIME_LEN), 0);
      h.ctime = TarTime.unix(p.numeric(ptr + STAR_CTIME_OFFSET, STAR_TIME_LEN), 0);
    } else if ((format & FORMAT_GNU) != 0) {
      // GNU times are optional; a malformed one means the header came from an old
      // buggy writer, so Go drops the times and may read a USTAR prefix instead.
      const p2 = new FieldParser();
      if (load<u8>(ptr + GNU_ATIME_OFFSET) != 0) h.atime = TarTime.unix(p2.numeric(ptr + GNU_ATIME_OFFSET, GNU_TIME_LEN), 0);
      if (load<u8>(ptr + GNU_CTIME_OFFSET) != 0) h.ctime = TarTime.unix(p2.numeric(ptr + GNU_CTIME_OFFSET, GNU_TIME_LEN), 0);
      if (p2.err) {
        h.atime = ABSENT_TIME;
        h.ctime = ABSENT_TIME;
        const s = p.string(ptr + USTAR_PREFIX_OFFSET, USTAR_PREFIX_LEN);
        if (isAscii(s)) prefix = s;
      }
    }
    if (prefix.length > 0) h.name = prefix + "/" + h.name;
  }
}

function isAscii(s: string): bool {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** Types whose size field does not describe data that follows (Go isHeaderOnlyType). */
export function isHeaderOnlyType(t: u8): bool {
  return t == TYPE_LINK || t == TYPE_SYMLINK || t == TYPE_CHAR || t == TYPE_BLOCK || t == TYPE_DIR || t == TYPE_FIFO;
}

export function blockPadding(n: i64): i64 {
  return -n & (BLOCK_SIZE - 1);
}
