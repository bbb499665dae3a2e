// The block allocation map of a new file system as sorted, disjoint [start, end)
// runs, with the searches of e2fsprogs' alloc.c. An empty file system has a few runs
// per flex group, so a 16 TiB one needs kilobytes here, not the 512 MiB of a bitmap.

export class UsedBlocks {
  private starts: Array<i64> = new Array<i64>();
  private ends: Array<i64> = new Array<i64>();

  /** Blocks marked so far. */
  total: i64 = 0;

  /** Index of the first run that ends after `block` (runs.length if none). */
  private firstEndingAfter(block: i64): i32 {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (unchecked(this.ends[mid]) <= block) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  isUsed(block: i64): bool {
    const i = this.firstEndingAfter(block);
    return i < this.starts.length && unchecked(this.starts[i]) <= block;
  }

  /** Marks [start, start + count) used; the blocks must be free. */
  mark(start: i64, count: i64): void {
    const end = start + count;
    this.total += count;
    // Runs touching the new one (ending at or after start, starting at or before end) merge.
    const first = this.firstEndingAfter(start - 1);
    let last = first;
    while (last < this.starts.length && unchecked(this.starts[last]) <= end) last++;
    if (first == last) {
      insertAt(this.starts, first, start);
      insertAt(this.ends, first, end);
      return;
    }
    const mergedStart = min(unchecked(this.starts[first]), start);
    const mergedEnd = max(unchecked(this.ends[last - 1]), end);
    this.starts[first] = mergedStart;
    this.ends[first] = mergedEnd;
    if (last - first > 1) {
      this.starts.splice(first + 1, last - first - 1);
      this.ends.splice(first + 1, last - first - 1);
    }
  }

  /** The first b >= from with [b, b + count) free (may lie past the end of the disk). */
  firstFreeRun(from: i64, count: i64): i64 {
    let b = from;
    let i = this.firstEndingAfter(b);
    // Each run that overlaps [b, b + count) moves b to its end.
    while (i < this.starts.length && unchecked(this.starts[i]) < b + count) {
      b = unchecked(this.ends[i]);
      i++;
    }
    return b;
  }

  /** Used blocks in [start, end), marked bit by bit into the zeroed bitmap at ptr (bit 0 = start). */
  putBits(ptr: usize, start: i64, end: i64): u32 {
    let used: u32 = 0;
    for (let i = this.firstEndingAfter(start); i < this.starts.length; i++) {
      const runStart = max(unchecked(this.starts[i]), start);
      if (runStart >= end) break;
      const runEnd = min(unchecked(this.ends[i]), end);
      setBitRange(ptr, <u32>(runStart - start), <u32>(runEnd - start));
      used += <u32>(runEnd - runStart);
    }
    return used;
  }
}

function insertAt(list: Array<i64>, index: i32, value: i64): void {
  list.push(0);
  for (let i = list.length - 1; i > index; i--) unchecked(list[i] = list[i - 1]);
  list[index] = value;
}

/** Sets bits [from, to) of the bitmap at ptr, a byte at a time where it can. */
export function setBitRange(ptr: usize, from: u32, to: u32): void {
  let bit = from;
  while (bit < to && (bit & 7) != 0) {
    store<u8>(ptr + <usize>(bit >> 3), load<u8>(ptr + <usize>(bit >> 3)) | <u8>(<u32>1 << (bit & 7)));
    bit++;
  }
  if (to - bit >= 8) {
    const bytes = (to - bit) >> 3;
    memory.fill(ptr + <usize>(bit >> 3), 0xff, <usize>bytes);
    bit += bytes << 3;
  }
  while (bit < to) {
    store<u8>(ptr + <usize>(bit >> 3), load<u8>(ptr + <usize>(bit >> 3)) | <u8>(<u32>1 << (bit & 7)));
    bit++;
  }
}
