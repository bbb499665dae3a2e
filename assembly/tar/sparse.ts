// GNU sparse files (old GNU 'S' headers, PAX formats 0.0, 0.1 and 1.0), as Go
// archive/tar reads them. A sparse map lists the data fragments; everything else in
// the file is a hole that reads as zeros.

import { byteAt, parseDecimal, ParsedInt, latin1FromMemory } from "../bytes";
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

const MAX_TOKEN: i32 = 64;

/**
 * Sparse 1.0 keeps its map at the start of the file data as newline-terminated
 * decimals, in whole 512-byte blocks. Fed one block at a time, as Go reads it, and
 * tokenised as the blocks arrive, so that a long map costs linear time and memory for
 * its entries only (Go buffers the text; the outcome is the same).
 */
export class Map1x0Reader {
  /** The token being read; only its first MAX_TOKEN bytes are kept. */
  private token: StaticArray<u8> = new StaticArray<u8>(MAX_TOKEN);
  private tokenLength: i32 = 0;
  private pendingOffset: i64 = 0;
  private tokens: i64 = 0; // complete tokens so far, the count included
  private entries: i64 = -1; // not yet known
  /** A malformed entry token: Go fails, but only after reading the whole map. */
  private malformed: bool = false;
  failed: bool = false;
  map: SparseMap = new SparseMap();

  /** Returns true when the map is complete (or failed). */
  feed(block: string): bool {
    for (let i = 0; i < block.length; i++) {
      const c = byteAt(block, i);
      if (c != 0x0a) {
        // An int64 has at most 20 characters: a longer token is invalid whatever follows.
        if (this.tokenLength < MAX_TOKEN) this.token[this.tokenLength] = <u8>c;
        this.tokenLength++;
        continue;
      }
      if (this.completeToken()) return true;
    }
    return false;
  }

  /** Takes the finished token; true when the map is done. */
  private completeToken(): bool {
    const parsed = this.tokenLength > MAX_TOKEN ? new ParsedInt() : parseDecimal(latin1FromMemory(changetype<usize>(this.token), this.tokenLength));
    this.tokenLength = 0;
    this.tokens++;
    if (this.entries < 0) {
      if (!parsed.ok || parsed.value < 0 || parsed.value > 0x3fffffffffffffff) {
        this.failed = true;
        return true;
      }
      this.entries = parsed.value;
    } else if (!parsed.ok) {
      this.malformed = true;
    } else if ((this.tokens & 1) == 0) {
      this.pendingOffset = parsed.value;
    } else if (!this.malformed) {
      this.map.push(this.pendingOffset, parsed.value);
    }
    if (this.tokens < 1 + 2 * this.entries) return false;
    if (this.malformed) this.failed = true;
    return true;
  }
}
