// PAX extended header records ("%d %s=%s\n"), parsed as Go archive/tar parsePAX does.
// Keys and values stay bytes (latin1 strings); nothing is decoded as UTF-8.

import { byteAt, parseDecimal, hasByte, latin1FromMemory } from "../bytes";
import { TarTime } from "./header";

export const PAX_PATH = "path";
export const PAX_LINKPATH = "linkpath";
export const PAX_SIZE = "size";
export const PAX_UID = "uid";
export const PAX_GID = "gid";
export const PAX_UNAME = "uname";
export const PAX_GNAME = "gname";
export const PAX_MTIME = "mtime";
export const PAX_ATIME = "atime";
export const PAX_CTIME = "ctime";
export const PAX_SCHILY_XATTR = "SCHILY.xattr.";
export const GNU_SPARSE_NUMBLOCKS = "GNU.sparse.numblocks";
export const GNU_SPARSE_OFFSET = "GNU.sparse.offset";
export const GNU_SPARSE_NUMBYTES = "GNU.sparse.numbytes";
export const GNU_SPARSE_MAP = "GNU.sparse.map";
export const GNU_SPARSE_NAME = "GNU.sparse.name";
export const GNU_SPARSE_MAJOR = "GNU.sparse.major";
export const GNU_SPARSE_MINOR = "GNU.sparse.minor";
export const GNU_SPARSE_SIZE = "GNU.sparse.size";
export const GNU_SPARSE_REALSIZE = "GNU.sparse.realsize";

/** Records in the order first seen (a repeated key keeps its first position, last value). */
export class PaxRecords {
  keys: Array<string> = [];
  values: Map<string, string> = new Map();

  set(key: string, value: string): void {
    if (!this.values.has(key)) this.keys.push(key);
    this.values.set(key, value);
  }

  get(key: string): string {
    return this.values.has(key) ? this.values.get(key) : "";
  }

  has(key: string): bool {
    return this.values.has(key);
  }
}

/** The records of every entry without a PAX header: shared, never written to. */
export const NO_PAX_RECORDS = new PaxRecords();

/** Parses a PAX payload; returns null on a malformed record (Go's ErrHeader). */
export function parsePax(ptr: usize, len: i32): PaxRecords | null {
  const records = new PaxRecords();
  const sparseMap: Array<string> = [];
  let pos = 0;
  while (pos < len) {
    // The length field ends at the first space.
    let space = pos;
    while (space < len && load<u8>(ptr + <usize>space) != 0x20) space++;
    if (space >= len) return null;
    const n = parseDecimal(latin1FromMemory(ptr + <usize>pos, space - pos));
    if (!n.ok || n.value < 5 || n.value > <i64>(len - pos)) return null;
    const recordEnd = pos + <i32>n.value;
    if (recordEnd - 1 <= space) return null;
    if (load<u8>(ptr + <usize>(recordEnd - 1)) != 0x0a) return null;
    let eq = space + 1;
    while (eq < recordEnd - 1 && load<u8>(ptr + <usize>eq) != 0x3d) eq++;
    if (eq >= recordEnd - 1) return null;
    const key = latin1FromMemory(ptr + <usize>(space + 1), eq - space - 1);
    const value = latin1FromMemory(ptr + <usize>(eq + 1), recordEnd - 1 - eq - 1);
    if (!validRecord(key, value)) return null;
    pos = recordEnd;
    if (key == GNU_SPARSE_OFFSET || key == GNU_SPARSE_NUMBYTES) {
      // Sparse format 0.0 repeats these keys; Go folds them into GNU.sparse.map.
      const expectOffset = sparseMap.length % 2 == 0;
      if ((expectOffset && key != GNU_SPARSE_OFFSET) || (!expectOffset && key != GNU_SPARSE_NUMBYTES)) return null;
      if (hasByte(value, 0x2c)) return null;
      sparseMap.push(value);
    } else {
      records.set(key, value);
    }
  }
  if (sparseMap.length > 0) records.set(GNU_SPARSE_MAP, sparseMap.join(","));
  return records;
}

function validRecord(key: string, value: string): bool {
  if (key.length == 0 || hasByte(key, 0x3d)) return false;
  if (key == PAX_PATH || key == PAX_LINKPATH || key == PAX_UNAME || key == PAX_GNAME) return !hasByte(value, 0);
  return !hasByte(key, 0);
}

/** Go parsePAXTime: "[-]secs[.frac]", at most 9 fraction digits count. Null on error. */
export function parsePaxTime(s: string): TarTime | null {
  let dot = -1;
  for (let i = 0; i < s.length; i++) if (byteAt(s, i) == 0x2e) { dot = i; break; }
  const secondsText = dot < 0 ? s : s.substring(0, dot);
  const secs = parseDecimal(secondsText);
  if (!secs.ok) return null;
  if (dot < 0 || dot == s.length - 1) return TarTime.unix(secs.value, 0);
  let nanos: i64 = 0;
  let digits = 0;
  for (let i = dot + 1; i < s.length; i++) {
    const c = byteAt(s, i);
    if (c < 0x30 || c > 0x39) return null;
    if (digits < 9) { nanos = nanos * 10 + <i64>(c - 0x30); digits++; }
  }
  while (digits < 9) { nanos *= 10; digits++; }
  if (secondsText.length > 0 && byteAt(secondsText, 0) == 0x2d) return TarTime.unix(secs.value, -nanos);
  return TarTime.unix(secs.value, nanos);
}
