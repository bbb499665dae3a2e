// GNU sparse files (old GNU 'S' headers, PAX formats 0.0, 0.1 and 1.0), as Go
// archive/tar reads them. A sparse map lists the data fragments; everything else in
// the file is a hole that reads as zeros.

import { byteAt, parseDecimal } from "../bytes";
import { FieldParser, SPARSE_ENTRY_LEN } from "./header";
import { PaxRecords, GNU_SPARSE_MAP, GNU_SPARSE_NUMBLOCKS } from "./pax";

export class SparseMap {
  offsets: Array<i64> = [];
  lengths: Array<i64> = [];

  push(offset: i64, length: i64): void {
    this.offsets.push(offset);
    this.lengths.push(length);
  }

  get count(): i32 {
    return this.offsets.length;
  }

  /** Total bytes of data the archive stores for the file. */
  dataBytes(): i64 {
    let total: i64 = 0;
    for (let i = 0; i < this.lengths.length; i++) total += this.lengths[i];
    return total;
  }

  /** Go validateSparseEntries: non-negative, in order, no overlap, within size. */
  isValid(size: i64): bool {
    if (size < 0) return false;
    let previousEnd: i64 = 0;
    for (let i = 0; i < this.offsets.length; i++) {
      const offset = this.offsets[i];
      const length = this.lengths[i];
      if (offset < 0 || length < 0) return false;
      if (offset > i64.MAX_VALUE - length) return false;
      if (offset + length > size) return false;
      if (previousEnd > offset) return false;
      previousEnd = offset + length;
    }
    return true;
  }
}

/** Reads up to `entries` old-GNU sparse entries at ptr; stops at an entry whose offset starts with NUL. */
export function readOldGnuEntries(ptr: usize, entries: i32, map: SparseMap, p: FieldParser): void {
  for (let i = 0; i < entries; i++) {
    const entry = ptr + <usize>(i * SPARSE_ENTRY_LEN);
    if (load<u8>(entry) == 0) break;
    const offset = p.numeric(entry, 12);
    const length = p.numeric(entry + 12, 12);
    if (p.err) return;
    map.push(offset, length);
  }
}

/** Sparse 0.1 (and 0.0 folded by parsePax): "GNU.sparse.map" = "off,len,off,len,...". */
export function readPaxMap01(records: PaxRecords): SparseMap | null {
  const count = parseDecimal(records.get(GNU_SPARSE_NUMBLOCKS));
  if (!count.ok || count.value < 0 || count.value > 0x3fffffffffffffff) return null;
  const text = records.get(GNU_SPARSE_MAP);
  const parts: Array<string> = text.length == 0 ? [] : text.split(",");
  if (<i64>parts.length != 2 * count.value) return null;
  const map = new SparseMap();
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const offset = parseDecimal(parts[i]);
    const length = parseDecimal(parts[i + 1]);
    if (!offset.ok || !length.ok) return null;
    map.push(offset.value, length.value);
  }
  return map;
}

/**
 * Sparse 1.0 keeps its map at the start of the file data as newline-terminated
 * decimals, in whole 512-byte blocks. Fed one block at a time, as Go reads it.
 */
export class Map1x0Reader {
  private text: string = "";
  private newlines: i64 = 0;
  private entries: i64 = -1; // not yet known
  failed: bool = false;
  map: SparseMap = new SparseMap();

  /** Returns true when the map is complete. */
  feed(block: string): bool {
    this.text += block;
    for (let i = 0; i < block.length; i++) if (byteAt(block, i) == 0x0a) this.newlines++;
    if (this.entries < 0) {
      if (this.newlines < 1) return false;
      const count = parseDecimal(this.nextToken());
      if (!count.ok || count.value < 0 || count.value > 0x3fffffffffffffff) { this.failed = true; return true; }
      this.entries = count.value;
    }
    if (this.newlines < 2 * this.entries) return false;
    for (let i: i64 = 0; i < this.entries; i++) {
      const offset = parseDecimal(this.nextToken());
      const length = parseDecimal(this.nextToken());
      if (!offset.ok || !length.ok) { this.failed = true; return true; }
      this.map.push(offset.value, length.value);
    }
    return true;
  }

  private nextToken(): string {
    this.newlines--;
    const nl = this.text.indexOf("\n");
    const token = this.text.substring(0, nl);
    this.text = this.text.substring(nl + 1);
    return token;
  }
}
